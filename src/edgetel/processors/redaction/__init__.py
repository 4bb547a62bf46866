"""The redaction processor: nothing secret or personal leaves the host."""
