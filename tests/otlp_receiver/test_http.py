"""OTLP/HTTP: bad requests get their proper status (and are counted), the next good request still goes through."""

from __future__ import annotations

import asyncio
import gzip
import json
import struct
import tracemalloc
import zlib
from typing import Any

import aiohttp
import orjson
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from edgetel.component.errors import PermanentError, QueueFullError, RetryableError
from tests.helpers import make_traces
from tests.otlp_receiver.conftest import Harness, running

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
MALFORMED = "edgetel_receiver_malformed_requests_total"

# The example of the OTLP specification (file/HTTP JSON), written by hand: upper-case hex ids, strings for 64-bit.
SPEC_TRACES = b"""{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeSpans": [{
      "scope": {"name": "my.library", "version": "1.0.0",
                "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}]},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "EEE19B7EC3C1B173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": 1544712661000000000,
        "kind": 2,
        "attributes": [
          {"key": "my.span.attr", "value": {"stringValue": "some value"}},
          {"key": "n", "value": {"intValue": "-9007199254740993"}},
          {"key": "b", "value": {"bytesValue": "AAEC"}},
          {"key": "arr", "value": {"arrayValue": {"values": [{"boolValue": true}, {"doubleValue": 1.5}]}}}
        ],
        "events": [{"timeUnixNano": "1544712660500000000", "name": "ev"}],
        "links": [{"traceId": "00000000000000000000000000000001", "spanId": "0000000000000002"}],
        "status": {"code": 2, "message": "bad"},
        "someFutureField": {"ignored": true}
      }]
    }]
  }]
}"""

SPEC_METRICS = b"""{
  "resourceMetrics": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeMetrics": [{
      "scope": {"name": "my.library", "version": "1.0.0"},
      "metrics": [
        {"name": "my.counter", "unit": "1", "description": "I am a Counter",
         "sum": {"aggregationTemporality": 1, "isMonotonic": true,
                 "dataPoints": [{"asDouble": 5, "startTimeUnixNano": "1544712660300000000",
                                 "timeUnixNano": "1544712660300000000",
                                 "attributes": [{"key": "my.counter.attr", "value": {"stringValue": "v"}}],
                                 "exemplars": [{"asInt": "3", "timeUnixNano": "1544712660300000000",
                                                "traceId": "5b8efff798038103d269b633813fc60c",
                                                "spanId": "eee19b7ec3c1b174"}]}]}},
        {"name": "my.gauge", "gauge": {"dataPoints": [{"asDouble": 10, "timeUnixNano": "1544712660300000000"}]}},
        {"name": "my.histogram", "histogram": {"aggregationTemporality": 1, "dataPoints": [
          {"startTimeUnixNano": "1544712660300000000", "timeUnixNano": "1544712660300000000", "count": "2",
           "sum": 2, "bucketCounts": ["1", 1], "explicitBounds": [1], "min": 0, "max": 2}]}}
      ]
    }]
  }]
}"""


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, Any]:
    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=headers) as r:
        return r.status, await r.read(), r.headers


def status_of(body: bytes, json_body: bool = False) -> Any:
    if json_body:
        return orjson.loads(body)
    st = status_pb2.Status()
    st.ParseFromString(body)
    return st


async def good_request_works(rx: Harness) -> None:
    before = rx.traces.items()
    code, body, hdrs = await post(f"{rx.http_url}/v1/traces", make_traces(spans=2).serialize(), PB)
    assert code == 200 and body == b"" and hdrs["Content-Type"] == "application/x-protobuf"
    assert rx.traces.items() == before + 2


