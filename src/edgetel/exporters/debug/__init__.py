"""The debug exporter: a log line per batch."""
