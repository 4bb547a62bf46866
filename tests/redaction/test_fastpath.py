"""The compiled walk (fastpath.py, edgetel._native.redact) against the Python walker: the same output, parsed, and
the same counts per rule, for traces and metrics, on the corpora and on generated batches, for several configs."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgetel.component.errors import PermanentError
from edgetel.pdata import Batch, Metrics, Traces
from edgetel.processors.redaction import fastpath

from .helpers import DEFAULT_RULES, load, make, metrics_with, put, run, traces_with

pytestmark = pytest.mark.skipif(fastpath.native_module() is None, reason="edgetel._native.redact not built")

SECRETS = load("secrets.jsonl")
BENIGN = load("benign.jsonl")

CONFIGS: dict[str, dict[str, Any]] = {
    "default": DEFAULT_RULES,
    "allow_all": {"allow_all_keys": True},
    "empty_allow_list": {},
    "allowed_keys": {"allowed_keys": ["note", "url.full", "db.statement", "password", "content", "service.name"]},
    "keys": {
        **DEFAULT_RULES,
        "ignored_keys": ["note"],
        "ignored_key_patterns": ["^raw"],
        "blocked_key_patterns": ["^tags$", "secret"],
        "keep_gen_ai_content": True,
        "mask_format": "****",
    },
    "hashed_ip": {
        **DEFAULT_RULES,
        "hash_function": "sha1",
        "detectors": {"ipv4": True, "ipv6": True, "us_ssn": False},
        "url_sanitizer": {"enabled": True, "allowed_query_params": ["page"]},
    },
    "sql_only": {"allow_all_keys": True, "db_sanitizer": {"sql": {"enabled": True}}, "cache_size": 0},
    "hmac_no_detectors": {
        **DEFAULT_RULES,
        "hash_function": "hmac-sha256",
        "hmac_key": "k" * 32,
        "detectors": {n: False for n in ("email", "payment_card", "jwt", "bearer_token", "sensitive_keys")},
        "url_sanitizer": {"enabled": True, "sanitize_span_name": False},
        "db_sanitizer": {"sql": {"enabled": True}, "redis": {"enabled": True}, "sanitize_span_name": False},
    },
    "mongo_only": {"allow_all_keys": True, "redact_all_types": True, "db_sanitizer": {"mongo": {"enabled": True}}},
}


def python_walk(rules: dict[str, Any], data: bytes, signal: str) -> tuple[Any, dict[str, int]]:
    proc, _, _ = make(rules)
    counts: dict[str, int] = {}
    if signal == "traces":
        req = Traces.parse(data).request
        proc.traces(req, counts)
    else:
        req = Metrics.parse(data).request
        proc.metrics_request(req, counts)
    return req, counts


def fast_walk(rules: dict[str, Any], data: bytes, signal: str) -> tuple[Batch, dict[str, int] | None]:
    proc, _, _ = make(rules)
    assert proc.fast is not None
    batch: Batch = Traces.parse(data) if signal == "traces" else Metrics.parse(data)
    return batch, proc.fast.run(batch)


def same(rules: dict[str, Any], data: bytes, signal: str) -> Batch:
    """The compiled walk handles `data` and gives the Python walker's output and counts."""
    expected, expected_counts = python_walk(rules, data, signal)
    batch, counts = fast_walk(rules, data, signal)
    assert counts is not None, "the compiled walk declined a valid batch"
    assert counts == expected_counts
    assert batch.peek() == expected
    return batch


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("signal", ["traces", "metrics"])
def test_the_corpora_give_the_python_results(config: str, signal: str) -> None:
    build = traces_with if signal == "traces" else metrics_with
    for entries in (SECRETS, BENIGN, SECRETS[:5] + BENIGN[:5]):
        same(CONFIGS[config], build(entries).serialize(), signal)


@pytest.mark.parametrize("signal", ["traces", "metrics"])
def test_no_secret_survives_in_the_raw_output_bytes(signal: str) -> None:
    build = traces_with if signal == "traces" else metrics_with
    data = build(SECRETS).serialize()
    proc, sink, _ = make()
    batch = Traces.parse(data) if signal == "traces" else Metrics.parse(data)
    run(proc, batch)
    out = sink.batches[0].received_bytes()
    assert out is not None and out != data  # the compiled walk produced these bytes
    assert [s for e in SECRETS for s in e["secrets"] if s.encode() in out] == []


