"""The redaction processor: walks the OTLP messages of a batch in place and redacts every attribute map, span
and event name, status message and metric name, then hands the batch on.

The walk reads upb messages directly. Per attribute it decides by key first (one dict lookup), then runs the
value rules only on strings, through bounded LRU caches. When edgetel._native.redact is built and the
configuration is one it covers (fastpath.py), the compiled walk over the batch's bytes runs instead; this walker
stays the reference and the fallback.
"""

from __future__ import annotations

from typing import Any

from edgetel.component.errors import PermanentError
from edgetel.component.factory import CreateContext
from edgetel.component.protocols import Consumer
from edgetel.pdata import Batch, Traces
from edgetel.processors.redaction import fastpath
from edgetel.processors.redaction.config import RedactionConfig
from edgetel.processors.redaction.hashing import Hasher
from edgetel.processors.redaction.rules import (
    ALLOWED,
    ALLOWED_COUNT,
    ALLOWED_KEYS,
    GEN_AI_EVENT_KEYS,
    GENERIC,
    IGNORED_COUNT,
    MASKED_COUNT,
    MASKED_KEYS,
    REDACTED_COUNT,
    REDACTED_KEYS,
    SMALL_VALUE,
    Act,
    Rules,
)
from edgetel.telemetry.components import ProcessorMetrics
from edgetel.telemetry.selfmetrics import Child

_DATA_KINDS = ("gauge", "sum", "histogram", "exponential_histogram")
_SCALARS = frozenset({"int_value", "double_value", "bool_value", "bytes_value"})
_CARD_MIN = 10**12  # the smallest 13-digit number


