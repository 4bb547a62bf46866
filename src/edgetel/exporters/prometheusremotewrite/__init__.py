"""The Prometheus remote-write exporter (remote-write 1.0, OTLP -> Prometheus translation)."""
