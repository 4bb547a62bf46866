"""Test peers shared by the test suites (`from tests.support.otlp_server import ...`).

- `otlp_server.OTLPServer`: OTLP gRPC + HTTP backend recording every request, scripted replies.
- `jaeger_server.JaegerServer`: gRPC `jaeger.api_v2.CollectorService/PostSpans` recording batches.
- `certs.make_certs(dir)`: a throwaway CA, server (127.0.0.1/localhost) and client certificate.

Each server listens on 127.0.0.1 port 0 and runs either in the test's loop (`async with Server() as s`)
or in a background thread (`with Server() as s`); see server_base.py.
- `otlp_data`: requests using every OTLP field; `tcp_relay.TCPRelay`: counts bytes on the wire;
  `component_testing.build_exporter`: build an exporter from a config dict and read its metrics.
"""
