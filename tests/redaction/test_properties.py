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


# ---- fast paths give the same results as the general code ----------------------------------------------------------

SQL_TEXT = st.text(alphabet="selctSELCTabwhrdint0123456789 _.,=<>()'\"\\-/*$@#:\n\t;ñ", max_size=80)
SIMPLE_SQL = st.text(alphabet="selctSELCTabwhrdint0123456789 _,=<>()'\\@#:;\n", max_size=80)


@settings(max_examples=400, deadline=None)
@given(SQL_TEXT | SIMPLE_SQL)
def test_the_sql_fast_path_equals_the_token_by_token_rewrite(text: str) -> None:
    from edgetel.processors.redaction.sanitizers import _SQL, _sql_token

    assert sanitize_sql(text) == _SQL.sub(_sql_token, text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789٣²", min_size=6, max_size=12) | st.integers(0, 10**12 - 1).map(str))
def test_short_digit_strings_are_never_secrets(text: str) -> None:
    assert RULES.scan(text) is None


NO_CACHE = make({**DEFAULT_RULES, "cache_size": 0})[0].rules
NEAR_SECRETS = st.sampled_from(
    [
        "ya29.a0AfH6SMBx3kQ9cZ1yL8vT2wN5pR7uE4iO0", "card 4111 1111 1111 1111", "ssn 123-45-6789",
        "Basic YWJjOjEyMw==", "Authorization: Basic dXNlcjE6cGFzczE=", "AKIA1234567890ABCDEF", "id=ya12.x",
        "ghp_1234567890abcdefghijklmnopqrstuvwxyz12", "xoxb-1234567890-abcdefghij", "sk_live_1234567890abcdef",
        "Bearer abc12345", "Bearer abcdefgh", "a1b2@c3.io", "postgres://u1:p2@h3/db", "password=12", "order 81723",
        "eyJ0eXAiOiJKV1Qi.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", "AIza1234567890123456789012345678901234",
    ]
)  # fmt: skip
TEXT_WITH_DIGITS = st.text(alphabet="ABCGIKSXYZabceghiklorsuyz0123456789 .-_@:=/+", max_size=60)


@settings(max_examples=400, deadline=None)
@given(NEAR_SECRETS | TEXT_WITH_DIGITS, st.randoms(use_true_random=False))
def test_a_shape_that_decides_gives_one_verdict_for_every_digit_variant(text: str, rnd: Any) -> None:
    """The shape cache: when `shape_decides`, a value and any value differing only in its digits are both
    unchanged or both changed (checked without caches)."""
    from edgetel.processors.redaction.rules import shape_decides, shape_of

    variant = "".join(rnd.choice("0123456789") if c.isascii() and c.isdigit() else c for c in text)
    if shape_decides(shape_of(text)):
        assert (NO_CACHE.scan(text) is None) == (NO_CACHE.scan(variant) is None), (text, variant)


def test_the_shape_cache_never_lets_a_secret_through() -> None:
    rules = make()[0].rules
    for benign, secret in [
        ("token ya12.abcdefghijklmnopqrstuvwxyz", "token ya29.abcdefghijklmnopqrstuvwxyz"),
        ("n 4111 1111 1111 1112", "n 4111 1111 1111 1111"),
        ("x Basic YWJjZGVmZ2hpams1", "x Basic YWJjOjEyMw=="),
    ]:
        assert rules.scan(benign) is None
        assert rules.scan(secret) is not None, secret
    assert rules.scan("order 81723 not found") is None
    assert rules.scan("order 99999 not found") is None  # from the shape cache


def test_the_shape_cache_is_off_where_digit_values_decide() -> None:
    blocked = make({**DEFAULT_RULES, "blocked_values": ["order 9"]})[0].rules
    assert blocked.scan("order 1 shipped") is None
    assert blocked.scan("order 9 shipped") == ("**** shipped", ("blocked_values",))
    ipv4 = make({**DEFAULT_RULES, "detectors": {"ipv4": True}})[0].rules
    assert ipv4.scan("peer 999.1.1.1 down") is None
    assert ipv4.scan("peer 10.1.1.1 down") is not None
    assert make({**DEFAULT_RULES, "cache_size": 0})[0].rules.scan("order 1 shipped") is None
