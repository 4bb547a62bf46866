"""The Collector's keys with the Collector's meaning, plus edgetel's masks, hashes, types and gen_ai removal."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from edgetel.component.errors import PermanentError
from edgetel.pdata import Metrics, Traces

from .helpers import make, put, run

CARD = "4111111111111111"


def span_batch(attrs: dict[str, Any], **span: Any) -> Traces:
    t = Traces()
    sp = t.request.resource_spans.add().scope_spans.add().spans.add(name=span.get("name", "op"))
    for k, v in attrs.items():
        put(sp.attributes, k, v)
    return t


def to_py(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [to_py(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: to_py(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def attrs_of(t: Any) -> dict[str, Any]:
    sp = t.request.resource_spans[0].scope_spans[0].spans[0]
    return {kv.key: to_py(kv.value) for kv in sp.attributes}


def redact(rules: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    proc, _, _ = make(rules)
    return attrs_of(run(proc, span_batch(attrs)))


# ---- the Collector's semantics -----------------------------------------------------------------------------------


def test_an_empty_allow_list_removes_every_attribute() -> None:
    assert redact({}, {"a": "1", "b": 2}) == {}


def test_allowed_keys_keep_only_those_and_summary_counts() -> None:
    out = redact({"allowed_keys": ["id", "name"], "summary": "debug"}, {"id": "7", "name": "x", "birth_date": "1990"})
    assert out == {"id": "7", "name": "x", "redaction.redacted.keys": "birth_date", "redaction.redacted.count": 1}


def test_ignored_keys_pass_unchanged_even_with_secrets() -> None:
    out = redact(
        {"allow_all_keys": True, "ignored_keys": ["safe"], "ignored_key_patterns": ["^trusted\\."], "summary": "info"},
        {"safe": CARD, "trusted.x": CARD, "other": CARD},
    )
    assert out["safe"] == CARD and out["trusted.x"] == CARD and out["other"] == "[redacted:payment_card]"
    assert out["redaction.ignored.count"] == 2 and out["redaction.masked.count"] == 1
    assert "redaction.masked.keys" not in out  # info: counts only


def test_blocked_values_mask_the_matching_part_with_asterisks() -> None:
    out = redact({"allow_all_keys": True, "blocked_values": ["4[0-9]{12}(?:[0-9]{3})?"]}, {"n": f"card {CARD} ok"})
    assert out == {"n": "card **** ok"}


def test_allowed_values_win_over_blocked_values_and_detectors() -> None:
    rules = {"allow_all_keys": True, "blocked_values": ["mycompany\\.com"], "allowed_values": [".+@mycompany\\.com"]}
    out = redact({**rules, "summary": "debug"}, {"a": "bob@mycompany.com", "b": "www.mycompany.com", "c": "x@y.org"})
    assert out["a"] == "bob@mycompany.com"
    assert out["b"] == "www.****"
    assert out["c"] == "[redacted:email]"
    assert out["redaction.allowed.keys"] == "a" and out["redaction.allowed.count"] == 1
    assert out["redaction.masked.keys"] == "b,c"


def test_blocked_key_patterns_mask_the_whole_value() -> None:
    out = redact({"allow_all_keys": True, "blocked_key_patterns": [".*token.*"]}, {"my_token_id": "abc", "x": "abc"})
    assert out == {"my_token_id": "****", "x": "abc"}


def test_redact_all_types_checks_numbers() -> None:
    attrs = {"card": int(CARD), "n": 42, "f": 1.5}
    assert redact({"allow_all_keys": True}, attrs) == attrs
    out = redact({"allow_all_keys": True, "redact_all_types": True}, attrs)
    assert out == {"card": "[redacted:payment_card]", "n": 42, "f": 1.5}
    out = redact({"allow_all_keys": True, "redact_all_types": True, "blocked_values": ["^1\\.5$"]}, attrs)
    assert out["f"] == "****"


@pytest.mark.parametrize("summary", ["debug", "info", "silent"])
def test_summary_levels_use_the_collector_names(summary: str) -> None:
    out = redact(
        {"allowed_keys": ["a", "b"], "summary": summary}, {"a": "x@y.org", "b": "fine", "c": "gone", "d": "gone"}
    )
    keys = {k for k in out if k.startswith("redaction.")}
    expected = {
        "debug": {"redaction.redacted.keys", "redaction.redacted.count", "redaction.masked.keys",
                  "redaction.masked.count"},
        "info": {"redaction.redacted.count", "redaction.masked.count"},
        "silent": set(),
    }[summary]  # fmt: skip
    assert keys == expected
    if summary == "debug":
        assert out["redaction.redacted.keys"] == "c,d" and out["redaction.redacted.count"] == 2


def test_summary_merges_with_an_earlier_processor() -> None:
    proc, _, _ = make({"allowed_keys": ["a"], "summary": "debug"})
    batch = span_batch({"a": "1", "b": "2"})
    run(proc, batch)
    put(batch.request.resource_spans[0].scope_spans[0].spans[0].attributes, "c", "3")
    run(proc, batch)
    out = attrs_of(batch)
    assert out["redaction.redacted.keys"] == "b,c" and out["redaction.redacted.count"] == 2


# ---- masks and hashes --------------------------------------------------------------------------------------------


def test_mask_format_is_configurable() -> None:
    out = redact({"allow_all_keys": True, "mask_format": "<{rule}>"}, {"m": "mail a@b.io now"})
    assert out == {"m": "mail <email> now"}


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("md5", lambda s: hashlib.md5(s.encode()).hexdigest()),
        ("sha1", lambda s: hashlib.sha1(s.encode()).hexdigest()),
        ("sha3", lambda s: hashlib.sha3_256(s.encode()).hexdigest()),
    ],
)
def test_collector_hash_functions(name: str, fn: Any) -> None:
    out = redact({"allow_all_keys": True, "hash_function": name}, {"m": "to a@b.io", "password": "pw1"})
    assert out == {"m": f"to {fn('a@b.io')}", "password": fn("pw1")}


def test_hmac_sha256_from_an_env_var_links_values_without_revealing_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgetel.config.loader import load_text

    key = "k" * 32
    doc = load_text(
        "hash_function: hmac-sha256\nhmac_key: ${env:REDACTION_KEY}\nallow_all_keys: true\n",
        "t.yaml",
        {"REDACTION_KEY": key},
    )
    rules = doc.data
    proc, _, _ = make(rules)
    a = attrs_of(run(proc, span_batch({"u": "user a@b.io"})))
    b = attrs_of(run(proc, span_batch({"v": "other a@b.io"})))
    digest = hmac.new(key.encode(), b"a@b.io", hashlib.sha256).hexdigest()
    assert a["u"] == f"user {digest}" and b["v"] == f"other {digest}"


def test_hmac_key_file(tmp_path: Path) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_bytes(b"s" * 64 + b"\n")
    out = redact(
        {"allow_all_keys": True, "hash_function": "hmac-sha512", "hmac_key_file": str(keyfile)}, {"e": "a@b.io"}
    )
    assert out == {"e": hmac.new(b"s" * 64, b"a@b.io", hashlib.sha512).hexdigest()}


# ---- types, places and gen_ai ------------------------------------------------------------------------------------


def test_masked_values_keep_their_type() -> None:
    proc, _, _ = make({"allow_all_keys": True, "redact_all_types": True})
    batch = span_batch(
        {
            "list": ["ok", "a@b.io"],
            "map": {"inner": "a@b.io", "password": "pw", "n": 1},
            "raw": b"mail a@b.io",
            "http.request.header.authorization": ["Bearer abc"],
        }
    )
    out = attrs_of(run(proc, batch))
    assert out["list"] == ["ok", "[redacted:email]"]
    assert out["map"] == {"inner": "[redacted:email]", "password": "[redacted:sensitive_keys]", "n": 1}
    assert out["raw"] == b"mail [redacted:email]"
    assert out["http.request.header.authorization"] == ["[redacted:sensitive_keys]"]


def test_gen_ai_content_is_removed_by_default_and_kept_on_request() -> None:
    attrs = {
        "gen_ai.prompt": "p",
        "gen_ai.prompt.0.content": "p0",
        "gen_ai.completion.0.content": "c0",
        "gen_ai.input.messages": "[]",
        "gen_ai.output.messages": "[]",
        "gen_ai.request.model": "gpt-x",
        "gen_ai.usage.input_tokens": 12,
    }
    assert redact({"allow_all_keys": True}, attrs) == {"gen_ai.request.model": "gpt-x", "gen_ai.usage.input_tokens": 12}
    kept = redact({"allow_all_keys": True, "keep_gen_ai_content": True}, {**attrs, "gen_ai.prompt": "mail a@b.io"})
    assert kept == {**attrs, "gen_ai.prompt": "mail [redacted:email]"}


def test_gen_ai_events_lose_their_content() -> None:
    proc, _, registry = make({"allow_all_keys": True})
    batch = span_batch({})
    ev = batch.request.resource_spans[0].scope_spans[0].spans[0].events.add(name="gen_ai.user.message")
    put(ev.attributes, "content", "hello model")
    put(ev.attributes, "gen_ai.system", "openai")
    run(proc, batch)
    assert [kv.key for kv in ev.attributes] == ["gen_ai.system"]
    assert registry.value("edgetel_redaction_redacted_total", "redaction", "gen_ai", "traces") == 1


def test_names_status_events_links_scope_and_resource() -> None:
    proc, _, _ = make({"allow_all_keys": True})
    t = Traces()
    rs = t.request.resource_spans.add()
    put(rs.resource.attributes, "owner", "a@b.io")
    ss = rs.scope_spans.add()
    put(ss.scope.attributes, "owner", "a@b.io")
    sp = ss.spans.add(name="notify a@b.io")
    sp.status.message = "failed for a@b.io"
    ev = sp.events.add(name="mail a@b.io")
    put(ev.attributes, "exception.message", "bad a@b.io")
    put(sp.links.add().attributes, "who", "a@b.io")
    run(proc, t)
    assert b"a@b.io" not in t.serialize()
    assert sp.name == "notify [redacted:email]" and sp.status.message == "failed for [redacted:email]"


def test_metrics_points_exemplars_and_names() -> None:
    proc, _, registry = make({"allow_all_keys": True})
    m = Metrics()
    metric = m.request.resource_metrics.add().scope_metrics.add().metrics.add(name="logins.a@b.io")
    dp = metric.sum.data_points.add(as_int=1)
    put(dp.attributes, "user", "a@b.io")
    put(dp.exemplars.add(as_int=1).filtered_attributes, "user", "a@b.io")
    run(proc, m)
    assert b"a@b.io" not in m.serialize()
    assert registry.value("edgetel_redaction_redacted_total", "redaction", "email", "metrics") == 3


def test_a_failure_refuses_the_batch_instead_of_leaking(monkeypatch: pytest.MonkeyPatch) -> None:
    proc, sink, registry = make({"allow_all_keys": True})

    def boom(*_: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(proc, "attrs", boom)
    with pytest.raises(PermanentError):
        run(proc, span_batch({"a": "x"}))
    assert sink.batches == []
    assert registry.value("edgetel_processor_dropped_spans_total", "redaction", "redaction_failed") == 1


def test_credential_named_keys_and_look_alikes() -> None:
    masked = ["password", "db.password", "client_secret", "x-api-key", "http.request.header.cookie",
              "http.response.header.set-cookie", "csrf_token", "aws.secret_access_key", "private_key"]  # fmt: skip
    kept = ["gen_ai.usage.input_tokens", "llm.token_count.prompt", "tokenizer", "messaging.kafka.message.key",
            "session.id", "cache.key", "password_policy", "author"]  # fmt: skip
    out = redact({"allow_all_keys": True}, {k: "v1" for k in masked + kept})
    assert {k for k, v in out.items() if v != "v1"} == set(masked)
