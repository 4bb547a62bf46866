"""Redaction text primitives (issue #7): CPU time per value of the compiled detector prefilter and URL/SQL
sanitizers (edgetel._native.redact_text) against the Python code they stand in for.

- prefilter: `detect_maybe(value, default detectors)` vs `Detectors(default).scan(value)`, on the benign corpus
  (tests/redaction/data/benign.jsonl), on typical span attribute values and on the secret corpus; plus the share
  of values the prefilter clears (answers "no detector can match", so Python never sees them);
- URL: `sanitize_url` vs `URLSanitizer().url` on url.full values with a per-request id and a query string;
- SQL: `sanitize_sql` vs `sanitize_statement(s, {"sql"})` on ORM-style statements with literals.

"C" is the cost per value in a C loop (`_bench`), as the OTLP walker pays it; "C from Python" adds a Python call
per value. Values are pre-encoded to UTF-8 for C and Python works on str, as each would in the agent. CPU time
(process_time), best of --rounds.

Run: .venv/bin/python benchmarks/redaction_text.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgetel._native import load
from edgetel.processors.redaction.detectors import DETECTORS, Detectors
from edgetel.processors.redaction.sanitizers import URLSanitizer, sanitize_statement

DATA = Path(__file__).resolve().parent.parent / "tests" / "redaction" / "data"
TARGET_S = 0.2  # CPU seconds per measurement


def corpus(name: str) -> list[str]:
    lines = (DATA / name).read_text().splitlines()
    return [json.loads(line)["value"] for line in lines if line.strip() and not line.startswith("#")]


TYPICAL = [
    "GET", "POST", "/api/orders/{order_id}", "200", "shop.example.com", "10.0.3.17", "https", "HTTP/1.1",
    "postgresql", "orders", "orders-db.internal", "SELECT orders", "checkout-svc", "worker-3", "frontend",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "python-requests/2.31.0", "okhttp/4.12.0", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7",
    "550e8400-e29b-41d4-a716-446655440000", "2024-05-17T09:31:22.123456Z", "1715938282123", "v1.24.3",
    "eu-west-1", "checkout-7d9f8b6c5-x2lpq", "order 81234 not found", "application/json; charset=utf-8",
]  # fmt: skip
URLS = [
    f"https://shop.example.com/api/orders/{81234 + i}?include=items&page={i % 5}" for i in range(50)
] + [
    f"https://api.example.com/v2/users/{i}/reset/aB3dE5gH7jK9mN1pQ3sT{i:04d}?lang=en#top" for i in range(25)
] + [f"/api/v1/items/{i}?sort=price&limit=20" for i in range(25)]  # fmt: skip
SQLS = [
    f"SELECT id, status, total FROM orders WHERE id = {81234 + i} AND tenant = 'acme'" for i in range(50)
] + [
    f'SELECT "orders"."id", "orders"."total" FROM "orders" WHERE "orders"."customer_id" = {i} LIMIT 20'
    for i in range(25)
] + [
    f"INSERT INTO events (kind, payload, at) VALUES ('click', '{{\"x\": {i}}}', '2024-05-17 09:31:{i % 60:02d}')"
    for i in range(25)
]  # fmt: skip


def per_value_ns(fn: Callable[[Any], Any], values: list[Any], rounds: int) -> float:
    """Best CPU ns per value over `rounds` measurements of about TARGET_S each; `fn` is called on each value, or
    once with the repeat count when `values` is [1] (a loop in C)."""
    in_c = values == [1]

    def run(reps: int) -> None:
        if in_c:
            fn(reps)
            return
        for _ in range(reps):
            for v in values:
                fn(v)

    reps = 1
    while True:  # calibrate
        t0 = time.process_time()
        run(reps)
        if time.process_time() - t0 > TARGET_S / 10:
            break
        reps *= 2
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time_ns()
        run(reps * 10)
        best = min(best, (time.process_time_ns() - t0) / (reps * 10 * len(values)))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    native = load("redact_text")
    if native is None:
        raise SystemExit("edgetel._native.redact_text is not built: run scripts/setup.sh")
    default = [k for k, on in DETECTORS.items() if on]
    mask = native.detectors_mask(default)
    det = Detectors(default, lambda rule, secret: f"[redacted:{rule}]")
    url = URLSanitizer()

    print("| values | n | mean bytes | C ns/value | C from Python | Python ns/value | speed-up | C answers |")
    print("|---|---|---|---|---|---|---|---|")

    def row(name: str, kind: int, values: list[str], c_fn: Callable[[bytes], Any], py_fn: Callable[[str], Any]) -> None:
        raw = [v.encode() for v in values]
        c = per_value_ns(lambda r: native._bench(kind, raw, mask, r), [1], args.rounds) / len(raw)
        call = per_value_ns(c_fn, raw, args.rounds)
        py = per_value_ns(py_fn, values, args.rounds)
        mean = sum(map(len, raw)) / len(raw)
        if kind == 0:
            answered = f"{sum(not native.detect_maybe(v, mask) for v in raw) / len(raw):.1%} cleared"
        else:
            answered = f"{sum(c_fn(v) is not Ellipsis for v in raw) / len(raw):.0%}"
        print(f"| {name} | {len(values)} | {mean:.0f} | {c:.0f} | {call:.0f} | {py:.0f} | {py / c:.0f}x | {answered} |")

    prefilter_sets = [
        ("prefilter: benign corpus", corpus("benign.jsonl")),
        ("prefilter: typical attributes", TYPICAL),
        ("prefilter: secret corpus", corpus("secrets.jsonl")),
    ]
    for name, values in prefilter_sets:
        row(name, 0, values, lambda b: native.detect_maybe(b, mask), lambda s: det.scan(s, []))
    row("URL sanitizer: url.full", 1, URLS, native.sanitize_url, url.url)
    row("SQL sanitizer: db.statement", 2, SQLS, native.sanitize_sql, lambda s: sanitize_statement(s, {"sql"}))


if __name__ == "__main__":
    main()