def test_unchanged_batches_are_passed_on_without_a_copy() -> None:
    data = traces_with(BENIGN).serialize()
    proc, sink, _ = make()
    run(proc, Traces.parse(data))
    assert sink.batches[0].received_bytes() is data


def test_configs_the_walk_does_not_cover_use_the_python_walker() -> None:
    for rules in ({"summary": "info"}, {"allowed_values": ["x"]}, {"blocked_values": ["y"]}):
        proc, _, _ = make({**DEFAULT_RULES, **rules})
        assert proc.fast is None
    assert make()[0].fast is not None


def test_a_failing_compiled_walk_falls_back_and_a_failing_python_walk_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    proc, sink, registry = make({"allow_all_keys": True})
    assert proc.fast is not None

    class Broken:
        def traces(self, data: bytes, counts: dict[str, int]) -> bytes:
            raise RuntimeError("bug")

    monkeypatch.setattr(proc.fast, "walker", Broken())
    t = Traces()
    put(t.request.resource_spans.add().scope_spans.add().spans.add(name="op").attributes, "a", "mail a@b.io")
    batch = Traces.parse(t.serialize())
    run(proc, batch)  # the Python walker redacted it
    assert b"a@b.io" not in sink.batches[0].serialize()

    def boom(*_: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(proc, "attrs", boom)
    with pytest.raises(PermanentError):
        run(proc, Traces.parse(t.serialize()))
    assert len(sink.batches) == 1
    assert registry.value("edgetel_processor_dropped_spans_total", "redaction", "redaction_failed") == 1


# ---- generated batches -------------------------------------------------------------------------------------------

SAMPLES = [e["value"] for e in SECRETS + BENIGN]
KEYS = st.sampled_from(
    ["note", "url.full", "http.url", "url.query", "url.path", "db.statement", "db.query.text", "password",
     "gen_ai.prompt", "content", "message", "exception.message", "service.name", "tags", "raw", "secret.x", ""]
) | st.text(max_size=10)  # fmt: skip
TEXT = (
    st.sampled_from(SAMPLES)
    | st.text(alphabet="aAbB019 @.:/?=&-_'\"$#()eyJ;\n\u00e9\u00a0", max_size=60)
    | st.text(max_size=30)
    | st.sampled_from(["SELECT 1", " (select * from t where a = 'x'", "SET x 1", "GET k", '{"a": 1}', "db.x.find()"])
)
SCALARS: st.SearchStrategy[Any] = (
    TEXT
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from([4111111111111111, -4111111111111111, 10**12, 10**12 - 1])
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.binary(max_size=30)
    | st.sampled_from([b"a@b.io", b"\xff\xfe"])
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=8
)
ATTRS = st.lists(st.tuples(KEYS, VALUES), max_size=6)


@st.composite
def trace_batches(draw: st.DrawFn) -> bytes:
    t = Traces()
    for _ in range(draw(st.integers(1, 2))):
        rs = t.request.resource_spans.add()
        for k, v in draw(ATTRS):
            put(rs.resource.attributes, k, v)
        ss = rs.scope_spans.add()
        ss.scope.name = draw(st.text(max_size=5))
        for k, v in draw(ATTRS):
            put(ss.scope.attributes, k, v)
        for _ in range(draw(st.integers(0, 3))):
            sp = ss.spans.add(name=draw(TEXT))
            for k, v in draw(ATTRS):
                put(sp.attributes, k, v)
            for _ in range(draw(st.integers(0, 2))):
                ev = sp.events.add(name=draw(st.sampled_from(["gen_ai.user.message", "exception", ""]) | TEXT))
                for k, v in draw(ATTRS):
                    put(ev.attributes, k, v)
            if draw(st.booleans()):
                for k, v in draw(ATTRS):
                    put(sp.links.add().attributes, k, v)
            sp.status.message = draw(TEXT)
    return t.serialize()


@st.composite
def metric_batches(draw: st.DrawFn) -> bytes:
    m = Metrics()
    rm = m.request.resource_metrics.add()
    for k, v in draw(ATTRS):
        put(rm.resource.attributes, k, v)
    sm = rm.scope_metrics.add()
    for k, v in draw(ATTRS):
        put(sm.scope.attributes, k, v)
    for i in range(draw(st.integers(0, 4))):
        metric = sm.metrics.add(name=draw(TEXT))
        kind = draw(st.sampled_from(["gauge", "sum", "histogram", "exponential_histogram", "summary", None]))
        if kind is None:
            continue
        for _ in range(draw(st.integers(1, 2))):
            dp = getattr(metric, kind).data_points.add()
            for k, v in draw(ATTRS):
                put(dp.attributes, k, v)
            if kind != "summary" and draw(st.booleans()):
                for k, v in draw(ATTRS):
                    put(dp.exemplars.add().filtered_attributes, k, v)
        metric.description = "d" * i
    return m.serialize()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=st.sampled_from(sorted(CONFIGS)), data=trace_batches())
