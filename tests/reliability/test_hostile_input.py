"""Case 6, hostile input, and "secure by default": a RUNNING agent (real sockets) gets fuzzed StatsD packets, fuzzed
OTLP protobuf and JSON bodies over HTTP and gRPC, gzip bombs, oversized and 10,000-deep nested messages, invalid
UTF-8 and slow-loris connections.

Promises checked: every hostile input gets its protocol's error answer (400 / 413 / 431 / INVALID_ARGUMENT /
RESOURCE_EXHAUSTED; StatsD counts and skips), the agent never crashes, its RSS after all of it is within a bound of
its RSS before, slow connections are closed by the agent's timeouts, and good requests afterwards still work.
Secure by default: loopback listeners, a warning for exposed listeners, 0660 Unix sockets, secrets nowhere.
The figures are printed (run with -s).
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import socket
import stat
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.agentproc import AgentProcess, free_port, wait_for
from tests.helpers import make_metrics, make_traces
from tests.reliability.conftest import MIB, rss_bytes

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METRICS = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
EXAMPLES = int(os.environ.get("EDGETEL_FUZZ_EXAMPLES", "150"))
RSS_GROWTH_BOUND = 30 * MIB
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)

CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}", max_recv_msg_size_mib: 4, max_concurrent_streams: 32}}
      http: {{endpoint: "127.0.0.1:{http}", max_request_body_size: 4MiB, idle_timeout: 2s, read_timeout: 2s,
              max_connections: 32}}
  statsd: {{endpoint: "127.0.0.1:{statsd}", tcp_endpoint: "127.0.0.1:{statsd_tcp}", tcp_idle_timeout: 2s,
            tcp_max_connections: 16, aggregation_interval: 1s, max_series: 2000}}
processors:
  memory_limiter: {{limit_mib: 400, check_interval: 100ms}}
  batch: {{timeout: 100ms}}
exporters:
  file: {{path: "{out}"}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [memory_limiter, batch], exporters: [file]}}
    metrics: {{receivers: [otlp, statsd], processors: [memory_limiter, batch], exporters: [file]}}
  admin: {{endpoint: "{{admin}}"}}
"""


@dataclass
class Target:
    agent: AgentProcess
    ports: dict[str, int]
    rss_before: int = 0
    tried: dict[str, float] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.agent.proc is not None
        return self.agent.proc.pid

    def count(self, what: str, n: int = 1) -> None:
        self.tried[what] = self.tried.get(what, 0) + n

    def alive(self) -> None:
        assert self.agent.proc is not None and self.agent.proc.poll() is None, self.agent.logs()[-3000:]


def post(port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/x-protobuf", **(headers or {})})
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def grpc_call(port: int, method: str, body: bytes, compression: grpc.Compression | None = None) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", -1)]) as ch:
        call = ch.unary_unary(method)
        try:
            call(body, timeout=20, compression=compression)
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            return e.code()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    d = tmp_path_factory.mktemp("hostile")
    ports = {
        "grpc": free_port(),
        "http": free_port(),
        "statsd": free_port(socket.SOCK_DGRAM),
        "statsd_tcp": free_port(),
    }
    with AgentProcess(CONFIG.format(out=d / "out.jsonl", **ports), workdir=d) as agent:
        t = Target(agent, ports)
        # Warm up every path once (imports, caches), then take the RSS baseline.
        post(ports["http"], "/v1/traces", make_traces().serialize())
        post(ports["http"], "/v1/traces", b"{}", {"Content-Type": "application/json"})
        grpc_call(ports["grpc"], TRACES, make_traces().serialize())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"warm.up:1|c", ("127.0.0.1", ports["statsd"]))
        time.sleep(1.5)
        t.rss_before = rss_bytes(t.pid)
        yield t
        print("\nhostile input figures:", json.dumps(t.tried))


