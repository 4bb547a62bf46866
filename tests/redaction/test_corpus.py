"""The corpora through the processor: no secret substring survives anywhere in the serialized output (protobuf
and OTLP JSON bytes), and benign values pass through byte for byte."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edgetel.pdata import otlpjson

from .helpers import load, make, metrics_with, run, traces_with

SECRETS = load("secrets.jsonl")
BENIGN = load("benign.jsonl")


def _leaks(raw: bytes, entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["kind"], s) for e in entries for s in e["secrets"] if s.encode() in raw]


def test_the_corpus_covers_every_kind() -> None:
    kinds = {e["kind"] for e in SECRETS}
    assert kinds >= {
        "payment_card", "email", "jwt", "bearer_token", "basic_auth", "aws_access_key", "aws_secret_key",
        "github_token", "slack_token", "stripe_key", "google_api_key", "private_key", "us_ssn",
        "secret_assignment", "url_credentials", "sensitive_keys", "gen_ai", "url_sanitizer", "db_sanitizer",
    }  # fmt: skip


@pytest.mark.parametrize("signal", ["traces", "metrics"])
def test_no_secret_survives_anywhere(signal: str) -> None:
    build = traces_with if signal == "traces" else metrics_with
    batch = build(SECRETS)
    before = batch.serialize()
    assert len(_leaks(before, SECRETS)) >= len(SECRETS)  # the batch really carries every secret
    proc, sink, registry = make()
    run(proc, batch)
    assert sink.batches == [batch]
    assert _leaks(batch.serialize(), SECRETS) == []
    assert _leaks(otlpjson.encode(batch), SECRETS) == []
    assert batch.item_count() == build(SECRETS).item_count()  # nothing but attributes is removed
    # every detector and sanitizer is counted on /metrics, by rule and signal
    for kind in {e["kind"] for e in SECRETS}:
        assert registry.value("edgetel_redaction_redacted_total", "redaction", kind, signal) > 0, kind


def test_each_secret_is_caught_on_its_own() -> None:
    """Per entry, so a failure names the value that leaked."""
    proc, _, _ = make()
    for e in SECRETS:
        batch = traces_with([e])
        run(proc, batch)
        assert _leaks(batch.serialize(), [e]) == [], e["value"]


def test_benign_values_are_kept_intact_and_the_false_positive_rate_is_zero() -> None:
    proc, _, _ = make()
    changed = []
    for e in BENIGN:
        for build in (traces_with, metrics_with):
            batch = build([e])
            expected = batch.serialize()
            run(proc, batch)
            if batch.serialize() != expected:
                changed.append(e)
    rate = len(changed) / (2 * len(BENIGN))
    print(f"benign corpus: {len(BENIGN)} values, false-positive rate {rate:.2%}")
    assert changed == []


def test_a_mixed_batch_keeps_benign_neighbours() -> None:
    """Secrets and benign values in one batch: the benign resources are untouched."""
    proc, _, _ = make()
    benign = [e for e in BENIGN if "key" not in e][:40]
    batch = traces_with(benign + SECRETS)
    reference = traces_with(benign)
    run(proc, batch)
    kept = batch.request.resource_spans[: len(benign)]
    assert [rs.SerializeToString() for rs in kept] == [
        rs.SerializeToString() for rs in reference.request.resource_spans
    ]
    assert _leaks(batch.serialize(), SECRETS) == []


def test_processing_twice_changes_nothing_more() -> None:
    proc, _, _ = make()
    batch = traces_with(SECRETS)
    run(proc, batch)
    once = batch.serialize()
    run(proc, batch)
    assert batch.serialize() == once
    assert copy.deepcopy(batch.request) == batch.request
