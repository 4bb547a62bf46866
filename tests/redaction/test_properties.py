"""Properties: the processor never raises, a value without a match is unchanged, and masking is a fixpoint."""

from __future__ import annotations

import re
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgetel.pdata import Traces
from edgetel.processors.redaction.sanitizers import URLSanitizer, sanitize_command, sanitize_json, sanitize_sql

from .helpers import DEFAULT_RULES, make, run, set_value

PROC = make({**DEFAULT_RULES, "summary": "debug"})[0]
RULES = PROC.rules

KEYS = st.sampled_from(
    ["note", "url.full", "http.target", "url.query", "db.statement", "password", "gen_ai.prompt",
     "exception.message", "redaction.masked.count", "tags"]
) | st.text(max_size=12)  # fmt: skip
SCALARS: st.SearchStrategy[Any] = (
    st.text(max_size=80)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.binary(max_size=40)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attrs=st.lists(st.tuples(KEYS, VALUES), max_size=8), name=st.text(max_size=40), status=st.text(max_size=40))
def test_the_processor_never_raises(attrs: list[tuple[str, Any]], name: str, status: str) -> None:
    t = Traces()
    sp = t.request.resource_spans.add().scope_spans.add().spans.add(name=name)
    sp.status.message = status
    for k, v in attrs:
        set_value(sp.attributes.add(key=k).value, v)
        set_value(sp.events.add(name=name).attributes.add(key=k).value, v)
    run(PROC, t)
    Traces.parse(t.serialize())  # still a valid message


# Text that cannot hold anything a detector looks for: letters, spaces, some punctuation, and numbers that are
# not four digits long (groups of four could be a printed card number).
PLAIN = (
    st.lists(
        st.text(alphabet=string.ascii_letters + " ,.;!?()", min_size=1, max_size=12)
        | st.integers(min_value=0, max_value=999).map(str)
        | st.integers(min_value=10000, max_value=99999).map(str),
        max_size=10,
    )
    .map(" ".join)
    .filter(lambda t: re.match(r"(?i)\s*(bearer|basic)\s", t) is None)
)  # a whole Authorization value


@settings(max_examples=300, deadline=None)
@given(PLAIN)
def test_a_value_without_a_match_is_unchanged(text: str) -> None:
    assert RULES.scan(text) is None
    t = Traces()
    sp = t.request.resource_spans.add().scope_spans.add().spans.add(name=text)
    sp.attributes.add(key="note").value.string_value = text
    before = t.serialize()
    run(PROC, t)
    assert t.serialize() == before


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_masking_is_a_fixpoint(text: str) -> None:
    r = RULES.scan(text)
    once = text if r is None else r[0]
    assert RULES.scan(once) is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_sanitizers_are_idempotent_and_total(text: str) -> None:
    url = URLSanitizer()
    for fn in (url.url, url.query, url.path, url.text, sanitize_sql, sanitize_command, sanitize_json):
        once = fn(text)
        assert isinstance(once, str)
    assert sanitize_sql(sanitize_sql(text)) == sanitize_sql(text)
    assert url.url(url.url(text)) == url.url(text)


def test_hostile_values_cost_linear_time() -> None:
    """Long values built to make regular expressions backtrack are handled in bounded time."""
    import time

    hostile = [
        "eyJ" * 20000,
        "eyJabc." * 10000,
        "@" * 50000,
        "a" * 30000 + "@",
        ("1 " * 30000),
        "1" + " -" * 30000,
        "'" * 50001,
        "/*" * 30000,
        "password=" * 10000,
        "Bearer " * 10000,
        "aws_key=" * 10000,
        ":" * 60000,
        "https://" * 10000 + "@",
        "A" * 60000,
    ]
    proc, _, _ = make({**DEFAULT_RULES, "detectors": {"ipv4": True, "ipv6": True}, "cache_size": 0})
    t = Traces()
    sp = t.request.resource_spans.add().scope_spans.add().spans.add(name="x")
    for i, v in enumerate(hostile):
        sp.attributes.add(key=f"k{i}").value.string_value = v
        sp.attributes.add(key="db.statement").value.string_value = v
        sp.attributes.add(key="url.full").value.string_value = v
    start = time.process_time()
    run(proc, t)
    assert time.process_time() - start < 5