# -- fuzzing ---------------------------------------------------------------------------------------------------
_names = st.text(st.characters(codec="utf-8"), max_size=30).map(lambda s: s.encode("utf-8", "surrogatepass"))
_line = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda name, value, typ, rate, tags: name + b":" + value + b"|" + typ + rate + tags,
        _names | st.sampled_from([b"a.b", b"", b"x" * 300]),
        st.sampled_from([b"1", b"-1", b"+2", b"1.5e3", b"nan", b"inf", b"", b"1:2:3", b"0x10", b"\xff"])
        | st.binary(max_size=8),
        st.sampled_from([b"c", b"g", b"ms", b"h", b"s", b"d", b"", b"q"]),
        st.sampled_from([b"", b"|@0.5", b"|@0", b"|@-1", b"|@x", b"|@1e-300"]),
        st.sampled_from([b"", b"|#a:b,c", b"|#", b"|#" + b"k:v," * 50, b"|c:abc", b"|T123"]) | st.binary(max_size=20),
    ),
    st.sampled_from([b"_e{5,4}:title|text", b"_e{999,1}:x|y", b"_sc|name|3", b"_sc|x|0|#a", b"_e{-1,-1}:|"]),
)
_packet = st.lists(_line, max_size=20).map(b"\n".join)


@FUZZ
@given(packet=_packet)
def test_fuzzed_statsd_packets_udp_and_tcp(target: Target, packet: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(packet[:65000], ("127.0.0.1", target.ports["statsd"]))
    with socket.create_connection(("127.0.0.1", target.ports["statsd_tcp"]), timeout=5) as c:
        c.sendall(packet + b"\n")
    target.count("statsd_packets", 2)


def _valid_request() -> bytes:
    return make_traces(resources=2, spans=3).serialize()


def _mutate(base: bytes, edits: list[tuple[int, int]]) -> bytes:
    b = bytearray(base)
    for pos, val in edits:
        if pos < len(b):
            b[pos] = val
        else:
            del b[len(b) // 2 :]
    return bytes(b)


_mutated = st.builds(
    _mutate,
    st.just(_valid_request()),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
)


@FUZZ
@given(body=st.one_of(st.binary(max_size=2000), _mutated), path=st.sampled_from(["/v1/traces", "/v1/metrics"]))
def test_fuzzed_otlp_protobuf_over_http_and_grpc(target: Target, body: bytes, path: str) -> None:
    status, text = post(target.ports["http"], path, body)
    assert status in (200, 400), (status, text)
    code = grpc_call(target.ports["grpc"], TRACES if path == "/v1/traces" else METRICS, body)
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), code
    target.count("otlp_protobuf_bodies", 2)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)
_otlp_keys = st.sampled_from(["resourceSpans", "resourceMetrics", "scopeSpans", "spans", "traceId", "spanId",
                              "attributes", "value", "kvlistValue", "arrayValue", "intValue", "name", "kind"])  # fmt: skip
_otlp_json = st.recursive(
    st.none() | st.integers() | st.text(max_size=40) | st.just("0102030405060708090a0b0c0d0e0f10"),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_otlp_keys, children, max_size=4),
    max_leaves=40,
)


@FUZZ
@given(doc=st.one_of(_json, _otlp_json), path=st.sampled_from(["/v1/traces", "/v1/metrics"]))
def test_fuzzed_otlp_json_over_http(target: Target, doc: object, path: str) -> None:
    status, text = post(target.ports["http"], path, json.dumps(doc).encode(), {"Content-Type": "application/json"})
    assert status in (200, 400), (status, text)
    target.count("otlp_json_bodies")


