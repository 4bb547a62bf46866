"""What the gRPC and HTTP servers share: counters, the bearer-token check, pushing a batch, status bodies."""

from __future__ import annotations

import hmac
import logging
import math
from dataclasses import dataclass
from typing import Any

from edgetel.component.errors import ConsumeError, PermanentError, RetryableError
from edgetel.component.ids import Signal
from edgetel.component.protocols import Consumer
from edgetel.pdata import Batch
from edgetel.telemetry.components import ReceiverMetrics
from edgetel.telemetry.selfmetrics import Child, Registry

DEFAULT_RETRY_AFTER = 1.0

# google.rpc.Code values used here
INVALID_ARGUMENT = 3
NOT_FOUND = 5
RESOURCE_EXHAUSTED = 8
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
UNAUTHENTICATED = 16


class Telemetry:
    """The counters of one receiver on one transport ("grpc" / "http")."""

    def __init__(self, registry: Registry, receiver: str, transport: str) -> None:
        self.receiver = receiver
        self.transport = transport
        self.items = ReceiverMetrics(registry, receiver, transport)
        self._malformed_family = registry.counter(
            "edgetel_receiver_malformed_requests_total",
            "requests refused because they were malformed, too large or of an unsupported type, by reason",
            ("receiver", "transport", "reason"),
        )
        self._malformed: dict[str, Child] = {}
        self.auth_failures = registry.counter(
            "edgetel_receiver_auth_failures_total",
            "requests refused for a missing or wrong bearer token",
            ("receiver", "transport"),
        ).labels(receiver, transport)
        self.requests = registry.counter(
            "edgetel_receiver_requests_total", "export requests received", ("receiver", "transport")
        ).labels(receiver, transport)
        self.request_bytes = registry.counter(
            "edgetel_receiver_request_bytes_total",
            "bytes of export requests received (after decompression)",
            ("receiver", "transport"),
        ).labels(receiver, transport)
        self.refused_connections = registry.counter(
            "edgetel_receiver_refused_connections_total",
            "connections closed at once because max_connections were open",
            ("receiver", "transport"),
        ).labels(receiver, transport)

    def malformed(self, reason: str) -> None:
        child = self._malformed.get(reason)
        if child is None:
            child = self._malformed[reason] = self._malformed_family.labels(self.receiver, self.transport, reason)
        child.inc()


def check_bearer(header: str | bytes | None, expected: bytes) -> bool:
    """True when `header` is `Bearer <expected>` (constant-time compare of the token)."""
    if header is None:
        return False
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    scheme, _, token = header.strip().partition(" ")
    ok = hmac.compare_digest(token.strip().encode("utf-8", "surrogatepass"), expected)
    return ok and scheme.lower() == "bearer"


@dataclass
class Refusal:
    """Why the pipeline did not take a batch, in protocol-neutral terms."""

    code: int  # google.rpc.Code
    message: str
    retry_after: float | None = None  # set for retryable refusals


@dataclass
class Partial:
    """The pipeline kept all but `rejected` items: answered as success with `partial_success` set."""

    rejected: int
    message: str


async def push(consumer: Consumer, batch: Batch, tel: Telemetry, log: logging.Logger) -> Refusal | Partial | None:
    """Hand `batch` to the pipeline; count it as accepted or refused. None on success.

    A `PermanentError` with an int attribute `rejected` smaller than the batch's item count means the pipeline
    kept the other items: that is a partial success, not a refusal.
    """
    n = batch.item_count()
    try:
        await consumer.consume(batch)
    except RetryableError as e:
        tel.items.refused(batch.unit, n)
        after = e.retry_after if e.retry_after is not None and e.retry_after > 0 else DEFAULT_RETRY_AFTER
        return Refusal(UNAVAILABLE, f"the pipeline is busy, retry later: {e}", after)
    except PermanentError as e:
        rejected = getattr(e, "rejected", None)
        if isinstance(rejected, int) and 0 <= rejected < n:
            tel.items.refused(batch.unit, rejected)
            tel.items.accepted(batch.unit, n - rejected)
            return Partial(rejected, str(e))
        tel.items.refused(batch.unit, n)
        return Refusal(INVALID_ARGUMENT, f"the data was refused: {e}")
    except ConsumeError as e:
        tel.items.refused(batch.unit, n)
        return Refusal(INTERNAL, f"the pipeline failed: {e}")
    except Exception as e:
        tel.items.refused(batch.unit, n)
        log.error(
            "otlp receiver: the pipeline raised an unexpected error",
            exc_info=True,
            extra={"transport": tel.transport},
        )
        return Refusal(INTERNAL, f"internal error: {type(e).__name__}")
    tel.items.accepted(batch.unit, n)
    return None


def retry_after_seconds(delay: float) -> int:
    """A Retry-After header value: whole seconds, at least 1."""
    return max(1, math.ceil(delay))


def status_message(code: int, message: str, retry_after: float | None = None) -> object:
    """A `google.rpc.Status` (with a `google.rpc.RetryInfo` detail when `retry_after` is set)."""
    from google.protobuf.duration_pb2 import Duration  # type: ignore[import-untyped,unused-ignore]
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status(code=code, message=message)
    if retry_after is not None:
        secs = int(retry_after)
        info = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=secs, nanos=int((retry_after - secs) * 1e9)))
        status.details.add().Pack(info)
    return status


def export_response(signal: Signal, partial: Partial | None) -> Any:
    """The Export*ServiceResponse for `signal`, with `partial_success` when some items were rejected."""
    if signal == Signal.TRACES:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

        resp: Any = ts.ExportTraceServiceResponse()
        if partial is not None:
            resp.partial_success.rejected_spans = partial.rejected
            resp.partial_success.error_message = partial.message
        return resp
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms

    resp = ms.ExportMetricsServiceResponse()
    if partial is not None:
        resp.partial_success.rejected_data_points = partial.rejected
        resp.partial_success.error_message = partial.message
    return resp
