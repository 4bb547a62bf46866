"""edgetel's own telemetry: logging and self-metrics."""