# -- bombs, giants, deep nesting, bad UTF-8 ---------------------------------------------------------------------
def _gzip_zeros(n: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    chunk = bytes(1 << 20)
    return b"".join(comp.compress(chunk) for _ in range(n >> 20)) + comp.flush()


def test_gzip_bombs_are_refused_without_inflating(target: Target) -> None:
    bomb = _gzip_zeros(512 * MIB)  # ~500 KiB on the wire
    rss0 = rss_bytes(target.pid)
    for path in ("/v1/traces", "/v1/metrics"):
        status, text = post(target.ports["http"], path, bomb, {"Content-Encoding": "gzip"})
        assert status == 413, (status, text)
    # A bomb that is valid protobuf once inflated: one span with a 64 MiB attribute.
    req = make_traces(spans=1).request
    req.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="a").value.string_value = "0" * (64 * MIB)
    raw = req.SerializeToString()
    status, _ = post(target.ports["http"], "/v1/traces", gzip.compress(raw, 1), {"Content-Encoding": "gzip"})
    assert status == 413
    code = grpc_call(target.ports["grpc"], TRACES, raw, grpc.Compression.Gzip)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, code
    assert rss_bytes(target.pid) - rss0 < RSS_GROWTH_BOUND
    target.count("gzip_bombs", 4)
    target.alive()


def test_oversized_messages_and_headers(target: Target) -> None:
    big = bytes(5 * MIB)
    assert post(target.ports["http"], "/v1/traces", big)[0] == 413
    assert grpc_call(target.ports["grpc"], TRACES, big) == grpc.StatusCode.RESOURCE_EXHAUSTED
    # A Content-Length far above the cap is answered at once, without waiting for the body.
    with socket.create_connection(("127.0.0.1", target.ports["http"]), timeout=5) as c:
        c.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                  b"Content-Length: 1000000000000\r\n\r\n")  # fmt: skip
        assert c.recv(100).startswith(b"HTTP/1.1 413")
    status, text = post(target.ports["http"], "/v1/traces", b"", {"X-Big": "a" * 20000})
    assert status in (400, 431), (status, text)  # h11 reports an oversized head as a 400
    admin = target.agent.admin_port
    with socket.create_connection(("127.0.0.1", admin), timeout=5) as c:
        c.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        assert c.recv(100).startswith(b"HTTP/1.1 431")
    target.count("oversized", 5)
    target.alive()


