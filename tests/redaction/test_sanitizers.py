"""URL and database statement sanitizers, and the built-in detectors one by one."""

from __future__ import annotations

import pytest

from edgetel.processors.redaction.detectors import DETECTORS, Detectors, card_spans, issuer_ok, luhn_ok
from edgetel.processors.redaction.sanitizers import (
    URLSanitizer,
    classify,
    looks_like_token,
    sanitize_command,
    sanitize_json,
    sanitize_sql,
    sanitize_statement,
    sql_span_name,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.com/a?token=abc&page=2", "https://x.com/a?token=REDACTED&page=REDACTED"),
        ("https://bob:pw@x.com/a", "https://REDACTED:REDACTED@x.com/a"),
        ("https://bob@x.com", "https://REDACTED@x.com"),
        ("https://u:p?ss#w@x.com/a", "https://REDACTED:REDACTED@x.com/a"),  # a ? or # in a password
        ("/reset/aB3dE5fG7hJ9kL1mN3pQ5rS7/done", "/reset/REDACTED/done"),
        ("/files/3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c", "/files/REDACTED"),
        ("/p;jsessionid=0AB12CD34EF56", "/p;jsessionid=REDACTED"),
        ("https://x.com/cb#access_token=xyz&state=1", "https://x.com/cb#access_token=REDACTED&state=REDACTED"),
        ("https://x.com/a#section-2", "https://x.com/a#section-2"),
        (
            "https://x.com/users/550e8400-e29b-41d4-a716-446655440000",
            "https://x.com/users/550e8400-e29b-41d4-a716-446655440000",
        ),
        (
            "https://x.com/blog/my-first-post-about-observability",
            "https://x.com/blog/my-first-post-about-observability",
        ),
        ("https://x.com/search?q=", "https://x.com/search?q="),
    ],
)
def test_url_sanitizer(url: str, expected: str) -> None:
    assert URLSanitizer().url(url) == expected


def test_url_allowed_query_params_and_parts() -> None:
    u = URLSanitizer(["page"])
    assert u.url("https://x.com/a?page=2&key=k") == "https://x.com/a?page=2&key=REDACTED"
    assert u.query("sig=abc&exp=1") == "sig=REDACTED&exp=REDACTED"
    assert u.text("GET /reset/aB3dE5fG7hJ9kL1mN3pQ5rS7?u=bob") == "GET /reset/REDACTED?u=REDACTED"
    assert u.text("GET /api/orders/{id}") == "GET /api/orders/{id}"


def test_token_heuristic() -> None:
    assert looks_like_token("aB3dE5fG7hJ9kL1mN3pQ5rS7")
    assert looks_like_token("3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c")
    assert not looks_like_token("550e8400-e29b-41d4-a716-446655440000")
    assert not looks_like_token("my-first-post-about-observability")
    assert not looks_like_token("2024-01-15T10:22:33Z")
    assert not looks_like_token("orders")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM u WHERE a = 'x''y' AND b = 42", "SELECT * FROM u WHERE a = ? AND b = ?"),
        ("SELECT a FROM t1 WHERE c IN (1, 2.5, -3e4, 0xFF)", "SELECT a FROM t1 WHERE c IN (?, ?, -?, ?)"),
        ('select * from "users" where "name" = "bob smith"', 'select * from "users" where "name" = ?'),
        ("SELECT $$secret$$, $t$x$t$, E'\\n' FROM utf8mb4_t", "SELECT ?, ?, E? FROM utf8mb4_t"),
        ("SELECT 1 -- token abc\nFROM t /* pw */", "SELECT ? \nFROM t "),
        (
            "SELECT * FROM t WHERE a = $1 AND b = :1 AND c = @p1 AND d = ?",
            "SELECT * FROM t WHERE a = $1 AND b = :1 AND c = @p1 AND d = ?",
        ),
        ("SELECT 'unterminated secret", "SELECT ?"),
    ],
)
def test_sql(sql: str, expected: str) -> None:
    assert sanitize_sql(sql) == expected


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        ('SET session:abc "v a l" EX 3600', "SET session:abc ? ? ?"),
        ("AUTH default s3cret", "AUTH ? ?"),
        ("HSET user:1 email a@b.io name bob", "HSET user:1 ? ? ? ?"),
        ("CONFIG SET requirepass pw", "CONFIG SET ? ?"),
        ("GET token:aB3dE5fG7hJ9kL1mN3pQ5rS7", "GET token:?"),
        ("set user:42 0 3600 5\r\nhello", "set user:42 ? ? ?\n?"),
        ("GET a\nSET b 1", "GET a\nSET b ?"),
        ("not a command at all", "?"),
    ],
)
def test_redis_and_memcached(cmd: str, expected: str) -> None:
    assert sanitize_command(cmd) == expected


def test_mongo_and_search_bodies() -> None:
    q = '{"find": "users", "filter": {"email": "a@b.io", "age": {"$gt": 30}, "ok": true}}'
    assert sanitize_json(q) == '{"find": ?, "filter": {"email": ?, "age": {"$gt": ?}, "ok": ?}}'
    assert sanitize_json('db.users.find({name: "bob"})') == "db.users.find({name: ?})"


