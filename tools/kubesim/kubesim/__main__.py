"""`python -m kubesim serve ...` (same as the `kubesim` console script)."""

import sys

from .cli import main

sys.exit(main())
