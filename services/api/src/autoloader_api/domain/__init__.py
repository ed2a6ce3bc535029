"""Pure API rules: input validation and ingestion lifecycle (no framework or I/O imports)."""
