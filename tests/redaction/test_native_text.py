"""The compiled text primitives (edgetel._native.redact_text) against the Python detectors and sanitizers: the
prefilter never says "no" when a detector would change a value, and the sanitizers give the same output."""

from __future__ import annotations

import string
from types import EllipsisType
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgetel._native import load
from edgetel.processors.redaction.detectors import DETECTORS, Detectors
from edgetel.processors.redaction.sanitizers import URLSanitizer, sanitize_statement

from .helpers import load as load_corpus

_native = load("redact_text")
pytestmark = pytest.mark.skipif(_native is None, reason="edgetel._native.redact_text is not built")
if TYPE_CHECKING:  # the stub's signatures
    from edgetel._native import redact_text as native
else:
    native = _native
FAST = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


SECRETS = [e["value"] for e in load_corpus("secrets.jsonl")]
BENIGN = [e["value"] for e in load_corpus("benign.jsonl")]
# attribute values of realistic spans (see benchmarks/redaction.py): none of them holds a secret
TYPICAL = [
    "GET", "POST", "/api/v1/orders/{id}", "/checkout", "200", "shop.example.com", "10.0.3.17", "8443", "http",
    "HTTP/1.1", "1.1", "postgresql", "orders", "orders-db.internal", "SELECT orders", "frontend", "checkout-svc",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "python-requests/2.31.0", "okhttp/4.12.0", "curl/8.4.0", "Go-http-client/1.1", "grpc-go/1.59.0",
    "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "0af7651916cd43dd8448eb211c80319c",
    "550e8400-e29b-41d4-a716-446655440000", "2024-05-17T09:31:22.123456Z", "2024-05-17 09:31:22", "1715938282",
    "1715938282123", "v1.24.3", "3.11.7", "1.0.0-rc.1+build.5", "eu-west-1", "us-east-1a", "i-0abcd1234ef567890",
    "arn:aws:lambda:eu-west-1:123456789012:function:checkout", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2",
    "k8s-node-3", "checkout-7d9f8b6c5-x2lpq", "default", "production", "ORD-2024-000123", "order 7781 created",
    "connection refused", "timeout after 30s", "ValueError: invalid literal for int() with base 10: 'abc'",
    "Traceback (most recent call last):\n  File \"/app/main.py\", line 42, in handler\n    return process(req)",
    "https://shop.example.com/api/v1/orders/8123?page=2", "gzip, deflate, br", "application/json; charset=utf-8",
    "en-US,en;q=0.9", "text/html", "max-age=3600", "no-cache", "keep-alive", "true", "false", "0.25", "12.5 MiB",
    "SELECT id, total FROM orders WHERE customer_id = ? AND status = ?", "redis", "GET cart:{id}", "cart-cache",
    "aws", "s3.amazonaws.com", "payments-queue", "kafka", "orders.created", "3", "user_id=18273 tenant=acme",
]  # fmt: skip

DEFAULT = native.detectors_mask([k for k, on in DETECTORS.items() if on]) if _native is not None else 0


def scan_changes(s: str, names: list[str]) -> bool:
    return Detectors(names, lambda rule, secret: f"<{rule}>").scan(s, []) != s


def check_sound(s: str) -> None:
    raw = s.encode("utf-8")
    for names in (list(DETECTORS), *([n] for n in DETECTORS)):
        if not native.detect_maybe(raw, native.detectors_mask(names)):
            assert not scan_changes(s, names), (names, s)


# pieces of what the detectors look for, with the near misses and the non-ASCII look-alikes their regexes accept
TRIGGERS = [
    "bearer", "Bearer ", "BEARER_", "bearer\u3000", "basic ", "Basic ", "ba\u017fic ", "bas\u0130c ",
    "BAS\u0131C\u00a0",
    "authorization: ", "Authorization=", "eyJ", "eyJhbGciOiJIUzI1NiJ9.", "eyJzdWIiOiIxIn0.", "AKIA", "ASIA",
    "ABIA", "ACCA", "IOSFODNN7EXAMPLE", "ghp_", "gho_", "github_pat_", "xoxb-", "xoxp-", "xapp-1-",
    "hooks.slack.com/services/", "sk_live_", "rk_test_", "whsec_", "AIza", "GOCSPX-", "ya29.", "-----BEGIN",
    " RSA PRIVATE KEY-----", "-----END", "://", "http://", "@", "user:pw@", "example.com", ".io", "password",
    "passwd", "passphrase", "pwd", "token", "toKen", "tokens", "api_key", "apiKey", "api-key", "access_key",
    "auth-key", "private_key", "secret", "credential", "credentials", "aws", "AWS_SECRET_ACCESS_KEY",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "=", ":", " = ", "\"", "'", "4111 1111 1111 1111",
    "4111-1111-1111-1111", "4111111111111111", "378282246310005", "6011 0009 9013 9424", "5555 5555 5555 4444",
    "123-45-6789", "078-05-1120", "192.168.1.1", "10.0.0", ".255", "::", "fe80::1", "2001:db8:0:0:0:0:2:1",
    "ffff:", "1234567890123", "0000", "-", " ", "\t", "\n", "_", ".", "/", "?", "#", "&", ";", ",",
    "dXNlcjpwYXNzd29yZA==", "abcdefghij", "XYZ0123456789abcdef",
]  # fmt: skip
ALPHABET = (
    "aAbBceEiIJkKsSrRxXoOpPgGhHuUtTwWyYzZ0123456789 _-:=@./?#&;'\"\t\n\x0b\x1f"
    "\u017f\u0131\u0130\u212a\u00a0\u3000é日"
)
noise = st.text(alphabet=ALPHABET, max_size=6)
trigger_text = st.lists(st.sampled_from(TRIGGERS) | noise, max_size=12).map("".join)

