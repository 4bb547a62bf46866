"""Configuration: defaults, validation messages by key path, registration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgetel.component import registry
from edgetel.component.ids import Kind
from edgetel.config.decode import decode, encode
from edgetel.config.problems import Problems
from edgetel.processors.redaction.config import RedactionConfig


def problems_of(raw: dict[str, Any]) -> list[str]:
    problems = Problems("agent.yaml")
    decode(RedactionConfig, raw, problems, ("processors", "redaction"))
    return [".".join(map(str, p.path)) + ": " + p.message for p in problems.items]


def test_defaults_follow_the_collector() -> None:
    cfg = RedactionConfig()
    assert cfg.allow_all_keys is False and cfg.allowed_keys == [] and cfg.summary == "silent"
    assert cfg.hash_function == "" and cfg.redact_all_types is False
    assert cfg.url_sanitizer.enabled is False and cfg.db_sanitizer.sql.enabled is False
    # edgetel's additions are on: detectors (not the IP ones) and gen_ai content removal
    assert cfg.detectors.payment_card and cfg.detectors.email and not cfg.detectors.ipv4
    assert cfg.keep_gen_ai_content is False


@pytest.mark.parametrize(
    ("raw", "where", "message"),
    [
        ({"blocked_values": ["ok", "(unclosed"]}, "blocked_values.1", "invalid regular expression"),
        ({"allowed_values": ["["]}, "allowed_values.0", "invalid regular expression"),
        ({"blocked_key_patterns": ["*x"]}, "blocked_key_patterns.0", "invalid regular expression"),
        ({"hash_function": "hmac-sha256"}, "hash_function", "needs exactly one of hmac_key or hmac_key_file"),
        ({"hash_function": "hmac-sha256", "hmac_key": "short"}, "hmac_key", "at least 32 bytes"),
        ({"hash_function": "hmac-sha512", "hmac_key": "k" * 32}, "hmac_key", "at least 64 bytes"),
        ({"hash_function": "hmac-sha256", "hmac_key_file": "/nonexistent/key"}, "hmac_key_file", "cannot read"),
        ({"hash_function": "md5", "hmac_key": "k" * 40}, "hash_function", "used only with hmac"),
        ({"hash_function": "rot13"}, "hash_function", "must be one of"),
        ({"summary": "verbose"}, "summary", "must be one of"),
        ({"cache_size": -1}, "cache_size", "cannot be negative"),
        ({"db_sanitizer": {"sql": {"enabled": True, "attributes": []}}}, "db_sanitizer.sql.attributes", "at least one"),
        ({"detectors": {"credit_card": True}}, "detectors.credit_card", "unknown key"),
    ],
)
def test_validation_names_the_key(raw: dict[str, Any], where: str, message: str) -> None:
    found = problems_of(raw)
    assert any(where in p and message in p for p in found), found


def test_a_good_config_has_no_problems(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("x" * 32)
    raw = {
        "allow_all_keys": True,
        "hash_function": "hmac-sha256",
        "hmac_key_file": str(key),
        "detectors": {"ipv4": True},
        "url_sanitizer": {"enabled": True, "allowed_query_params": ["page"]},
        "db_sanitizer": {"sql": {"enabled": True}, "redis": {"enabled": True, "attributes": ["db.statement"]}},
    }
    assert problems_of(raw) == []


def test_the_hmac_key_never_prints() -> None:
    problems = Problems("agent.yaml")
    cfg = decode(RedactionConfig, {"hash_function": "hmac-sha256", "hmac_key": "k" * 40}, problems)
    assert "kkkk" not in repr(cfg) and "kkkk" not in str(encode(cfg))


def test_registered_and_cheap_to_import() -> None:
    f = registry.get(Kind.PROCESSOR, "redaction")
    assert f is not None and f.config_type is RedactionConfig
    assert {s.value for s in f.signals} == {"traces", "metrics"}
