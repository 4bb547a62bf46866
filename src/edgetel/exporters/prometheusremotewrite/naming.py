"""OTLP -> Prometheus naming rules (OpenTelemetry compatibility spec, as the Collector applies them).

Metric names: with `add_metric_suffixes` the name is split into alphanumeric tokens, the unit's Prometheus word
is appended unless already a token (`s` -> `seconds`, `By/s` -> `bytes_per_second`, `{packets}` -> nothing),
monotonic sums end in `_total`, gauges with unit `1` in `_ratio`. A name already in Prometheus form with an
empty unit (`node_cpu_seconds_total`) comes out unchanged. Label names are sanitised to
`[a-zA-Z_][a-zA-Z0-9_]*` with runs of `_` collapsed; `le` and `quantile` values are formatted like Go's
`strconv.FormatFloat(v, 'f', -1, 64)`.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from functools import lru_cache

UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds",
    "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes",
    "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
    "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}  # fmt: skip
PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

# OTLP metric kinds as the translator sees them.
GAUGE, COUNTER, UPDOWN, HISTOGRAM, EXP_HISTOGRAM, SUMMARY = range(6)

_TOKENS = re.compile(r"[A-Za-z0-9]+")
_BAD_METRIC = re.compile(r"[^a-zA-Z0-9_:]+")
_BAD_LABEL = re.compile(r"[^a-zA-Z0-9_]+")
_UNDERSCORES = re.compile(r"__+")
_VALID_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _clean(word: str) -> str:
    return "_".join(_TOKENS.findall(word))


def unit_words(unit: str) -> tuple[str, str]:
    """(main, per) Prometheus unit words of an OTLP (UCUM) unit; `{...}` parts and `1` give ''."""
    main, _, per = unit.partition("/")
    main, per = main.strip(), per.strip()
    main_word = "" if not main or "{" in main or "}" in main else _clean(UNITS.get(main, main))
    per_word = "" if not per or "{" in per or "}" in per else _clean(PER_UNITS.get(per, per))
    return main_word, per_word


def prom_unit(unit: str) -> str:
    """The unit for metric metadata (`seconds`, `bytes_per_second`, '' for `1` and `{count}`)."""
    main, per = unit_words(unit)
    if main and per:
        return f"{main}_per_{per}"
    return main or (f"per_{per}" if per else "")


@lru_cache(maxsize=4096)
def metric_name(name: str, unit: str, kind: int, add_suffixes: bool = True, namespace: str = "") -> str:
    """The Prometheus metric (family) name of an OTLP metric; histograms get `_bucket` etc. added later."""
    if not add_suffixes:
        out = _UNDERSCORES.sub("_", _BAD_METRIC.sub("_", name))
        if namespace:
            out = f"{namespace}_{out}"
        return "_" + out if out[:1].isdigit() else out
    tokens = _TOKENS.findall(name)
    main, per = unit_words(unit)
    if main and main not in tokens:
        tokens.append(main)
    if per and per not in tokens:
        tokens += ["per", per]
    if kind == COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == GAUGE:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    if namespace:
        tokens.insert(0, namespace)
    out = "_".join(tokens)
    return "_" + out if out[:1].isdigit() else out


@lru_cache(maxsize=8192)
def label_name(key: str) -> str:
    """A valid Prometheus label name for an attribute key (never `__`-prefixed, so never reserved)."""
    if _VALID_LABEL.fullmatch(key) and "__" not in key:
        return "key" + key if key[0] == "_" else key
    out = _UNDERSCORES.sub("_", _BAD_LABEL.sub("_", key))
    if not out:
        return ""
    if out[0].isdigit():
        return "key_" + out
    return "key" + out if out[0] == "_" else out


@lru_cache(maxsize=4096)
def format_float(v: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    text = format(Decimal(repr(v)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def sanitize_namespace(namespace: str) -> str:
    return _UNDERSCORES.sub("_", _BAD_LABEL.sub("_", namespace)).strip("_")