# near misses built around each detector's regex: its keyword spelled in every case (and with the non-ASCII
# characters IGNORECASE or lower() map to ASCII), every kind of space, quotes, values of every length
LOOKALIKE = {"s": "sS\u017f", "i": "iI\u0130\u0131", "k": "kK\u212a"}
SPACE = st.sampled_from(["", " ", "  ", "\t", "\n", "\x0b", "\x1c", "\x1f", "\u00a0", "\u3000", "\u2028", "_"])
QUOTE = st.sampled_from(["", '"', "'"])
VALUE = st.sampled_from(
    ["abc", "ab", "hunter2", "x", "é日本", "[redacted:x]", "REDACTED", "****", "dXNlcjpwYXNz", "dXNlcg==", "abcd",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY+", "A1b2C3d4E5f6G7h8"]
) | st.text(alphabet="aZ09+/=_-.~&;,<>é\u00a0 ", max_size=12)  # fmt: skip
WORDS = [
    "bearer", "basic", "authorization", "password", "passwd", "passphrase", "pwd", "secret", "token", "tokens",
    "api_key", "apikey", "api-key", "access_key", "auth_key", "authkey", "private_key", "private-key",
    "credential", "credentials", "key", "aws_secret_access_key", "aws.key", "awssecret", "my_password",
]  # fmt: skip


def spelled(word: str) -> st.SearchStrategy[str]:
    return st.tuples(*(st.sampled_from(sorted({c, c.upper(), *LOOKALIKE.get(c, "")})) for c in word)).map("".join)


def joined(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


def text_of(alphabet: str, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, max_size=max_size)


B64 = "AZaz09_-+/="
ALNUM = string.ascii_letters + string.digits
TEMPLATES = st.one_of(
    # assignments, Authorization values
    joined(st.sampled_from(["", "x ", "a", "Authorization: ", "authorization=", '"authorization": "', "-", "ASIC "]),
           st.sampled_from(WORDS).flatmap(spelled), QUOTE, SPACE, st.sampled_from([":", "=", "==", " "]), SPACE,
           QUOTE, VALUE),
    # URL credentials and email addresses
    joined(st.sampled_from(["http", "s3", "", "1a", "x-y"]), st.sampled_from(["://", ":/", "//"]),
           text_of("ab:@ /?#\"'<>é\u00a0", 6), st.sampled_from(["@", ""]), text_of("ab.-1Z@", 12)),
    joined(text_of("a1.-_%+ é", 5), st.just("@"), text_of("a1.-Z_", 10), st.sampled_from(["", ".com", ".c", ".co1"])),
    # tokens with a known prefix
    joined(st.sampled_from(["", "a", "_", "-", " ", ".", "é", "A", "3"]),
           st.sampled_from(["eyJ", "AKIA", "ASIA", "ACCA", "ghp_", "ghs_", "github_pat_", "xoxb-", "xoxz-",
                            "xapp-1-", "hooks.slack.com/services/", "sk_live_", "rk_test_", "pk_live_", "whsec_",
                            "AIza", "GOCSPX-", "ya29.", "-----BEGIN"]),
           text_of(ALNUM, 45) | text_of(B64, 12), st.sampled_from(["", ".", " PRIVATE KEY-----"]),
           text_of(B64 + ".", 12)),
    # digit runs: cards, SSNs, IP addresses
    st.lists(st.sampled_from(["4111", "1111", "4", "12", "123", "1234", "45", "6789", "000", "666", "5555",
                              "4444", "378282", "246310005", "-", " ", "  ", "--", ".", ":", "::", "ff", "e",
                              "10.0.0.1", "1.2.3"]),
             max_size=10).map("".join),
)  # fmt: skip
template_text = st.lists(TEMPLATES | noise, min_size=1, max_size=4).map("".join)


@st.composite
def mutated_secret(draw: st.DrawFn) -> str:
    s = draw(st.sampled_from(SECRETS + BENIGN))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(s)))
        j = draw(st.integers(i, min(len(s), i + 4)))
        s = s[:i] + draw(noise | st.sampled_from(TRIGGERS)) + s[j:]
    return s


