"""StatsD / DogStatsD line parsing.

The hot path (in `aggregator`) only splits `name:value|tail`; everything here runs once per distinct
`name|tail` prefix (cached) or per event / service check / malformed line. Errors are reason strings, the
label values of `edgetel_statsd_parse_errors_total`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

TYPES = {b"c": "c", b"g": "g", b"ms": "ms", b"h": "h", b"d": "d", b"s": "s"}
Attrs = tuple[tuple[str, str], ...]

_EVENT_RE = re.compile(rb"^_e\{(\d+),(\d+)\}:")


class LineError(Exception):
    """A malformed line; `reason` is the error label value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Prefix:
    """Everything about a line except its value(s)."""

    type: str
    name: str
    attrs: Attrs
    rate: float
    timestamp_ns: int


def _text(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise LineError("invalid_utf8") from None


def _kv_tags(raw: bytes, sep: bytes, out: dict[str, str]) -> None:
    """`k=v,k2=v2` (InfluxDB, Librato, SignalFx styles)."""
    for item in raw.split(b","):
        if not item:
            continue
        key, found, value = item.partition(sep)
        if not found or not key:
            raise LineError("invalid_tag")
        out[_text(key).strip()] = _text(value).strip()


def split_name(raw: bytes) -> tuple[str, dict[str, str]]:
    """The metric name and the tags written into it: `name,k=v` (InfluxDB), `name#k=v` (Librato) or
    `name[k=v]suffix` (SignalFx)."""
    attrs: dict[str, str] = {}
    if b"," in raw:
        raw, _, tags = raw.partition(b",")
        _kv_tags(tags, b"=", attrs)
    elif b"#" in raw:
        raw, _, tags = raw.partition(b"#")
        _kv_tags(tags, b"=", attrs)
    elif b"[" in raw:
        head, _, rest = raw.partition(b"[")
        tags, found, tail = rest.partition(b"]")
        if not found:
            raise LineError("invalid_tag")
        _kv_tags(tags, b"=", attrs)
        raw = head + tail
    name = _text(raw).strip()
    if not name:
        raise LineError("empty_name")
    return name, attrs


def parse_prefix(name_raw: bytes, tail: bytes) -> Prefix:
    """`name_raw` is the text before the first `:`; `tail` the text after the first `|` (type and fields)."""
    fields = tail.rstrip(b"\r").split(b"|")
    mtype = TYPES.get(fields[0])
    if mtype is None:
        raise LineError("invalid_type")
    name, attrs = split_name(name_raw)
    rate, ts_ns = 1.0, 0
    for field in fields[1:]:
        if not field:
            continue
        first = field[:1]
        if first == b"@":
            try:
                rate = float(field[1:])
            except ValueError:
                raise LineError("invalid_sample_rate") from None
            # Below 1e-6 one line would stand for over a million events: refuse it rather than overflow counts.
            if not 1e-6 <= rate <= 1.0:
                raise LineError("invalid_sample_rate")
        elif first == b"#":
            for tag in field[1:].split(b","):
                if tag:
                    key, _, value = tag.partition(b":")
                    if not key:
                        raise LineError("invalid_tag")
                    attrs[_text(key)] = _text(value)
        elif first == b"T":
            try:
                seconds = int(field[1:])
            except ValueError:
                raise LineError("invalid_timestamp") from None
            if seconds < 0 or seconds > 1 << 34:
                raise LineError("invalid_timestamp")
            if mtype in ("c", "g"):  # DogStatsD allows T on counts and gauges only; elsewhere ignored
                ts_ns = seconds * 1_000_000_000
        elif field.startswith(b"c:"):
            attrs["container.id"] = _text(field[2:])
        # other fields (`e:` external data, `card:` cardinality, future ones) are ignored, as the Datadog Agent does
    return Prefix(mtype, name, tuple(sorted(attrs.items())), rate, ts_ns)


def parse_values(raw: bytes) -> list[float]:
    """`1`, `1.5`, `1:2:3`; NaN and infinities are refused."""
    out = []
    for part in raw.split(b":"):
        try:
            v = float(part)
        except ValueError:
            raise LineError("invalid_value") from None
        if not math.isfinite(v):
            raise LineError("invalid_value")
        out.append(v)
    return out


def parse_event(line: bytes) -> None:
    """`_e{<title length>,<text length>}:<title>|<text>|...`; raise LineError when malformed."""
    m = _EVENT_RE.match(line)
    if m is None:
        raise LineError("invalid_event")
    title_len, text_len = int(m.group(1)), int(m.group(2))
    body = line[m.end() :]
    if title_len == 0 or len(body) < title_len + 1 + text_len or body[title_len : title_len + 1] != b"|":
        raise LineError("invalid_event")
    rest = body[title_len + 1 + text_len :]
    if rest and not rest.startswith(b"|"):
        raise LineError("invalid_event")


def parse_service_check(line: bytes) -> None:
    """`_sc|<name>|<0..3>|d:..|h:..|#tags|m:<message>`; raise LineError when malformed."""
    fields = line.split(b"|", 3)
    if len(fields) < 3 or not fields[1] or fields[2].rstrip(b"\r") not in (b"0", b"1", b"2", b"3"):
        raise LineError("invalid_service_check")


def classify(line: bytes) -> str:
    """The kind of a line the fast path could not take: `event`, `service_check`, or raise LineError."""
    if line.startswith(b"_e{"):
        parse_event(line)
        return "event"
    if line.startswith(b"_sc|"):
        parse_service_check(line)
        return "service_check"
    if not line.strip():
        raise LineError("empty_line")
    bar = line.find(b"|")
    colon = line.find(b":", 0, bar if bar >= 0 else len(line))
    if colon == 0:
        raise LineError("empty_name")
    if colon < 0:
        raise LineError("missing_value")
    if bar < 0:
        raise LineError("missing_type")
    raise LineError("invalid_line")
