"""The `otlp` exporter: OTLP over gRPC."""