def test_generated_traces_give_the_python_results(config: str, data: bytes) -> None:
    same(CONFIGS[config], data, "traces")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=st.sampled_from(sorted(CONFIGS)), data=metric_batches())
def test_generated_metrics_give_the_python_results(config: str, data: bytes) -> None:
    same(CONFIGS[config], data, "metrics")


# ---- hostile bytes -----------------------------------------------------------------------------------------------


def _mutations(data: bytes, rnd: random.Random) -> list[bytes]:
    out = [data[:n] for n in sorted(rnd.sample(range(len(data)), min(30, len(data))))]
    for _ in range(60):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("signal", ["traces", "metrics"])
def test_malformed_bytes_never_crash_and_valid_ones_agree(signal: str) -> None:
    """Truncated and corrupted batches: the walk declines (None) or, when protobuf decodes the bytes, agrees with
    the Python walker."""
    build = traces_with if signal == "traces" else metrics_with
    rnd = random.Random(7)
    proc, _, _ = make()
    assert proc.fast is not None
    kind = Traces if signal == "traces" else Metrics
    for data in _mutations(build(SECRETS[:6] + BENIGN[:6]).serialize(), rnd):
        if proc.fast.run(kind(raw=data)) is None:
            continue
        try:
            kind.parse(data)
        except Exception:
            continue  # a field the walk passes on unread: protobuf refuses what upstream would have refused
        same(DEFAULT_RULES, data, signal)


def test_a_key_repeated_or_an_anyvalue_with_two_values_is_declined() -> None:
    proc, _, _ = make()
    assert proc.fast is not None
    kv = b"\x0a\x01k\x12\x03\x0a\x01v"
    two_keys = b"\x0a\x01k" + kv
    two_values = b"\x0a\x01k\x12\x06\x0a\x01v\x18\x01"
    for body in (two_keys, two_values):
        span = b"\x4a" + bytes([len(body)]) + body
        ss = b"\x12" + bytes([len(span)]) + span
        rs = b"\x12" + bytes([len(ss)]) + ss
        assert proc.fast.walker.traces(b"\x0a" + bytes([len(rs)]) + rs, {}) is None


def test_the_key_table_is_bounded_and_forgetting_changes_nothing() -> None:
    from edgetel._native import redact  # the module is built (see pytestmark)

    t = Traces()
    sp = t.request.resource_spans.add().scope_spans.add().spans.add(name="GET /a/{id}")
    for i in range(redact.MAX_KEYS + 500):
        put(sp.attributes, f"k{i}", "mail a@b.io" if i % 1000 == 0 else "v")
    data = t.serialize()
    proc, _, _ = make({"allow_all_keys": True})
    assert proc.fast is not None
    first = same({"allow_all_keys": True}, data, "traces").serialize()
    out = proc.fast.walker.traces(data, {})
    assert 0 < proc.fast.walker.keys <= redact.MAX_KEYS
    proc.fast.walker.clear_keys()
    assert proc.fast.walker.keys == 0
    assert proc.fast.walker.traces(data, {}) == out == first


def test_batches_of_objects_are_changed_in_place() -> None:
    proc, _, registry = make()
    m = Metrics()
    dp = m.request.resource_metrics.add().scope_metrics.add().metrics.add(name="m").sum.data_points.add(as_int=1)
    put(dp.attributes, "env", "prod")
    req = m.request
    assert proc.fast is not None and proc.fast.run(m) == {}  # checked in C: nothing to change
    assert m.received_bytes() is None and m.request is req
    put(dp.attributes, "user", "a@b.io")
    run(proc, m)  # a change: the Python walker makes it, in the same objects
    assert dp.attributes[1].value.string_value == "[redacted:email]"
    assert registry.value("edgetel_redaction_redacted_total", "redaction", "email", "metrics") == 1
    t = Traces()
    t.request.resource_spans.add()
    assert proc.fast.run(t) is None  # traces made as objects: the Python walker


