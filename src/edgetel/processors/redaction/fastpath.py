"""The compiled redaction walk (edgetel._native.redact) over a batch's serialized bytes.

It reproduces the Python walker in processor.py (the reference and the fallback) for the configurations it
covers: `summary: silent`, no `allowed_values` and no `blocked_values` (the default agent.yaml's rules are
covered). Everything else, a batch the walker does not take on (malformed bytes, a field repeated where protobuf
would merge), any error in the compiled walk, and batches of protobuf objects that need a change (see `run`) go
to the Python walker.

Per key the walker asks `classify` once (cached in C); strings go to Python only when the prefilter of
redact_text.h says a detector might match or its sanitizers are unsure; arrays and maps are walked as
`Rules.value` walks them; scalars that need a rule go through `Rules.value` on a decoded AnyValue.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from edgetel import _native
from edgetel.pdata import Batch, Traces
from edgetel.processors.redaction.config import RedactionConfig
from edgetel.processors.redaction.rules import ALLOWED, GEN_AI_EVENT_KEYS, GENERIC, Act, Action, Rules
from edgetel.processors.redaction.sanitizers import SQL_KEYWORDS

_native_redact = _native.load("redact")

# classify() codes of the C walker (the A_* enum in redact_attrs.h): Act codes, then the sanitizers it runs itself
_SANITIZER_CODES = {"url": 5, "sql": 6, "statement": 7}
_PYTHON_SANITIZER = 4


def covers(cfg: RedactionConfig) -> bool:
    """Whether the compiled walk gives the Python walker's results for this configuration."""
    return cfg.summary == "silent" and not cfg.allowed_values and not cfg.blocked_values


class FastPath:
    """The compiled walk for one processor; `run` redacts a batch or says the Python walker must."""

    def __init__(self, cfg: RedactionConfig, rules: Rules, walker_module: ModuleType) -> None:
        self.rules = rules
        enabled = walker_module.detectors_mask(rules.detectors.enabled)
        self.walker = walker_module.Walker(
            classify=self._classify,
            scan=rules.scan,
            name=rules.name,
            value=self._value,
            allowed=ALLOWED,
            enabled=enabled,
            scalars=rules.scalars,
            name_url=cfg.url_sanitizer.enabled and cfg.url_sanitizer.sanitize_span_name,
            name_sql=cfg.db_sanitizer.sql.enabled and cfg.db_sanitizer.sanitize_span_name,
            gen_ai_event_keys=None if cfg.keep_gen_ai_content else tuple(k.encode() for k in GEN_AI_EVENT_KEYS),
            sql_keywords=frozenset(k.encode() for k in SQL_KEYWORDS),
        )

    def _classify(self, key: str, nested: bool) -> tuple[int, str, Any, Action]:
        rules = self.rules
        act = None if nested else rules.key_actions.get(key)
        if act is None:
            act = rules.classify(key, nested)
        if act is GENERIC:
            return 0, "", None, act
        assert isinstance(act, Act)
        code = act.code
        if code == Act.SANITIZE:
            code = _SANITIZER_CODES.get(rules.native_sanitizers.get(act, ""), _PYTHON_SANITIZER)
        return code, act.rule, act.fn, act

    def _value(self, act: Action, raw: bytes) -> tuple[bytes, tuple[str, ...]] | None:
        v = AnyValue.FromString(raw)
        fired: list[str] = []
        if not self.rules.value(v, act, fired):
            return None
        return v.SerializeToString(), tuple(fired)

    def run(self, batch: Batch) -> dict[str, int] | None:
        """Redact `batch` in place and return the counts per rule, or None: the Python walker must do it."""
        raw = batch.received_bytes()
        # A batch of protobuf objects (made in the agent) is changed in place, by the Python walker. Metrics
        # made here (StatsD, host metrics) rarely need a change: the compiled walk checks them; traces (a URL or
        # a statement in nearly every span) go to the Python walker at once.
        built = raw is None
        if raw is None:
            if isinstance(batch, Traces):
                return None
            raw = batch.serialize()
        counts: dict[str, int] = {}
        walk = self.walker.traces if isinstance(batch, Traces) else self.walker.metrics
        try:
            out = walk(raw, counts)
        except Exception:  # the Python walker is the reference: it redacts or refuses this batch
            return None
        if out is None or (built and out is not raw):
            return None
        if out is not raw:
            # the batch now holds the new bytes (decoded only if someone reads it); its item count is unchanged
            batch.replace_bytes(out)
        return counts


def native_module() -> ModuleType | None:
    """edgetel._native.redact, or None when it is not built."""
    return _native_redact


def create(cfg: RedactionConfig, rules: Rules) -> FastPath | None:
    """The compiled walk for this configuration, or None (not covered, or the module is not built)."""
    if _native_redact is None or not covers(cfg):
        return None
    return FastPath(cfg, rules, _native_redact)
