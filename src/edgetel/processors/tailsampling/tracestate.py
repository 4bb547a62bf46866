"""Consistent probability sampling (W3C Trace Context level 2, OpenTelemetry probability sampling).

Each trace has 56 bits of randomness R: the `rv` sub-key of the `ot` tracestate entry when present (14 hex
digits), otherwise the last 7 bytes of the trace id. A sampler with rejection threshold T (0 <= T < 2**56) keeps
the trace when R >= T; the probability is 1 - T / 2**56. Every sampler that uses the same rule decides the same
for the same trace. A kept span carries its threshold as `ot=th:<hex>` (trailing zeros removed; `th:0` means
kept with certainty) so that a backend can scale counts back up by 2**56 / (2**56 - T).
"""

from __future__ import annotations

MAX_THRESHOLD = 1 << 56  # "never sample"; not encodable in `th`
_MAX_MEMBERS = 32
_HEX = frozenset("0123456789abcdef")


def threshold_for(percentage: float) -> int:
    """The rejection threshold for a sampling percentage (0..100), rounded as the specification does."""
    p = min(max(percentage / 100.0, 0.0), 1.0)
    return MAX_THRESHOLD - round(p * MAX_THRESHOLD)


def encode_threshold(t: int) -> str:
    """`th` value: 14 hex digits with trailing zeros removed, `0` for T = 0."""
    if t <= 0:
        return "0"
    return f"{t:014x}".rstrip("0")


def decode_threshold(text: str) -> int | None:
    """Parse a `th` value (1 to 14 hex digits, implicitly right-padded with zeros); None if invalid."""
    if not 1 <= len(text) <= 14 or not all(c in _HEX for c in text):
        return None
    return int(text, 16) << (4 * (14 - len(text)))


def adjusted_count(t: int) -> float:
    """How many traces one kept trace stands for under threshold `t`."""
    if t >= MAX_THRESHOLD:
        return 0.0
    return MAX_THRESHOLD / (MAX_THRESHOLD - t)


def parse_members(tracestate: str) -> list[tuple[str, str]]:
    """The list-members of a W3C tracestate header, in order (empty and malformed members skipped)."""
    out: list[tuple[str, str]] = []
    for raw in tracestate.split(","):
        key, sep, value = raw.strip(" \t").partition("=")
        if sep and key and value:
            out.append((key, value))
    return out


def parse_ot(value: str) -> dict[str, str]:
    """The sub-keys of an `ot` entry: `th:fd70a4;rv:1234...` -> {"th": "fd70a4", "rv": ...}."""
    out: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, val = part.partition(":")
        if sep and key:
            out[key] = val
    return out


def ot_entry(tracestate: str) -> dict[str, str]:
    for key, value in parse_members(tracestate):
        if key == "ot":
            return parse_ot(value)
    return {}


def randomness(trace_id: bytes, tracestate: str = "") -> int:
    """R: the explicit `rv` when present and valid, else the trace id's 56 least significant bits."""
    if tracestate and "rv:" in tracestate:
        rv = ot_entry(tracestate).get("rv", "")
        if len(rv) == 14:
            try:
                return int(rv, 16)
            except ValueError:
                pass
    return int.from_bytes(trace_id[9:16], "big")


def existing_threshold(tracestate: str) -> int | None:
    """The `th` an upstream (head) sampler already wrote, or None."""
    if not tracestate or "th:" not in tracestate:
        return None
    th = ot_entry(tracestate).get("th")
    return decode_threshold(th) if th is not None else None


def with_threshold(tracestate: str, t: int) -> str:
    """`tracestate` with `ot=th:` set to max(existing th, t); other `ot` sub-keys and vendors are kept.

    The modified `ot` entry moves to the front, as W3C Trace Context requires of an updated entry.
    """
    members = parse_members(tracestate) if tracestate else []
    ot: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in members:
        if key == "ot" and not ot:
            ot = parse_ot(value)
        elif key != "ot":
            rest.append((key, value))
    old = decode_threshold(ot.get("th", "")) if "th" in ot else None
    if old is not None and old > t:
        t = old
    ot.pop("th", None)
    value = ";".join([f"th:{encode_threshold(t)}", *(f"{k}:{v}" for k, v in ot.items())])
    out = [f"ot={value}", *(f"{k}={v}" for k, v in rest[: _MAX_MEMBERS - 1])]
    return ",".join(out)