def _field(num: int, body: bytes) -> bytes:
    """A length-delimited field (lengths < 128 here)."""
    assert len(body) < 128
    return bytes([num << 3 | 2, len(body)]) + body


def _kv(key: str, value: str) -> bytes:
    return _field(1, key.encode()) + _field(2, _field(1, value.encode()))


def _traces_of_span(span: bytes) -> bytes:
    return _field(1, _field(2, _field(2, span)))


def test_fields_out_of_order_and_unknown_fields() -> None:
    """An event's name after its attributes still decides about gen_ai content; unknown fields are kept."""
    unknown = b"\xf8\x06\x07"  # field 111, varint 7
    event = _field(3, _kv("content", "my prompt") + unknown) + _field(3, _kv("n", "a@b.io")) + _field(2, b"gen_ai.x")
    span = _field(11, event) + unknown + _field(9, _kv("url.full", "https://h/p?q=1") + unknown) + _field(5, b"op")
    data = _traces_of_span(span)
    batch = same(DEFAULT_RULES, data, "traces")
    out = batch.serialize()
    assert b"my prompt" not in out and b"a@b.io" not in out and out.count(unknown) == 2


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300) | trace_batches().map(lambda b: b[: len(b) * 2 // 3]), signal=st.sampled_from(["traces", "metrics"]))
def test_arbitrary_bytes_are_declined_or_agree(data: bytes, signal: str) -> None:
    kind = Traces if signal == "traces" else Metrics
    proc, _, _ = make()
    assert proc.fast is not None
    if proc.fast.run(kind(raw=data)) is None:
        return
    try:
        kind.parse(data)
    except Exception:
        return  # a string the walk passes on unread (in a field it does not know) that protobuf refuses
    same(DEFAULT_RULES, data, signal)


def test_deeply_nested_values_stop_where_the_python_walker_stops() -> None:
    t = Traces()
    sp = t.request.resource_spans.add().scope_spans.add().spans.add(name="op")
    for depth in (14, 15, 16, 17, 20):
        deep_list: Any = "mail a@b.io"
        deep_map: Any = {"password": "hunter2", "note": "mail a@b.io", "gen_ai.prompt": "hi"}
        for _ in range(depth):
            deep_list, deep_map = [deep_list, 4111111111111111], {"k": deep_map, "url.full": "https://h/?q=1"}
        put(sp.attributes, f"list{depth}", deep_list)
        put(sp.attributes, f"map{depth}", deep_map)
    same(DEFAULT_RULES, t.serialize(), "traces")
    same({"allow_all_keys": True, "keep_gen_ai_content": True}, t.serialize(), "traces")


def test_clear_keys_survives_a_walk_from_a_released_action() -> None:
    """clear_keys() releases the remembered actions, which can run a __del__; one that walks with the same Walker
    must find the table consistent, not read the keys being freed (a use after free before the fix)."""
    from edgetel._native import redact  # the module is built (see pytestmark)

    def msg(field: int, body: bytes) -> bytes:
        return bytes([field << 3 | 2, len(body)]) + body

    data = msg(1, msg(2, msg(2, msg(9, msg(1, b"k") + msg(2, msg(1, b"v"))))))
    later: list[object] = []

    class Act:
        def __del__(self) -> None:
            later.append(walker.traces(data, {}))

    walker = redact.Walker(
        classify=lambda key, nested: (1, "r", None, Act()),
        scan=lambda s: None,
        name=lambda s: None,
        value=lambda act, raw: None,
        allowed=object(),
        enabled=0,
        scalars=0,
        name_url=False,
        name_sql=False,
        gen_ai_event_keys=None,
        sql_keywords=frozenset(),
    )
    assert walker.traces(data, {}) is data and walker.keys == 1
    walker.clear_keys()
    assert later == [data] and walker.keys == 1  # the key the __del__ walk classified again stays
