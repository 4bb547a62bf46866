"""Telemetry data as it flows through the pipeline: OTLP protobuf messages (upb) behind a thin facade.

Nothing here converts spans or points into Python objects; counting walks only the resource and scope levels.
"""

from edgetel.pdata.batch import Batch, Metrics, Traces, merge, split

__all__ = ["Batch", "Metrics", "Traces", "merge", "split"]
