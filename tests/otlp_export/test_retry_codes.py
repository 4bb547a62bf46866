"""The retry rules and the parsers of retry hints and endpoints."""

from __future__ import annotations

import email.utils

from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from hypothesis import given
from hypothesis import strategies as st

from edgetel.helpers.grpc_settings import parse_grpc_endpoint
from edgetel.helpers.retry_codes import grpc_retryable, parse_retry_after, retry_info_delay


def test_grpc_retryable_codes() -> None:
    retryable = {c for c in range(17) if grpc_retryable(c, has_retry_info=False)}
    assert retryable == {1, 4, 10, 11, 14, 15}  # CANCELLED DEADLINE_EXCEEDED ABORTED OUT_OF_RANGE UNAVAILABLE DATA_LOSS
    assert not grpc_retryable(8, has_retry_info=False) and grpc_retryable(8, has_retry_info=True)
    assert not grpc_retryable(3, has_retry_info=True)  # INVALID_ARGUMENT never, RetryInfo or not


def test_retry_info_delay() -> None:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2, nanos=500_000_000)))
    status = status_pb2.Status(code=14, message="m", details=[detail])
    assert retry_info_delay(status.SerializeToString()) == 2.5
    assert retry_info_delay(status_pb2.Status(code=14).SerializeToString()) is None
    assert retry_info_delay(b"\xff\xff garbage") is None
    assert retry_info_delay(None) is None


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after("") is None and parse_retry_after("-5") is None


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises(text: str) -> None:
    value = parse_retry_after(text)
    assert value is None or value >= 0


@given(st.text(max_size=60))
def test_parse_grpc_endpoint_raises_only_value_error(text: str) -> None:
    try:
        target, _ = parse_grpc_endpoint(text, 4317)
    except ValueError:
        return
    assert target.startswith("unix:") or target.rsplit(":", 1)[1].isdigit()


def test_parse_grpc_endpoint() -> None:
    assert parse_grpc_endpoint("collector", 4317) == ("collector:4317", False)
    assert parse_grpc_endpoint("https://collector:443/", 4317) == ("collector:443", True)
    assert parse_grpc_endpoint("[::1]:4317", 4317) == ("[::1]:4317", False)
    assert parse_grpc_endpoint("unix:///run/otlp.sock", 4317) == ("unix:///run/otlp.sock", False)
