"""See README.md: contract for validation."""
