"""Go's encoding/json output for OTLP array and map values, as pcommon.Value.AsString writes them (what the
Collector's Jaeger translator puts in a STRING tag): keys sorted, no spaces, <, > and & escaped, floats in
Go's shortest form."""

from __future__ import annotations

import base64
import json
import math
from decimal import Decimal
from typing import Any


def go_json(value: Any) -> str:
    """An array or kvlist AnyValue as Go's json.Marshal(AsRaw()) writes it; "" when Go would fail (NaN)."""
    try:
        return _encode(_raw(value))
    except ValueError:
        return ""


def _raw(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which == "kvlist_value":
        return {kv.key: _raw(kv.value) for kv in value.kvlist_value.values}
    if which == "array_value":
        return [_raw(v) for v in value.array_value.values]
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if which is None:
        return None
    return getattr(value, which)


def _encode(obj: Any) -> str:
    if isinstance(obj, str):
        return _go_string(obj)
    if isinstance(obj, bool) or obj is None:
        return "true" if obj is True else "false" if obj is False else "null"
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return go_float(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{_go_string(k)}:{_encode(obj[k])}" for k in sorted(obj)) + "}"
    return "[" + ",".join(_encode(v) for v in obj) + "]"


def _go_string(s: str) -> str:
    # json.dumps escapes what Go escapes (", \\, control characters); Go also escapes <, >, & and
    # U+2028/U+2029 for HTML safety.
    out = json.dumps(s, ensure_ascii=False)
    if any(c in out for c in "<>&\u2028\u2029"):
        out = (
            out.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    return out


def go_float(f: float) -> str:
    """A float64 as Go's encoding/json writes it (shortest digits; exponent below 1e-6 and from 1e21)."""
    if math.isnan(f) or math.isinf(f):
        raise ValueError("unsupported value")
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = repr(f)  # shortest round-trip digits in exponent form, like Go's 'e' format with -1 precision
        mant, _, exp = s.partition("e")
        sign = exp[0] if exp[0] in "+-" else "+"
        digits = exp.lstrip("+-").lstrip("0") or "0"
        if len(digits) < 2 and sign == "+":
            digits = digits.rjust(2, "0")  # Go: e+21; its cleanup only shortens negative exponents (e-07 -> e-7)
        if mant.endswith(".0"):
            mant = mant[:-2]
        return f"{mant}e{sign}{digits}"
    text = format(Decimal(repr(f)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
