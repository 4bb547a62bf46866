"""The `jaeger` exporter: Jaeger's native gRPC collector API (api_v2 PostSpans)."""
