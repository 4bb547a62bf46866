"""Decode plain values into typed config dataclasses, collecting every problem with its path.

A config class is a dataclass. Each field is a key (a field's `metadata={"key": "..."}` renames it). Supported
field types: bool, int, float, str, Duration, Size, Secret, Literal[...], list[T], dict[str, T], T | None,
nested dataclasses, and `Any` (kept as is). A class may define `validate(self) -> Iterable[tuple[str, str]]`
returning (key path relative to the class, message) pairs for checks across fields.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from edgetel.config.problems import Path, Problems, did_you_mean
from edgetel.config.types import Duration, Secret, Size

T = TypeVar("T")

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


def field_key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))


def config_keys(cls: type) -> list[str]:
    return [field_key(f) for f in dataclasses.fields(cls)]


class _Invalid(Exception):
    pass


def decode(cls: type[T], value: Any, problems: Problems, path: Path = ()) -> T:
    """Decode `value` into `cls`. Problems are recorded; an invalid field keeps its default."""
    try:
        return typing.cast(T, _decode(cls, value, problems, path))
    except _Invalid:
        return typing.cast(T, _default(cls))


def _default(tp: Any) -> Any:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        try:
            return tp()
        except TypeError:
            return None
    return None


def _decode(tp: Any, value: Any, problems: Problems, path: Path) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _decode(args[0], value, problems, path)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            hint = did_you_mean(str(value), [str(c) for c in choices])
            problems.error(path, f"must be one of {', '.join(map(str, choices))}, not {value!r}{hint}")
            raise _Invalid
        return value
    if origin is list:
        (item_tp,) = get_args(tp)
        if value is None:
            return []
        if not isinstance(value, list):
            problems.error(path, f"expected a list, not {_describe(value)}")
            raise _Invalid
        out = []
        for i, item in enumerate(value):
            try:
                out.append(_decode(item_tp, item, problems, (*path, i)))
            except _Invalid:
                pass
        return out
    if origin is dict:
        _, val_tp = get_args(tp)
        if value is None:
            return {}
        if not isinstance(value, dict):
            problems.error(path, f"expected a mapping, not {_describe(value)}")
            raise _Invalid
        out_d = {}
        for k, v in value.items():
            try:
                out_d[str(k)] = _decode(val_tp, v, problems, (*path, str(k)))
            except _Invalid:
                pass
        return out_d
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _decode_dataclass(tp, value, problems, path)
    return _decode_scalar(tp, value, problems, path)


def _describe(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


def _decode_scalar(tp: Any, value: Any, problems: Problems, path: Path) -> Any:
    try:
        if tp is Duration:
            return Duration.parse(value)
        if tp is Size:
            return Size.parse(value)
        if tp is Secret:
            if isinstance(value, dict | list) or value is None:
                raise ValueError("expected a string")
            return Secret(str(value))
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError
        if tp is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int):
                return value
            if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
                return int(value.strip())
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ValueError
        if tp is float:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int | float):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value.strip())
                except ValueError:
                    raise ValueError(f"expected a number, not {value!r}") from None
            raise ValueError
        if tp is str:
            if isinstance(value, dict | list) or value is None:
                raise ValueError
            return value if isinstance(value, str) else str(value)
    except ValueError as e:
        if problems.has_error(path):  # e.g. a failed ${env:...} substitution: one error per key is enough
            raise _Invalid from None
        msg = str(e) or f"expected {_TYPE_NAMES.get(tp, tp.__name__)}, not {_describe(value)}"
        problems.error(path, msg)
        raise _Invalid from None
    raise TypeError(f"unsupported config field type {tp!r}")


def _decode_dataclass(cls: type, value: Any, problems: Problems, path: Path) -> Any:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        problems.error(path, f"expected a mapping, not {_describe(value)}")
        raise _Invalid
    hints = typing.get_type_hints(cls)
    fields = {field_key(f): f for f in dataclasses.fields(cls) if f.init}
    for key in value:
        if key not in fields:
            problems.error((*path, key), f"unknown key{did_you_mean(key, fields)}")
    kwargs: dict[str, Any] = {}
    ok = True
    for key, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if key in value:
            try:
                kwargs[f.name] = _decode(hints[f.name], value[key], problems, (*path, key))
            except _Invalid:
                ok = ok and not required  # an invalid optional key keeps its default; the error is recorded
        elif required:
            problems.error((*path, key), "required key is missing")
            ok = False
    if not ok:
        raise _Invalid
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        for sub, message in typing.cast(Iterable[tuple[str, str]], validate()):
            parts: Path = tuple(p for p in sub.split(".") if p) if sub else ()
            problems.error((*path, *parts), message)
    return obj


def encode(obj: Any) -> Any:
    """The inverse of `decode`, for `print-config`: plain values, durations and sizes as text, secrets masked."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {field_key(f): encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): encode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [encode(v) for v in obj]
    if isinstance(obj, Duration | Size | Secret):
        return str(obj)
    return obj