async def test_hand_written_json_per_spec(rx: Harness) -> None:
    code, body, hdrs = await post(f"{rx.http_url}/v1/traces", SPEC_TRACES, JS)
    assert code == 200, body
    assert hdrs["Content-Type"] == "application/json" and orjson.loads(body) == {}
    span = rx.traces.batches[0].request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.span_id.hex() == "eee19b7ec3c1b174" and span.parent_span_id.hex() == "eee19b7ec3c1b173"
    assert span.kind == 2 and span.end_time_unix_nano == 1544712661000000000
    assert span.attributes[1].value.int_value == -9007199254740993
    assert span.attributes[2].value.bytes_value == b"\x00\x01\x02"
    assert span.attributes[3].value.array_value.values[1].double_value == 1.5
    assert span.links[0].trace_id == bytes(15) + b"\x01" and span.links[0].span_id == bytes(7) + b"\x02"
    assert span.status.code == 2 and span.events[0].name == "ev"

    code, body, _ = await post(f"{rx.http_url}/v1/metrics", SPEC_METRICS, JS)
    assert code == 200, body
    req = rx.metrics.batches[0].request
    metrics = req.resource_metrics[0].scope_metrics[0].metrics
    assert metrics[0].sum.aggregation_temporality == 1 and metrics[0].sum.is_monotonic
    ex = metrics[0].sum.data_points[0].exemplars[0]
    assert ex.trace_id.hex() == "5b8efff798038103d269b633813fc60c" and ex.as_int == 3
    assert list(metrics[2].histogram.data_points[0].bucket_counts) == [1, 1]
    assert rx.metric("edgetel_receiver_accepted_metric_points_total", "otlp", "http") == 3


async def test_json_and_gzip_bodies(rx: Harness) -> None:
    for encoding, compress in (("gzip", gzip.compress), ("deflate", zlib.compress)):
        hdrs = {**JS, "Content-Encoding": encoding}
        code, body, _ = await post(f"{rx.http_url}/v1/traces", compress(SPEC_TRACES), hdrs)
        assert code == 200, body
    # two concatenated gzip members are one body
    two = gzip.compress(SPEC_TRACES[:100]) + gzip.compress(SPEC_TRACES[100:])
    code, body, _ = await post(f"{rx.http_url}/v1/traces", two, {**JS, "Content-Encoding": "gzip"})
    assert code == 200, body
    assert rx.traces.items() == 3


async def test_bad_json_is_400_with_status_naming_the_field(rx: Harness) -> None:
    bad = SPEC_TRACES.replace(b"EEE19B7EC3C1B174", b"EEE19B7EC3C1B17")
    code, body, hdrs = await post(f"{rx.http_url}/v1/traces", bad, JS)
    assert code == 400 and hdrs["Content-Type"] == "application/json"
    st = status_of(body, json_body=True)
    assert st["code"] == 3 and "spans[0].spanId" in st["message"]
    code, body, _ = await post(f"{rx.http_url}/v1/traces", b"{not json", JS)
    assert code == 400 and "invalid JSON" in status_of(body, True)["message"]
    assert rx.metric(MALFORMED, "otlp", "http", "json") == 2
    await good_request_works(rx)


async def test_garbage_protobuf_is_400(rx: Harness) -> None:
    code, body, hdrs = await post(f"{rx.http_url}/v1/traces", b"\xff\xff\xff\xff garbage", PB)
    assert code == 400 and hdrs["Content-Type"] == "application/x-protobuf"
    st = status_of(body)
    assert st.code == 3 and "protobuf" in st.message
    assert rx.metric(MALFORMED, "otlp", "http", "protobuf") == 1
    assert rx.traces.batches == []
    await good_request_works(rx)


async def test_wrong_content_type_encoding_method_path(rx: Harness) -> None:
    url = f"{rx.http_url}/v1/traces"
    code, _, _ = await post(url, b"x", {"Content-Type": "text/plain"})
    assert code == 415
    code, _, _ = await post(url, b"x", {**PB, "Content-Encoding": "br"})
    assert code == 415
    assert rx.metric(MALFORMED, "otlp", "http", "content_type") == 1
    assert rx.metric(MALFORMED, "otlp", "http", "encoding") == 1
    code, _, _ = await post(url, b"\x1f\x8b not gzip at all", {**PB, "Content-Encoding": "gzip"})
    assert code == 400
    code, _, _ = await post(url, gzip.compress(b"\x0a\x00" * 10)[:-9], {**PB, "Content-Encoding": "gzip"})
    assert code == 400  # truncated
    assert rx.metric(MALFORMED, "otlp", "http", "compression") == 2
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        assert r.status == 405 and r.headers["Allow"] == "POST"
    code, _, _ = await post(f"{rx.http_url}/v1/logs", b"", PB)
    assert code == 404  # no logs pipeline: the Collector answers 404 too
    code, _, _ = await post(f"{rx.http_url}/nope", b"", PB)
    assert code == 404
    await good_request_works(rx)


