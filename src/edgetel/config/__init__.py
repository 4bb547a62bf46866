"""Configuration: YAML loading with line numbers, environment substitution, typed decoding, validation."""