@FAST
@given(trigger_text)
def test_prefilter_is_sound_on_trigger_rich_text(s: str) -> None:
    check_sound(s)


@FAST
@given(template_text)
def test_prefilter_is_sound_on_near_misses(s: str) -> None:
    check_sound(s)


@FAST
@given(mutated_secret())
def test_prefilter_is_sound_on_the_secret_corpus_with_noise(s: str) -> None:
    check_sound(s)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_prefilter_is_sound_on_any_text(s: str) -> None:
    check_sound(s)


def test_prefilter_says_maybe_for_every_secret() -> None:
    for s in SECRETS:
        check_sound(s)
        assert native.detect_maybe(s.encode(), DEFAULT) or not scan_changes(s, list(DETECTORS)), s


# edge cases: what the regexes accept beyond ASCII (U+017F and U+0130 under IGNORECASE, U+212A lower-cased to k,
# Unicode spaces), the shortest matches
EDGE_CASES = [
    "asic ba\u017fic dXNlcjpwYXNz", "ASIC Authorization: BA\u017f\u0130C dXNlcjpwYXNz", "api_to\u212aen=abc123",
    "apiKey\u00a0= xyz",
    "password\u3000:\u2028abc", "Bearer\x1fabcdefgh12", "bearer\u00a0abcdefghijklmnopqrstuvwx", "pwd\x1c=abc",
    "aws_secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "order 6966909111146 192.168.1.1shipped",
    "auth:bearer_abcdefgh12345678", "http://a@host", "x eyJzdWIiOiIx.abcd.x",
    # every token format's shortest form (tokens are looked for in values of 20 characters or more)
    *(f"value {t}" for t in ["whsec_" + "a1" * 10, "rk_test_" + "b" * 10, "ghu_" + "c" * 30, "github_pat_" + "d_" * 11,
                             "xoxe-" + "1" * 10, "xapp-1-" + "e" * 10, "hooks.slack.com/triggers/" + "f" * 8,
                             "AIza" + "g" * 35, "GOCSPX-" + "h" * 20, "ya29." + "i" * 20, "ABIA" + "J" * 16,
                             "-----BEGIN PRIVATE KEY-----", "a@b.cd", "123-45-6789"]),
]  # fmt: skip


def test_prefilter_says_maybe_for_the_edge_cases() -> None:
    for s in EDGE_CASES:
        assert scan_changes(s, list(DETECTORS)), s
        check_sound(s)


def test_prefilter_is_selective_on_benign_and_typical_values() -> None:
    values = BENIGN + TYPICAL
    maybe = [v for v in values if native.detect_maybe(v.encode(), DEFAULT)]
    rate = 1 - len(maybe) / len(values)
    print(f"prefilter: {len(values) - len(maybe)}/{len(values)} benign and typical values cleared ({rate:.1%})")
    assert rate >= 0.97, maybe
    assert not any(native.detect_maybe(v.encode(), DEFAULT) for v in TYPICAL)


def test_detectors_mask() -> None:
    assert native.detectors_mask([]) == 0
    assert native.detectors_mask(list(DETECTORS)) == (1 << len(DETECTORS)) - 1
    assert native.detectors_mask(["jwt", "ipv6"]) == (1 << 1) | (1 << 16)
    assert native.detectors_mask(iter(["private_key"])) == 1
    with pytest.raises(ValueError, match="unknown detector"):
        native.detectors_mask(["jwt", "nope"])
    bad: Any = 3
    with pytest.raises(ValueError):
        native.detectors_mask([bad])
    with pytest.raises(TypeError):
        native.detectors_mask(bad)


# ---- sanitizers ------------------------------------------------------------------------------------------------

