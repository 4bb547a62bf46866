"""The decisions: what happens to an attribute, by key first (cached per key) and then by value (cached per
value in bounded LRU caches, since telemetry repeats values a lot)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Final

from edgetel.processors.redaction.config import RedactionConfig
from edgetel.processors.redaction.detectors import SENSITIVE_KEY, Detectors
from edgetel.processors.redaction.hashing import Hasher
from edgetel.processors.redaction.sanitizers import (
    SYSTEM_KINDS,
    URLSanitizer,
    sanitize_statement,
    sql_span_name,
)

# Summary attributes: the Collector's names.
REDACTED_KEYS = "redaction.redacted.keys"
REDACTED_COUNT = "redaction.redacted.count"
MASKED_KEYS = "redaction.masked.keys"
MASKED_COUNT = "redaction.masked.count"
ALLOWED_KEYS = "redaction.allowed.keys"
ALLOWED_COUNT = "redaction.allowed.count"
IGNORED_COUNT = "redaction.ignored.count"
SUMMARY_KEYS = frozenset(
    {REDACTED_KEYS, REDACTED_COUNT, MASKED_KEYS, MASKED_COUNT, ALLOWED_KEYS, ALLOWED_COUNT, IGNORED_COUNT}
)

GEN_AI_KEYS = frozenset(
    {
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    }
)
GEN_AI_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.")
# attributes of span events named gen_ai.* that carry message content
GEN_AI_EVENT_KEYS = frozenset({"content", "message", "gen_ai.event.content", "tool_calls", "arguments"})

COLLECTOR_MASK = "****"
SMALL_VALUE = 256  # values up to this length go to the main cache
LARGE_VALUE = 16384  # longer values (up to this) go to a small cache of their own; longer ones are not cached

# Key actions. GENERIC is an int so the hot loop can test `act is GENERIC`.
GENERIC: Final = 0


class Act:
    __slots__ = ("code", "fn", "rule")
    IGNORE = 1
    REMOVE = 2
    MASK = 3
    SANITIZE = 4

    def __init__(self, code: int, rule: str = "", fn: Callable[[str], Result] | None = None) -> None:
        self.code = code
        self.rule = rule
        self.fn = fn


Action = int | Act
# None: unchanged; ALLOWED: unchanged because allowed_values matched; else (new value, rules that fired)
Result = tuple[str, tuple[str, ...]] | None
ALLOWED: Final[tuple[str, tuple[str, ...]]] = ("", ("allowed",))
IGNORE_ACT = Act(Act.IGNORE)


_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_DIGIT_RUN = re.compile(rb"[0-9][0-9 \-]{7,}[0-9]")


def shape_of(s: str) -> bytes:
    """`s` with every ASCII digit as "0" (as UTF-8: bytes.translate is much faster than str.translate)."""
    return s.encode("utf-8", "surrogatepass").translate(_DIGITS)


def shape_decides(shape: bytes) -> bool:
    """Whether the detectors' verdict on a value follows from its shape, so that a value with this shape is
    unchanged when one is. True unless a detector looks at digit values: payment cards and SSNs (only in digit
    runs), Basic credentials (decoded), Google's `ya29.` prefix, and the IP detectors (the shape cache is off
    with those, and with blocked_values)."""
    return _DIGIT_RUN.search(shape) is None and b"asic" not in shape and b"ASIC" not in shape and b"ya00." not in shape


def _cached(raw: Callable[[str], Result], size: int) -> tuple[Callable[[str], Result], Callable[[str], Result]]:
    """(lookup for any value, lookup for values of at most SMALL_VALUE characters)."""
    if size <= 0:
        return raw, raw
    small = functools.lru_cache(maxsize=size)(raw)
    large = functools.lru_cache(maxsize=max(8, size // 128))(raw)

    def lookup(s: str) -> Result:
        n = len(s)
        if n <= SMALL_VALUE:
            return small(s)
        return large(s) if n <= LARGE_VALUE else raw(s)

    return lookup, small


class Rules:
    def __init__(self, cfg: RedactionConfig, hasher: Hasher | None) -> None:
        self.cfg = cfg
        self.hasher = hasher
        self.redact_all_types = cfg.redact_all_types
        # which non-string values of GENERIC keys can need work: 0 none; 1 bytes and ints long enough to be a
        # card number; 2 all (blocked_values may match any text)
        self.scalars = 0 if not cfg.redact_all_types else 2 if cfg.blocked_values else 1
        self._allow_all = cfg.allow_all_keys
        self._allowed_keys = frozenset(cfg.allowed_keys) | SUMMARY_KEYS
        self._ignored = frozenset(cfg.ignored_keys)
        self._ignored_rx = [re.compile(p) for p in cfg.ignored_key_patterns]
        self._blocked_key_rx = [re.compile(p) for p in cfg.blocked_key_patterns]
        self._blocked_rx = [re.compile(p) for p in cfg.blocked_values]
        self._allowed_rx = [re.compile(p) for p in cfg.allowed_values]
        self._keep_gen_ai = cfg.keep_gen_ai_content
        self._sensitive_keys = cfg.detectors.sensitive_keys
        self._mask_fmt = cfg.mask_format
        self._masks: dict[str, str] = {}
        self.detectors = Detectors(cfg.detectors.enabled(), self.mask)
        size = cfg.cache_size

        url = URLSanitizer(cfg.url_sanitizer.allowed_query_params)
        # sanitizing Acts that compiled code can reproduce: "url" (URLSanitizer().url), "sql" (SQL only) or
        # "statement" (SQL among other kinds); read by fastpath.py
        self.native_sanitizers: dict[Act, str] = {}
        self._sanitized_keys: dict[str, Act] = {}
        if cfg.url_sanitizer.enabled:
            by_part = {
                "url.query": self._sanitizing(url.query, "url_sanitizer", size),
                "url.path": self._sanitizing(url.path, "url_sanitizer", size),
            }
            whole = self._sanitizing(url.url, "url_sanitizer", size)
            if not cfg.url_sanitizer.allowed_query_params:
                self.native_sanitizers[whole] = "url"
            for key in cfg.url_sanitizer.attributes:
                self._sanitized_keys[key] = by_part.get(key, whole)
        # key -> the statement kinds (sql, command, json) enabled for it
        kinds_by_key: dict[str, set[str]] = {}
        for name, sys_cfg in cfg.db_sanitizer.systems().items():
            if sys_cfg.enabled:
                for key in sys_cfg.attributes:
                    kinds_by_key.setdefault(key, set()).add(SYSTEM_KINDS[name])
        by_kinds: dict[frozenset[str], Act] = {}
        for key, kinds in kinds_by_key.items():
            fk = frozenset(kinds)
            if fk not in by_kinds:
                by_kinds[fk] = self._sanitizing(functools.partial(sanitize_statement, kinds=fk), "db_sanitizer", size)
                if "sql" in fk:
                    self.native_sanitizers[by_kinds[fk]] = "sql" if len(fk) == 1 else "statement"
            self._sanitized_keys[key] = by_kinds[fk]

        sql_on = cfg.db_sanitizer.sql.enabled and cfg.db_sanitizer.sanitize_span_name
        self._name_url = url.text if cfg.url_sanitizer.enabled and cfg.url_sanitizer.sanitize_span_name else None
        self._name_sql = sql_span_name if sql_on else None

        # shapes (digits as "0") of values the detectors left unchanged: values that differ only in their digits
        # (`order 81723 not found`, an id in a URL path) miss the value caches but not this one
        self._shapes: set[bytes] | None = None
        if size > 0 and not self._blocked_rx and not (self.detectors.enabled & {"ipv4", "ipv6"}):
            self._shapes = set()
        self._shapes_max = size
        self.scan, self.scan_small = _cached(self._scan_raw, size)
        self.name = _cached(self._name_raw, max(size // 4, 0))[0]
        self._key_acts: dict[str, Action] = {}
        self._nested_acts: dict[str, Action] = {}
        self.key_actions = self._key_acts  # the hot loop reads this dict directly
        self._mask_blocked_key = Act(Act.MASK, "blocked_key", _cached(self._masker("blocked_key", True), size)[0])
        self._mask_sensitive = Act(Act.MASK, "sensitive_keys", _cached(self._masker("sensitive_keys", False), size)[0])

    # ---- masks ---------------------------------------------------------------------------------------------

    def mask(self, rule: str, secret: str) -> str:
        if self.hasher is not None:
            return self.hasher(secret)
        m = self._masks.get(rule)
        if m is None:
            m = self._masks[rule] = self._mask_fmt.replace("{rule}", rule)
        return m

    def _collector_mask(self, secret: str) -> str:
        return self.hasher(secret) if self.hasher is not None else COLLECTOR_MASK

    # ---- keys ----------------------------------------------------------------------------------------------

    def classify(self, key: str, nested: bool = False) -> Action:
        """The action for an attribute key; `nested` keys (inside a kvlist value) are not subject to the
        allow-list. Decisions are remembered (bounded)."""
        cache = self._nested_acts if nested else self._key_acts
        if len(cache) >= 8192:
            cache.clear()
        act = cache[key] = self._classify(key, nested)
        return act

    def _classify(self, k: str, nested: bool) -> Action:
        if k in self._ignored or any(p.search(k) for p in self._ignored_rx):
            return IGNORE_ACT
        if not nested and not self._allow_all and k not in self._allowed_keys:
            return Act(Act.REMOVE, "allowed_keys")
        if not self._keep_gen_ai and (k in GEN_AI_KEYS or k.startswith(GEN_AI_PREFIXES)):
            return Act(Act.REMOVE, "gen_ai")
        if any(p.search(k) for p in self._blocked_key_rx):
            return self._mask_blocked_key
        if self._sensitive_keys and SENSITIVE_KEY.search(k) is not None:
            return self._mask_sensitive
        return self._sanitized_keys.get(k, GENERIC)

    # ---- values --------------------------------------------------------------------------------------------

    def _allowed(self, s: str) -> bool:
        return any(p.search(s) for p in self._allowed_rx)

    def _scan_raw(self, s: str) -> Result:
        if self._allowed_rx and self._allowed(s):
            return ALLOWED
        shapes = self._shapes
        if shapes is None or len(s) > SMALL_VALUE:
            return self._detect(s, s, [])
        raw = s.encode("utf-8", "surrogatepass")
        shape = raw.translate(_DIGITS)
        if shape == raw:
            return self._detect(s, s, [])
        if shape in shapes:
            return None
        r = self._detect(s, s, [])
        if r is None and shape_decides(shape):
            if len(shapes) >= self._shapes_max:
                shapes.clear()
            shapes.add(shape)
        return r

    def _detect(self, original: str, s: str, rules: list[str]) -> Result:
        for rx in self._blocked_rx:
            if rx.search(s) is not None:
                s = rx.sub(lambda m: self._collector_mask(m.group(0)), s)
                rules.append("blocked_values")
        s = self.detectors.scan(s, rules)
        if s == original:
            return None
        return s, tuple(rules)

    def _sanitizing(self, fn: Callable[[str], str], rule: str, size: int) -> Act:
        def raw(s: str) -> Result:
            if self._allowed_rx and self._allowed(s):
                return ALLOWED
            new = fn(s)
            # the detectors see the sanitized value through the value cache: sanitized statements repeat a lot
            # (`WHERE id = ?`) even when the originals do not
            r = self.scan(new)
            rules: tuple[str, ...] = (rule,) if new != s else ()
            if r is not None and r is not ALLOWED:
                new, rules = r[0], rules + r[1]
            return (new, rules) if new != s else None

        return Act(Act.SANITIZE, rule, _cached(raw, size)[0])

    def _masker(self, rule: str, collector: bool) -> Callable[[str], Result]:
        def raw(s: str) -> Result:
            if self._allowed_rx and self._allowed(s):
                return ALLOWED
            new = self._collector_mask(s) if collector else self.mask(rule, s)
            return (new, (rule,)) if new != s else None

        return raw

    def _name_raw(self, s: str) -> Result:
        if self._allowed_rx and self._allowed(s):
            return None
        new, rules = s, []
        if self._name_url is not None:
            new = self._name_url(new)
            if new != s:
                rules.append("url_sanitizer")
        if self._name_sql is not None:
            before = new
            new = self._name_sql(new)
            if new != before:
                rules.append("db_sanitizer")
        return self._detect(s, new, rules)

    def value(self, v: Any, act: Action, rules: list[str], depth: int = 0) -> bool | None:
        """Apply `act` to an AnyValue of any type, in place. True: changed (rules appended); None: allowed by
        allowed_values; False: unchanged."""
        kind = v.WhichOneof("value")
        if kind == "string_value":
            return self._apply_str(v, "string_value", v.string_value, act, rules)
        if kind == "array_value":
            if depth >= 16:
                return False
            changed = False
            for item in v.array_value.values:
                changed = bool(self.value(item, act, rules, depth + 1)) or changed
            return changed
        if kind == "kvlist_value":
            if depth >= 16:
                return False
            return self.kvlist(v.kvlist_value.values, act, rules, depth + 1)
        if not self.redact_all_types or kind is None:
            return False
        if kind == "bytes_value":
            raw = v.bytes_value
            text = raw.decode("utf-8", "replace")
            r = self._run(act, text)
            if r is None or r is ALLOWED:
                return None if r is ALLOWED else False
            v.bytes_value = r[0].encode()
            rules.extend(r[1])
            return True
        if isinstance(act, Act) and act.code == Act.SANITIZE:
            return False  # URL and statement sanitizers are for strings
        generic_only = act is GENERIC and not self._blocked_rx
        if kind == "int_value":
            n = v.int_value
            if generic_only and -(10**12) < n < 10**12:  # too short to be a card number
                return False
            text = str(n)
        elif generic_only:
            return False
        elif kind == "double_value":
            text = repr(v.double_value)
        else:  # bool_value
            text = "true" if v.bool_value else "false"
        return self._apply_str(v, "string_value", text, act, rules)

    def _run(self, act: Action, s: str) -> Result:
        if act is GENERIC:
            return self.scan(s)
        assert isinstance(act, Act) and act.fn is not None
        return act.fn(s)

    def _apply_str(self, v: Any, field: str, s: str, act: Action, rules: list[str]) -> bool | None:
        if not s:
            return False
        r = self._run(act, s)
        if r is None:
            return False
        if r is ALLOWED:
            return None
        setattr(v, field, r[0])
        rules.extend(r[1])
        return True

    def kvlist(self, kvs: Any, parent: Action, rules: list[str], depth: int) -> bool:
        """A kvlist value: nested keys get their own action, except that a masked or sanitized parent key
        applies to everything below it."""
        changed = False
        remove = []
        for i, kv in enumerate(kvs):
            act = parent if parent is not GENERIC else self._nested_acts.get(kv.key)
            if act is None:
                act = self.classify(kv.key, nested=True)
            if isinstance(act, Act):
                if act.code == Act.IGNORE:
                    continue
                if act.code == Act.REMOVE:
                    remove.append(i)
                    rules.append(act.rule)
                    continue
            changed = bool(self.value(kv.value, act, rules, depth)) or changed
        for i in reversed(remove):
            del kvs[i]
        return changed or bool(remove)