class RedactionProcessor:
    mutates = True

    def __init__(self, ctx: CreateContext, cfg: RedactionConfig, nxt: Consumer, hasher: Hasher | None) -> None:
        self.next = nxt
        self.name = str(ctx.id)
        self.logger = ctx.logger
        self.rules = Rules(cfg, hasher)
        self.metrics = ProcessorMetrics(ctx.metrics, self.name)
        self._summary = cfg.summary
        self._keep_gen_ai = cfg.keep_gen_ai_content
        self._family = ctx.metrics.counter(
            "edgetel_redaction_redacted_total",
            "values removed, masked or sanitized by the redaction processor, by rule and signal",
            ("processor", "rule", "signal"),
        )
        self._children: dict[tuple[str, str], Child] = {}
        self.fast = fastpath.create(cfg, self.rules)

    async def start(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def consume(self, batch: Batch) -> None:
        try:
            counts = self.fast.run(batch) if self.fast is not None else None
            if counts is None:
                counts = {}
                if isinstance(batch, Traces):
                    self.traces(batch.request, counts)
                else:
                    self.metrics_request(batch.request, counts)
        except Exception as e:  # a bug must not let unredacted data through: refuse the batch instead
            self.metrics.dropped(batch.unit, "redaction_failed", batch.item_count())
            # no traceback: its frames could hold the very values being redacted
            self.logger.error(
                "redaction failed; batch refused", extra={"processor": self.name, "error": type(e).__name__}
            )
            raise PermanentError("redaction failed") from e
        if counts:
            signal = batch.signal.value
            for rule, n in counts.items():
                child = self._children.get((rule, signal))
                if child is None:
                    child = self._children[(rule, signal)] = self._family.labels(self.name, rule, signal)
                child.inc(n)
        await self.next.consume(batch)

    # ---- walks ---------------------------------------------------------------------------------------------

    def traces(self, req: Any, counts: dict[str, int]) -> None:
        attrs = self.attrs
        scan = self.rules.scan
        name_fn = self.rules.name
        gen_ai_events = None if self._keep_gen_ai else GEN_AI_EVENT_KEYS
        for rs in req.resource_spans:
            attrs(rs.resource.attributes, counts)
            for ss in rs.scope_spans:
                attrs(ss.scope.attributes, counts)
                for span in ss.spans:
                    r = name_fn(span.name)
                    if r is not None and r is not ALLOWED:
                        span.name = r[0]
                        _count(counts, r[1])
                    attrs(span.attributes, counts)
                    if span.events:
                        for ev in span.events:
                            name = ev.name
                            r = scan(name)
                            if r is not None and r is not ALLOWED:
                                ev.name = r[0]
                                _count(counts, r[1])
                            extra = gen_ai_events if name.startswith("gen_ai.") else None
                            attrs(ev.attributes, counts, extra)
                    if span.links:
                        for link in span.links:
                            attrs(link.attributes, counts)
                    status = span.status
                    msg = status.message
                    if msg:
                        r = scan(msg)
                        if r is not None and r is not ALLOWED:
                            status.message = r[0]
                            _count(counts, r[1])

    def metrics_request(self, req: Any, counts: dict[str, int]) -> None:
        attrs = self.attrs
        scan = self.rules.scan
        for rm in req.resource_metrics:
            attrs(rm.resource.attributes, counts)
            for sm in rm.scope_metrics:
                attrs(sm.scope.attributes, counts)
                for metric in sm.metrics:
                    r = scan(metric.name)
                    if r is not None and r is not ALLOWED:
                        metric.name = r[0]
                        _count(counts, r[1])
                    kind = metric.WhichOneof("data")
                    if kind is None:
                        continue
                    with_exemplars = kind in _DATA_KINDS
                    for dp in getattr(metric, kind).data_points:
                        attrs(dp.attributes, counts)
                        if with_exemplars and dp.exemplars:
                            for ex in dp.exemplars:
                                attrs(ex.filtered_attributes, counts)

    def attrs(self, kvs: Any, counts: dict[str, int], extra_remove: frozenset[str] | None = None) -> None:
        """Redact one attribute map (a repeated KeyValue) in place."""
        if not kvs:
            return
        rules = self.rules
        acts = rules.key_actions
        scan = rules.scan
        small = rules.scan_small
        scalars = rules.scalars
        masked: list[str] | None = None
        removed: list[tuple[str, str]] | None = None
        allowed: list[str] | None = None
        ignored = 0
        for kv in kvs:
            k = kv.key
            act = acts.get(k)
            if act is None:
                act = rules.classify(k)
            if extra_remove is not None and k in extra_remove:
                act = _GEN_AI_REMOVE
            if act is GENERIC:
                fn = None
            else:
                assert isinstance(act, Act)
                code = act.code
                if code == Act.IGNORE:
                    ignored += 1
                    continue
                if code == Act.REMOVE:
                    removed = [(k, act.rule)] if removed is None else [*removed, (k, act.rule)]
                    continue
                fn = act.fn  # mask or sanitize
            v = kv.value
            s = v.string_value
            if s:  # the common case, inline
                if fn is None:
                    r = small(s) if len(s) <= SMALL_VALUE else scan(s)
                else:
                    r = fn(s)
                if r is None:
                    continue
                if r is ALLOWED:
                    allowed = [k] if allowed is None else [*allowed, k]
                    continue
                v.string_value = r[0]
                _count(counts, r[1])
                masked = [k] if masked is None else [*masked, k]
                continue
            w = v.WhichOneof("value")
            if w is None or w == "string_value":
                continue
            if w in _SCALARS and scalars != 2 and act is GENERIC:
                if scalars == 0 or w in ("double_value", "bool_value"):
                    continue
                if w == "int_value" and -_CARD_MIN < v.int_value < _CARD_MIN:
                    continue
            fired: list[str] = []
            changed = rules.value(v, act, fired)
            if changed is None:
                allowed = [k] if allowed is None else [*allowed, k]
            elif changed:
                masked = [k] if masked is None else [*masked, k]
                _count(counts, fired)
        if removed is not None:
            gone = {k for k, _ in removed}
            for i in range(len(kvs) - 1, -1, -1):
                if kvs[i].key in gone:
                    del kvs[i]
            _count(counts, [rule for _, rule in removed])
        if self._summary != "silent" and (masked or removed or allowed or ignored):
            self._add_summary(kvs, [k for k, _ in removed or ()], masked or [], allowed or [], ignored)

    def _add_summary(self, kvs: Any, removed: list[str], masked: list[str], allowed: list[str], ignored: int) -> None:
        debug = self._summary == "debug"
        for keys, keys_attr, count_attr in (
            (removed, REDACTED_KEYS, REDACTED_COUNT),
            (masked, MASKED_KEYS, MASKED_COUNT),
            (allowed, ALLOWED_KEYS, ALLOWED_COUNT),
        ):
            if keys:
                if debug:
                    _merge_keys(kvs, keys_attr, keys)
                _add_count(kvs, count_attr, len(keys))
        if ignored:
            _add_count(kvs, IGNORED_COUNT, ignored)


_GEN_AI_REMOVE = Act(Act.REMOVE, "gen_ai")


def _count(counts: dict[str, int], rules: Any) -> None:
    for rule in rules:
        counts[rule] = counts.get(rule, 0) + 1


def _find(kvs: Any, key: str) -> Any:
    for kv in kvs:
        if kv.key == key:
            return kv
    return None


def _merge_keys(kvs: Any, attr: str, keys: list[str]) -> None:
    # like the Collector: merged with an existing value, sorted, comma-separated
    kv = _find(kvs, attr)
    if kv is None:
        kv = kvs.add(key=attr)
    existing = kv.value.string_value
    names = sorted([*keys, *existing.split(",")] if existing else keys)
    kv.value.string_value = ",".join(names)


def _add_count(kvs: Any, attr: str, n: int) -> None:
    kv = _find(kvs, attr)
    if kv is None:
        kv = kvs.add(key=attr)
    kv.value.int_value = kv.value.int_value + n
