"""See README.md: contract for admission."""
