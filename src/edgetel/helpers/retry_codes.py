"""Which export failures are retried, as the OTLP specification says, and the server's retry hints.

gRPC: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are retried;
RESOURCE_EXHAUSTED only when the server attached a `google.rpc.RetryInfo`; `RetryInfo.retry_delay` is honoured.
HTTP: only 429, 502, 503 and 504 are retried; `Retry-After` (seconds or an HTTP date) is honoured.
"""

from __future__ import annotations

import email.utils
import time

# gRPC status code numbers (grpc.StatusCode values), so this module needs no grpc import.
RETRYABLE_GRPC_CODES = frozenset({1, 4, 10, 11, 14, 15})  # CANCELLED .. DATA_LOSS
RESOURCE_EXHAUSTED = 8
RETRYABLE_HTTP_STATUSES = frozenset({429, 502, 503, 504})

_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
STATUS_DETAILS_KEY = "grpc-status-details-bin"


def grpc_retryable(code: int, has_retry_info: bool) -> bool:
    return code in RETRYABLE_GRPC_CODES or (code == RESOURCE_EXHAUSTED and has_retry_info)


def retry_info_delay(status_details: bytes | None) -> float | None:
    """The `RetryInfo.retry_delay` (seconds) in a serialized `google.rpc.Status`, or None when absent."""
    if not status_details:
        return None
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status()
    try:
        status.ParseFromString(status_details)
    except Exception:
        return None
    for detail in status.details:
        if detail.type_url == _RETRY_INFO_TYPE:
            info = error_details_pb2.RetryInfo()
            try:
                info.ParseFromString(detail.value)
            except Exception:
                return None
            delay = info.retry_delay
            return max(0.0, float(delay.seconds) + float(delay.nanos) / 1e9)
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