async def test_oversized_body_is_413() -> None:
    raw = {"protocols": {"http": {"endpoint": "127.0.0.1:0", "max_request_body_size": "64KiB"}}}
    async with running(raw) as rx:
        url = f"{rx.http_url}/v1/traces"
        big = make_traces(spans=2000).serialize()
        assert len(big) > 64 * 1024
        code, body, _ = await post(url, big, PB)
        assert code == 413 and status_of(body).code == 8
        # the same body gzip-compressed is small on the wire but too large once inflated
        packed = gzip.compress(big)
        assert len(packed) < 64 * 1024
        code, _, _ = await post(url, packed, {**PB, "Content-Encoding": "gzip"})
        assert code == 413

        async def chunks() -> Any:  # no Content-Length: the cap applies while reading
            for i in range(0, len(big), 8192):
                yield big[i : i + 8192]

        async with aiohttp.ClientSession() as s, s.post(url, data=chunks(), headers=PB) as r:
            assert r.status == 413
        assert rx.metric(MALFORMED, "otlp", "http", "too_large") == 3
        await good_request_works(rx)


def gzip_bomb(size_mib: int) -> bytes:
    """A valid gzip stream of `size_mib` MiB of zeros (~1 KiB per MiB), built without compressing it all."""
    block = bytes(1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    middle = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)  # after a full flush every block is alike
    final_block = comp.flush()[:-8]
    crc = 0
    for _ in range(size_mib):
        crc = zlib.crc32(block, crc)
    trailer = struct.pack("<II", crc, (size_mib << 20) & 0xFFFFFFFF)
    return first + middle * (size_mib - 1) + final_block + trailer


def test_gzip_bomb_is_valid_gzip() -> None:
    bomb = gzip_bomb(64)
    assert len(gzip.decompress(bomb)) == 64 << 20