def test_statement_kind_is_chosen_by_content() -> None:
    assert classify("SELECT 1") == "sql" and classify("  (SELECT 1)") == "sql"
    assert classify("HGETALL cart") == "command" and classify("SET k v") == "command"
    assert classify("SET search_path TO app") == "sql" and classify("SET x = 1") == "sql"
    assert classify('{"find": "u"}') == "json" and classify("db.u.find({})") == "json"
    all_kinds = {"sql", "command", "json"}
    assert sanitize_statement("GET k\nSET k v", all_kinds) == "GET k\nSET k ?"
    assert sanitize_statement("SET k v", {"sql"}) == "SET k v"  # sql only: no literal to strip
    assert sanitize_statement("weird 'x'", all_kinds) == "weird ?"
    # whitespace that str.lstrip(" \t\r\n(") keeps once raised IndexError and refused the whole batch
    assert classify("\u00a0") == "sql" and sanitize_statement("\u00a0\u2003", all_kinds) == "\u00a0\u2003"
    for blank in ("\x0c", " \u3000", "(\x0b"):
        assert sanitize_statement(blank, {"sql"}) == blank


def test_sql_span_names() -> None:
    assert sql_span_name("SELECT shop.orders") == "SELECT shop.orders"
    assert sql_span_name("SELECT * FROM t WHERE id = 5") == "SELECT * FROM t WHERE id = ?"
    assert sql_span_name("call 1-800-FLOWERS") == "call 1-800-FLOWERS"


# ---- detectors -----------------------------------------------------------------------------------------------


def test_luhn_and_issuers() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert issuer_ok("378282246310005") and not issuer_ok("1700000000000")
    assert card_spans("a 4111-1111-1111-1111 b") == [(2, 21)]
    assert card_spans("41111111111111111111") == []  # 20 digits: not a card
    assert card_spans("4111111111111112") == []  # fails Luhn
    assert card_spans("ids 12 4111111111111111 34") == [(7, 23)]


def _mask(rule: str, secret: str) -> str:
    return f"<{rule}>"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("email", "to a.b+c@x-y.example.co.uk now", "to <email> now"),
        ("jwt", "t eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl x", "t <jwt> x"),
        ("bearer_token", "Bearer abc", "Bearer <bearer_token>"),
        ("bearer_token", "the bearer of bad news", "the bearer of bad news"),
        ("bearer_token", "auth:Bearer_abcdef1234567890", "auth:Bearer_<bearer_token>"),  # a DogStatsD tag
        ("bearer_token", "bearer_token", "bearer_token"),
        ("basic_auth", "Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic <basic_auth>"),
        ("basic_auth", "Basic authentication failed", "Basic authentication failed"),
        ("url_credentials", "dsn mysql://root:pw@db/app", "dsn mysql://<url_credentials>@db/app"),
        ("aws_access_key", "k=AKIAABCDEFGHIJKLMNOP;", "k=<aws_access_key>;"),
        ("aws_access_key", "XAKIAABCDEFGHIJKLMNOP", "XAKIAABCDEFGHIJKLMNOP"),
        ("aws_secret_key", "aws_secret_access_key: " + "a" * 20 + "B/" * 10, "aws_secret_access_key: <aws_secret_key>"),
        ("github_token", "ghs_" + "a1" * 18, "<github_token>"),
        ("slack_token", "xoxp-1234-5678-abcdefghij", "<slack_token>"),
        ("stripe_key", "sk_test_abcdefghij1234", "<stripe_key>"),
        ("google_api_key", "AIza" + "x" * 35, "<google_api_key>"),
        ("private_key", "k -----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY----- z", "k <private_key> z"),
        ("us_ssn", "ssn 123-45-6789.", "ssn <us_ssn>."),
        ("us_ssn", "not 000-12-3456 or 123-45-67890", "not 000-12-3456 or 123-45-67890"),
        ("secret_assignment", "PASSWORD = 'hunter2'", "PASSWORD = '<secret_assignment>'"),
        ("secret_assignment", "max_tokens=4096 tokens_used: 5", "max_tokens=4096 tokens_used: 5"),
        ("payment_card", "cc 3782 822463 10005", "cc <payment_card>"),
        ("ipv4", "from 10.1.2.3:80", "from <ipv4>:80"),
        ("ipv4", "version 1.2.3", "version 1.2.3"),
        ("ipv6", "peer fe80::1ff:fe23:4567:890a ok", "peer <ipv6> ok"),
        ("ipv6", "at 10:22:33", "at 10:22:33"),
    ],
)
def test_each_detector(name: str, text: str, expected: str) -> None:
    assert Detectors([name], _mask).scan(text, []) == expected


def test_detectors_are_switched_off_by_name() -> None:
    on = [n for n, default in DETECTORS.items() if default]
    assert "ipv4" not in on and "ipv6" not in on
    without_email = Detectors([n for n in on if n != "email"], _mask)
    rules: list[str] = []
    assert without_email.scan("a@b.io 4111111111111111", rules) == "a@b.io <payment_card>"
    assert rules == ["payment_card"]
    with pytest.raises(ValueError, match="unknown detectors"):
        Detectors(["nope"], _mask)
