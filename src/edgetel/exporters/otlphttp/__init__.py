"""The `otlphttp` exporter: OTLP over HTTP (protobuf or JSON)."""
