"""See README.md: contract for defaults."""
