"""The recipe: its schema, loading it from YAML with line numbers, error messages, the wizard."""