async def test_gzip_bomb_does_not_take_memory(rx: Harness) -> None:
    bomb = await asyncio.to_thread(gzip_bomb, 1024)  # 1 GiB of zeros, ~1 MiB compressed
    assert len(bomb) < 2 << 20
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        code, body, _ = await post(f"{rx.http_url}/v1/traces", bomb, {**PB, "Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 413, body
    assert peak < 80 << 20, f"peak {peak >> 20} MiB"  # the cap is 20 MiB; the bomb inflates to 1 GiB
    assert rx.metric(MALFORMED, "otlp", "http", "too_large") == 1
    await good_request_works(rx)


async def test_backpressure_is_503_with_retry_after(rx: Harness) -> None:
    rx.traces.fail = QueueFullError("batch", retry_after=2.5)
    code, body, hdrs = await post(f"{rx.http_url}/v1/traces", make_traces(spans=4).serialize(), PB)
    assert code == 503 and hdrs["Retry-After"] == "3"
    st = status_of(body)
    assert st.code == 14
    info = error_details_pb2.RetryInfo()
    assert st.details[0].Unpack(info) and info.retry_delay.seconds == 2 and info.retry_delay.nanos == 500_000_000
    assert rx.metric("edgetel_receiver_refused_spans_total", "otlp", "http") == 4
    # JSON callers get a JSON status with the RetryInfo detail
    rx.traces.fail = RetryableError("backend down")
    code, body, hdrs = await post(f"{rx.http_url}/v1/traces", SPEC_TRACES, JS)
    assert code == 503 and hdrs["Retry-After"] == "1"
    st = json.loads(body)
    assert st["code"] == 14 and st["details"][0]["@type"].endswith("google.rpc.RetryInfo")
    rx.traces.fail = PermanentError("no")
    code, body, _ = await post(f"{rx.http_url}/v1/traces", SPEC_TRACES, JS)
    assert code == 400
    rx.traces.fail = None
    await good_request_works(rx)


class PartialRefusal(PermanentError):
    def __init__(self, message: str, rejected: int) -> None:
        super().__init__(message)
        self.rejected = rejected


async def test_partial_success_in_the_response(rx: Harness) -> None:
    rx.traces.fail = PartialRefusal("2 spans had no trace id", rejected=2)
    code, body, _ = await post(f"{rx.http_url}/v1/traces", make_traces(spans=5).serialize(), PB)
    assert code == 200
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(body)
    assert resp.partial_success.rejected_spans == 2 and "no trace id" in resp.partial_success.error_message
    code, body, _ = await post(
        f"{rx.http_url}/v1/traces", SPEC_TRACES.replace(b'"spans": [{', b'"spans": [{}, {}, {'), JS
    )
    assert code == 200 and orjson.loads(body) == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 spans had no trace id"}
    }
    rx.metrics.fail = PartialRefusal("stale", rejected=1)
    code, body, _ = await post(f"{rx.http_url}/v1/metrics", SPEC_METRICS, JS)
    mresp = orjson.loads(body)
    assert code == 200 and mresp["partialSuccess"]["rejectedDataPoints"] == "1"
    assert rx.metric("edgetel_receiver_refused_spans_total", "otlp", "http") == 4
    assert rx.metric("edgetel_receiver_accepted_spans_total", "otlp", "http") == 4


async def test_wrong_token_is_401_and_not_logged(caplog: Any, monkeypatch: Any) -> None:
    raw = {"protocols": {"http": {"endpoint": "127.0.0.1:0", "auth": {"bearer_token": "s3cret-tok"}}}}
    async with running(raw) as rx:
        url = f"{rx.http_url}/v1/traces"
        body = make_traces().serialize()
        for hdrs in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-tok"}):
            code, resp, h = await post(url, body, {**PB, **hdrs})
            assert code == 401 and h["WWW-Authenticate"] == "Bearer"
            assert status_of(resp).code == 16
        assert rx.metric("edgetel_receiver_auth_failures_total", "otlp", "http") == 3
        assert rx.traces.batches == []
        code, _, _ = await post(url, body, {**PB, "Authorization": "Bearer s3cret-tok"})
        assert code == 200 and rx.traces.items() == 3
    assert "s3cret-tok" not in caplog.text


async def test_large_json_is_decoded_off_the_event_loop(rx: Harness) -> None:
    """A multi-MB JSON body takes a while to decode; other requests are answered meanwhile."""
    from edgetel.pdata import otlpjson

    big = otlpjson.encode(make_traces(spans=12000))
    assert len(big) > 2 << 20
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    slow = asyncio.create_task(post(f"{rx.http_url}/v1/traces", big, JS))
    while rx.metric("edgetel_receiver_request_bytes_total", "otlp", "http") == 0:  # the body is read: decoding
        await asyncio.sleep(0.005)
    t1 = loop.time()
    code, _, _ = await post(f"{rx.http_url}/v1/traces", make_traces(spans=1).serialize(), PB)
    small_took = loop.time() - t1
    code_big, _, _ = await slow
    big_took = loop.time() - t0
    assert code == 200 and code_big == 200
    assert [b.item_count() for b in rx.traces.batches] == [1, 12000]  # the small one overtook the big one
    assert small_took < big_took / 2


async def test_malformed_http_is_counted_not_a_traceback(rx: Harness, caplog: Any) -> None:
    assert rx.receiver.http is not None
    bad = (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",  # TLS sent to a plain port
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n",  # header too long
        b"POST /v1/traces HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    )
    for payload in bad:
        r, w = await asyncio.open_connection("127.0.0.1", rx.receiver.http.port)
        w.write(payload)
        assert (await asyncio.wait_for(r.read(), 5)).startswith(b"HTTP/1.0 400")
        w.close()
    assert rx.metric(MALFORMED, "otlp", "http", "http") == 3
    assert "Traceback" not in caplog.text
    await good_request_works(rx)
