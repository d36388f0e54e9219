#!/usr/bin/env bash
# Sets up everything px.airflow's deploy and test suite need on a fresh machine:
#   - Debian packages the tests need (PostgreSQL server), when run as root on Debian;
#   - a virtual environment at .venv/ with the pinned Python requirements and px-cluster;
#   - the Ansible collection dependencies (requirements.yml): from Galaxy where it is reachable,
#     otherwise out of the PyPI package `ansible`, which bundles them;
#   - an offline stand-in for ansible-test's pip bootstrap script.
# Safe to re-run: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
PY=${PYTHON:-python3}
ANSIBLE_BUNDLE_VERSION=12.3.0   # the `ansible` release whose kubernetes.core (6.x) we take offline
PIP_BOOTSTRAP_VERSION=24.2      # the pip version ansible-test 2.19 bootstraps its venvs with

say() { printf 'setup: %s\n' "$*"; }
quiet_pip() { grep -v -e '^WARNING: Location' -e 'BuildBackendWarning' || true; }

need_python() {
  "$PY" - <<'PYEOF' || { echo "setup: Python 3.11 or newer is needed (found $($PY --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PYEOF
}

debian_packages() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  "$PY" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  command -v git >/dev/null || missing+=(git)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install these packages (as root, or with your package manager): ${missing[*]}" >&2
    echo "setup: PostgreSQL's server binaries (initdb, pg_ctl) are used by the tests that run real Airflow." >&2
    exit 1
  fi
}

python_env() {
  local stamp=$VENV/.px-requirements.sha256
  local want
  want=$(cat requirements.txt tools/cluster/pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/px-cluster" ]; then
    say "virtual environment .venv is up to date"
    return
  fi
  [ -x "$VENV/bin/python" ] || { say "creating .venv"; "$PY" -m venv "$VENV"; }
  say "installing Python requirements into .venv (about a minute)"
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip 2>&1 | quiet_pip
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt 2>&1 | quiet_pip
  "$VENV/bin/pip" install -q --disable-pip-version-check -e tools/cluster 2>&1 | quiet_pip
  "$VENV/bin/python" -c 'import ansible, kubernetes, kubernetes_validate, airflow, px_cluster' \
    || { echo "setup: the Python requirements did not install; see the pip output above" >&2; exit 1; }
  echo "$want" > "$stamp"
}

collections() {
  local have=1 name
  for name in kubernetes/core ansible/posix; do
    [ -f "$ROOT/collections/ansible_collections/$name/MANIFEST.json" ] || have=0
  done
  if [ $have = 1 ]; then
    say "collections from requirements.yml are installed"
    return
  fi
  say "installing collections from requirements.yml (Galaxy)"
  if timeout 120 "$VENV/bin/ansible-galaxy" collection install -r requirements.yml -p collections >/tmp/px-galaxy.log 2>&1; then
    return
  fi
  say "Galaxy is not reachable; taking the collections from the PyPI package ansible==$ANSIBLE_BUNDLE_VERSION"
  local tmp
  tmp=$(mktemp -d)
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps "ansible==$ANSIBLE_BUNDLE_VERSION" -d "$tmp" 2>&1 | quiet_pip
  "$VENV/bin/python" - "$tmp"/ansible-*.whl "$ROOT/collections" <<'PYEOF'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as zf:
    for name in ("kubernetes/core", "ansible/posix"):
        prefix = "ansible_collections/%s/" % name
        members = [n for n in zf.namelist() if n.startswith(prefix)]
        if not members:
            sys.exit("setup: %s is not in %s" % (name.replace("/", "."), wheel))
        zf.extractall(dest, members=members)
PYEOF
  rm -rf "$tmp"
}

ansible_test_bootstrap() {
  # ansible-test downloads a pip bootstrap script from a host we cannot reach; it uses a cached
  # copy when one exists. Ours installs pip from the pip wheel (fetched from PyPI) instead.
  local cache=$HOME/.ansible/test/cache
  local script=$cache/get_pip_${PIP_BOOTSTRAP_VERSION//./_}.py
  local wheel=$cache/pip-$PIP_BOOTSTRAP_VERSION-py3-none-any.whl
  mkdir -p "$cache"
  [ -f "$wheel" ] || "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps "pip==$PIP_BOOTSTRAP_VERSION" -d "$cache" 2>&1 | quiet_pip
  [ -f "$wheel" ] || { echo "setup: could not download pip $PIP_BOOTSTRAP_VERSION from PyPI" >&2; exit 1; }
  cat > "$script" <<PYEOF
"""Offline stand-in for ansible-test's get-pip bootstrap: pip install from the pip wheel."""
import sys
sys.path.insert(0, "$wheel")
from pip._internal.cli.main import main
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install"] + args))
PYEOF
}

need_python
debian_packages
python_env
collections
ansible_test_bootstrap
say "done: activate with 'source .venv/bin/activate', or use 'make test' / 'make deploy'"
