"""Pages of the documentation site generated from the code (configuration, CLI, API)."""