URL_PARTS = [
    "http", "https", "ftp", "s3", "x-y.z", "a+b", "://", "//", "/", "?", "&", "=", "#", ";", ":", "@", "user",
    "user:pw", "shop.example.com", "host:8080", "api", "v1", "orders", "reset", "aB3dE5gH7jK9mN1pQ3sT5uV",
    "550e8400-e29b-41d4-a716-446655440000", "9f86d081884c7d659a2feaa0c55ad015a3bf", "my-first-post-about-things",
    "jsessionid", "token", "abc", "REDACTED", "%2F", "~", "+", ".", "-", "_", "0123456789012345678901234",
    "abcdefghijklmnopqrstuvwx1234", " ", "é",
]  # fmt: skip
url_part = st.sampled_from(URL_PARTS) | st.text(alphabet="aZ09/?#&=;:@._-%~+", max_size=4)
url_text = st.one_of(
    st.lists(url_part, max_size=14).map("".join),
    joined(st.sampled_from(["https://", "http://", "s3://", "x+y.z://", "1a://", "ht tp://", "//", "/", "", "?"]),
           st.lists(st.sampled_from(["user", ":", "pw", "@", "a@b", "host", ":8080", "%40", "?", "#"]), max_size=5)
           .map("".join), st.lists(url_part, max_size=10).map("".join)),
)  # fmt: skip

SQL_PARTS = [
    "SELECT ", "INSERT INTO t VALUES ", "UPDATE t SET a = ", " WHERE id = ", " IN (", ", ", ")", "'", "''", "\\",
    "\\'", "'bob'", "\"", "\"\"", "\"users\"", "\"a b\"", "--", "-- c\n", "/*", "*/", "/* x */", "$", "$$",
    "$tag$", "$1", "@p1", ":1", "#", "t1", "utf8mb4", "1", "42", "3.14", "1e5", "0x1F", ".5", "x.1", "\n", " ",
    "é", "日本", "-", "/", "*", ".", "a", "_", ":", "=", '"' + "a" * 62 + '"', '"_' + "b" * 62 + '"', "\\\\",
]  # fmt: skip
sql_list = st.lists(st.sampled_from(SQL_PARTS) | st.text(alphabet="a1'\"$-/*.\\ \n_", max_size=3), max_size=16)
# a statement that ends inside a string literal, after a backslash: the regex backtracks there
sql_text = sql_list.map("".join) | joined(sql_list.map("".join), st.sampled_from(["'", "'a''", "\\", "'x''\\"]))


def py_sql(s: str) -> str | None:
    """sanitize_statement(s, {"sql"}) (it once raised on whitespace that its lstrip keeps, such as "\\x0c")."""
    return sanitize_statement(s, {"sql"})


def check_sanitizer(got: bytes | EllipsisType | None, s: str, expected: str | None) -> bool:
    """Whether the C sanitizer answered; when it did, its answer is the Python one."""
    if got is Ellipsis or expected is None:
        return False
    if got is None:
        assert expected == s
    else:
        assert isinstance(got, bytes)
        assert got.decode() == expected and expected != s
    return True


@FAST
@given(url_text)
def test_url_sanitizer_is_exact(s: str) -> None:
    answered = check_sanitizer(native.sanitize_url(s.encode()), s, URLSanitizer().url(s))
    assert answered or not s.isascii()


@FAST
@given(sql_text)
def test_sql_sanitizer_is_exact(s: str) -> None:
    answered = check_sanitizer(native.sanitize_sql(s.encode()), s, py_sql(s))
    assert answered or "\\" in s or "$" in s


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_sanitizers_are_exact_on_any_text(s: str) -> None:
    check_sanitizer(native.sanitize_url(s.encode()), s, URLSanitizer().url(s))
    check_sanitizer(native.sanitize_sql(s.encode()), s, py_sql(s))


def test_sanitizers_answer_the_common_cases() -> None:
    url = "https://u:p@shop.example.com/reset/aB3dE5gH7jK9mN1pQ3sT5uV?token=abc&page=2#top"
    assert native.sanitize_url(url.encode()) == b"https://REDACTED:REDACTED@shop.example.com/reset/REDACTED" \
        b"?token=REDACTED&page=REDACTED#top"
    assert native.sanitize_url(b"/health") is None
    assert native.sanitize_url("https://exämple.com/".encode()) is Ellipsis
    sql = "SELECT \"o\".\"id\" FROM orders o WHERE o.total > 10.5 AND name = 'O''Brien' -- by id\n"
    assert native.sanitize_sql(sql.encode()) == b"SELECT \"o\".\"id\" FROM orders o WHERE o.total > ? AND name = ? \n"
    assert native.sanitize_sql(b"SELECT a FROM t1") is None
    assert native.sanitize_sql(b"x = 'ab''\\") is Ellipsis


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 2**32 - 1))
def test_arbitrary_bytes_never_crash(raw: bytes, enabled: int) -> None:
    native.detect_maybe(raw, enabled)
    for fn in (native.sanitize_url, native.sanitize_sql):
        out = fn(raw)
        assert out is None or out is Ellipsis or isinstance(out, bytes)