def _ld(field_no: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    n, size = len(payload), bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        size.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes([field_no << 3 | 2]) + bytes(size) + payload


def _nested_protobuf(depth: int, kind: str) -> bytes:
    value = _ld(1, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        if kind == "kvlist":  # AnyValue.kvlist_value(6) -> KeyValueList.values(1) -> KeyValue{key(1), value(2)}
            value = _ld(6, _ld(1, _ld(1, b"k") + _ld(2, value)))
        else:  # AnyValue.array_value(5) -> ArrayValue.values(1)
            value = _ld(5, _ld(1, value))
    span = _ld(1, bytes(16)) + _ld(2, bytes(8)) + _ld(5, b"op") + _ld(9, _ld(1, b"attr") + _ld(2, value))
    return _ld(1, _ld(2, _ld(2, span)))  # request.resource_spans -> scope_spans -> spans


def _nested_json(depth: int) -> bytes:
    head = '{"kvlistValue":{"values":[{"key":"k","value":' * depth
    tail = "}]}}" * depth
    value = head + '{"stringValue":"leaf"}' + tail
    span = f'{{"traceId":"{"01" * 16}","spanId":"{"01" * 8}","name":"op","attributes":[{{"key":"a","value":{value}}}]}}'
    return f'{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}'.encode()


def test_deeply_nested_messages_are_refused_not_crashing(target: Target) -> None:
    for kind in ("kvlist", "array"):
        body = _nested_protobuf(10_000, kind)
        status, text = post(target.ports["http"], "/v1/traces", body)
        assert status == 400, (status, text)
        assert grpc_call(target.ports["grpc"], TRACES, body) == grpc.StatusCode.INVALID_ARGUMENT
    for depth in (10_000, 900, 200):
        status, text = post(
            target.ports["http"], "/v1/traces", _nested_json(depth), {"Content-Type": "application/json"}
        )
        assert status in ((400,) if depth > 200 else (200, 400)), (depth, status, text)
    # Nesting within protobuf's limit is accepted.
    assert post(target.ports["http"], "/v1/traces", _nested_protobuf(20, "kvlist"))[0] == 200
    target.count("deeply_nested", 8)
    target.alive()


def test_invalid_utf8(target: Target) -> None:
    span = _ld(1, bytes(16)) + _ld(2, bytes(8)) + _ld(5, b"bad\xff\xfename")
    body = _ld(1, _ld(2, _ld(2, span)))
    assert post(target.ports["http"], "/v1/traces", body)[0] == 400
    assert grpc_call(target.ports["grpc"], TRACES, body) == grpc.StatusCode.INVALID_ARGUMENT
    bad_json = b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\xff\xfe"}]}]}]}'
    assert post(target.ports["http"], "/v1/traces", bad_json, {"Content-Type": "application/json"})[0] == 400
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"bad\xff.name:1|c\nok.name:1|c|#t:\xfe", ("127.0.0.1", target.ports["statsd"]))
    target.count("invalid_utf8", 4)
    target.alive()


# -- slow-loris -------------------------------------------------------------------------------------------------
def _trickle(port: int, n: int, payload: bytes, seconds: float) -> tuple[int, float]:
    """Open `n` connections that send `payload` one byte every 0.25 s; how many the agent closed, and when the
    last one was closed (seconds after opening)."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
    for c in conns:
        c.setblocking(False)
    start = time.monotonic()
    closed_at: dict[int, float] = {}
    i = 0
    while time.monotonic() - start < seconds and len(closed_at) < n:
        for k, c in enumerate(conns):
            if k in closed_at:
                continue
            try:
                if c.recv(4096) == b"":
                    closed_at[k] = time.monotonic() - start
                    continue
            except BlockingIOError:
                pass
            except OSError:
                closed_at[k] = time.monotonic() - start
                continue
            try:
                c.send(payload[i % len(payload) : i % len(payload) + 1])
            except OSError:
                closed_at[k] = time.monotonic() - start
        i += 1
        time.sleep(0.25)
    for c in conns:
        c.close()
    return len(closed_at), max(closed_at.values(), default=0.0)


def test_slow_loris_cannot_hold_the_listeners(target: Target) -> None:
    head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    # OTLP/HTTP: a header must be complete within idle_timeout (2 s here), however slowly it trickles.
    closed, last = _trickle(target.ports["http"], 20, head, 8)
    assert closed == 20 and last < 5, (closed, last)
    # StatsD TCP: beyond tcp_max_connections (16) connections are closed at once; idle ones after 2 s.
    conns = [socket.create_connection(("127.0.0.1", target.ports["statsd_tcp"]), timeout=5) for _ in range(24)]
    wait_for(lambda: target.agent.metric("edgetel_statsd_tcp_connections_refused_total", receiver="statsd") >= 8, 10)
    time.sleep(3.5)
    alive = 0
    for c in conns:
        c.settimeout(0.5)
        try:
            alive += c.recv(1) != b""
        except TimeoutError:
            alive += 1
        except OSError:
            pass
        c.close()
    assert alive == 0, alive
    # Admin: 40 trickling connections (under its 64-connection cap) are closed after its 10 s head timeout, and
    # /healthz keeps answering meanwhile.
    admin = target.agent.admin_port
    t0 = time.monotonic()
    conns = [socket.create_connection(("127.0.0.1", admin), timeout=5) for _ in range(40)]
    for c in conns:
        c.sendall(b"GET /metr")
    assert target.agent.get("/healthz")[0] == 200
    for c in conns:
        c.settimeout(max(0.1, 14 - (time.monotonic() - t0)))
        try:
            assert c.recv(1) == b""
        except ConnectionResetError:
            pass
        c.close()
    assert time.monotonic() - t0 < 14
    target.count("slow_loris_connections", 20 + 24 + 40)
    target.alive()


# -- afterwards: good requests work, memory did not grow ------------------------------------------------------------
def test_zz_good_requests_still_work_and_memory_did_not_grow(target: Target) -> None:
    agent, ports = target.agent, target.ports
    target.alive()
    assert agent.get("/healthz")[0] == 200
    before = agent.metric("edgetel_receiver_accepted_spans_total", receiver="otlp", transport="http")
    assert post(ports["http"], "/v1/traces", make_traces(spans=4).serialize())[0] == 200
    assert agent.metric("edgetel_receiver_accepted_spans_total", receiver="otlp", transport="http") == before + 4
    assert grpc_call(ports["grpc"], METRICS, make_metrics(points=3).serialize()) == grpc.StatusCode.OK
    parsed = agent.metric("edgetel_statsd_lines_parsed_total", receiver="statsd", transport="udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"after.ok:1|c", ("127.0.0.1", ports["statsd"]))
    wait_for(lambda: agent.metric("edgetel_statsd_lines_parsed_total", receiver="statsd", transport="udp") > parsed)
    errors = agent.metric("edgetel_receiver_refused_spans_total", receiver="otlp", transport="http")
    rss_after = rss_bytes(target.pid)
    target.tried.update({"rss_before_mib": round(target.rss_before / MIB, 1), "rss_after_mib": round(rss_after / MIB, 1),
                         "refused_spans_http": errors, "crashes": 0})  # fmt: skip
    assert rss_after - target.rss_before < RSS_GROWTH_BOUND, target.tried
    tracebacks = [ln for ln in agent.logs().splitlines() if "Traceback" in ln and "statsd flush failed" not in ln]
    assert not tracebacks, tracebacks


def test_statsd_extreme_sample_rate_keeps_flushing() -> None:
    import logging

    from edgetel.receivers.statsd.aggregator import Aggregator
    from edgetel.telemetry.selfmetrics import Registry

    agg = Aggregator(Registry(), "statsd", logging.getLogger("t"))
    agg.digest(b"t:1|ms|@1e-300\nh:1|h|@1e-300\nd:1|d|@1e-300", "udp")
    agg.flush(force=True)
    agg.digest(b"good:1|c", "udp")
    batch = agg.flush(force=True)
    assert batch is not None and batch.item_count() >= 1


def test_statsd_distinct_malformed_lines_do_not_grow_memory() -> None:
    import logging

    from edgetel.receivers.statsd.aggregator import Aggregator
    from edgetel.receivers.statsd.config import StatsdConfig
    from edgetel.telemetry.selfmetrics import Registry

    agg = Aggregator(Registry(), "statsd", logging.getLogger("t"))
    agg.configure(StatsdConfig(max_series=1000))
    before = rss_bytes(os.getpid())
    for i in range(150):  # 150,000 distinct lines: ~37 MiB of cache today
        agg.digest(b"\n".join(b"n%d.%d:1|q" % (i, j) for j in range(1000)), "udp")
        agg.digest(b"\n".join(b"v%d.%d:1|c" % (i, j) for j in range(1000)), "udp")
        if i % 50 == 0:
            agg.flush(force=True)
    assert rss_bytes(os.getpid()) - before < 10 * MIB


# -- in-process fuzzing with atheris (when it is installed) ----------------------------------------------------------
ATHERIS = """
import sys, logging, atheris
with atheris.instrument_imports():
    from edgetel.receivers.statsd.aggregator import Aggregator
    from edgetel.pdata import otlpjson
from edgetel.component.ids import Signal
from edgetel.telemetry.selfmetrics import Registry
agg = Aggregator(Registry(), "statsd", logging.getLogger("fuzz"))
def one(data):
    agg.digest(data, "udp")
    for sig in (Signal.TRACES, Signal.METRICS):
        try:
            otlpjson.decode(data, sig)
        except ValueError:
            pass
    if len(agg.series) > 5000:
        agg.flush(force=True)
atheris.Setup(sys.argv, one)
atheris.Fuzz()
"""


def test_atheris_statsd_parser_and_otlpjson(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is not installed (scripts/setup.sh installs it with the test extras)")
    runs = int(os.environ.get("EDGETEL_ATHERIS_RUNS", "200000"))
    seconds = int(os.environ.get("EDGETEL_ATHERIS_SECONDS", "20"))
    script = tmp_path / "fuzz.py"
    script.write_text(ATHERIS)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate([b"a.b:1|c|@0.5|#k:v", b"g:-1|g", b"t:1:2:3|ms", b'{"resourceSpans":[]}',
                              b"_e{1,1}:a|b", b'{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m"}]}]}]}']):  # fmt: skip
        (corpus / str(i)).write_bytes(seed)
    proc = subprocess.run(
        [sys.executable, str(script), f"-runs={runs}", "-max_len=4096", "-len_control=0", f"-max_total_time={seconds}",
         str(corpus)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    tail = proc.stderr[-2000:]
    done = [ln for ln in proc.stderr.splitlines() if "DONE" in ln or ln.startswith("Done")]
    print(f"\natheris (StatsD parser + otlpjson.decode, in-process): {' | '.join(done)}")
    assert proc.returncode == 0, tail
    assert "Done" in proc.stderr, tail


# -- secure by default ----------------------------------------------------------------------------------------------
TOKEN = "tok-SECRET-7f3a9c1e2b"
HMAC_KEY = "hmac-SECRET-d41d8cd98f00b204e9800998ecf8427e"

SECURE_CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "0.0.0.0:{grpc}", auth: {{bearer_token: "${{env:EDGETEL_TEST_TOKEN}}"}}}}
      http: {{endpoint: "0.0.0.0:{http}"}}
  otlp/unix:
    protocols:
      http: {{endpoint: "unix://{dir}/sock/otlp.sock"}}
  statsd:
    endpoint: "0.0.0.0:{statsd}"
    unix_socket: "{dir}/sock/statsd.sock"
  statsd/private:
    endpoint: ""
    unix_socket: "{dir}/sock/private.sock"
    socket_permissions: "0600"
processors:
  redaction:
    allow_all_keys: true
    blocked_values: ["secret-[0-9]+"]
    hash_function: hmac-sha256
    hmac_key: "${{env:EDGETEL_TEST_HMAC}}"
exporters:
  file: {{path: "{dir}/out.jsonl"}}
service:
  pipelines:
    traces: {{receivers: [otlp, otlp/unix], processors: [redaction], exporters: [file]}}
    metrics: {{receivers: [statsd, statsd/private], exporters: [file]}}
  admin: {{endpoint: "{{admin}}"}}
  logs: {{level: debug}}
"""


def test_default_configuration_listens_on_loopback_only() -> None:
    from edgetel.agent import load_config
    from edgetel.pipeline.exposure import exposures

    config = load_config(None)
    assert exposures(config) == []
    assert config.service.admin.endpoint.startswith("127.0.0.1:")


def test_exposure_rules() -> None:
    from edgetel.config.model import load_string
    from edgetel.pipeline.exposure import exposures

    def found(receivers: str, admin: str = "127.0.0.1:0") -> list[str]:
        text = f"receivers: {receivers}\nexporters: {{debug: {{}}}}\nservice:\n  admin: {{endpoint: '{admin}'}}\n"
        text += (
            "  pipelines: {metrics: {receivers: [" + receivers.split(":", 1)[0].strip("{ ") + "], exporters: [debug]}}"
        )
        return [str(e) for e in exposures(load_string(text, env={"T": "x"}))]

    assert found("{statsd: {endpoint: 'localhost:8125'}}") == []
    assert found("{statsd: {endpoint: '[::1]:8125', tcp_endpoint: ':8126'}}") == [
        "receivers::statsd tcp_endpoint on :8126 has no TLS or authentication"
    ]
    assert found("{otlp: {protocols: {http: {endpoint: '[::]:4318', auth: {bearer_token: '${T}'}}}}}") == [
        "receivers::otlp protocols.http on [::]:4318 has no TLS"
    ]
    assert found("{statsd: {endpoint: '127.0.0.2:1'}}", admin="0.0.0.0:13133") == [
        "service::admin on 0.0.0.0:13133 has no TLS or authentication"
    ]


def test_exposed_listeners_warn_unix_sockets_are_private_and_secrets_never_print(tmp_path: Path) -> None:
    ports = {"grpc": free_port(), "http": free_port(), "statsd": free_port(socket.SOCK_DGRAM)}
    env = {"EDGETEL_TEST_TOKEN": TOKEN, "EDGETEL_TEST_HMAC": HMAC_KEY}
    config = SECURE_CONFIG.format(dir=tmp_path, **ports)
    with AgentProcess(config, workdir=tmp_path, env=env) as agent:
        # Unix sockets: 0660 unless configured otherwise.
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "sock").iterdir()}
        assert modes == {"otlp.sock": 0o660, "statsd.sock": 0o660, "private.sock": 0o600}, modes
        # Requests with a wrong and a right token (only ever sent to 127.0.0.1).
        with grpc.insecure_channel(f"127.0.0.1:{ports['grpc']}") as ch:
            call = ch.unary_unary(TRACES)
            with pytest.raises(grpc.RpcError) as e:
                call(make_traces().serialize(), timeout=10, metadata=[("authorization", "Bearer wrong-" + TOKEN)])
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
            call(make_traces().serialize(), timeout=10, metadata=[("authorization", f"Bearer {TOKEN}")])
        assert post(ports["http"], "/v1/traces", make_traces().serialize())[0] == 200
        agent.send(__import__("signal").SIGHUP)  # a reload logs the configuration again
        time.sleep(1.5)
        outputs = {path: agent.get(path)[1] for path in ("/status.json", "/", "/metrics")}
        logs = agent.logs()
        printed = subprocess.run(
            [sys.executable, "-m", "edgetel", "print-config", "--config", str(agent.config_path)],
            capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
        )  # fmt: skip
        validated = subprocess.run(
            [sys.executable, "-m", "edgetel", "validate", "--config", str(agent.config_path)],
            capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
        )  # fmt: skip
        agent.stop()
        logs = agent.logs()
    assert printed.returncode == 0, printed.stderr
    outputs.update(logs=logs, print_config=printed.stdout + printed.stderr,
                   validate=validated.stdout + validated.stderr)  # fmt: skip
    outputs["exported"] = (tmp_path / "out.jsonl").read_text() if (tmp_path / "out.jsonl").exists() else ""
    for name, text in outputs.items():
        for secret in (TOKEN, HMAC_KEY, TOKEN[4:], HMAC_KEY[5:]):
            assert secret not in text, f"a secret is in {name}"
    assert "[REDACTED]" in printed.stdout
    # The start-time warning names every exposed listener and what it lacks.
    warning = [json.loads(ln) for ln in logs.splitlines() if "reachable beyond loopback" in ln]
    assert warning, logs[-3000:]
    listed = warning[0]["listeners"]
    assert f"receivers::otlp protocols.grpc on 0.0.0.0:{ports['grpc']} has no TLS;" in listed + ";"
    assert f"receivers::otlp protocols.http on 0.0.0.0:{ports['http']} has no TLS or authentication" in listed
    assert f"receivers::statsd endpoint on 0.0.0.0:{ports['statsd']} has no TLS or authentication" in listed
    assert "otlp/unix" not in listed and "private" not in listed
