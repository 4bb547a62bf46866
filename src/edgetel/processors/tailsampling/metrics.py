"""Self metrics of the tail_sampling processor (labels `processor`, `pipeline`)."""

from __future__ import annotations

from typing import Any

from edgetel.component.factory import CreateContext
from edgetel.telemetry.components import ProcessorMetrics
from edgetel.telemetry.selfmetrics import Child


class TailSamplingMetrics:
    """The processor's own metrics (see README)."""

    def __init__(self, ctx: CreateContext, proc: Any) -> None:
        reg, name = ctx.metrics, str(ctx.id)
        pipe = str(ctx.pipeline or "")
        self.name, self.pipeline = name, pipe
        lbl = ("processor", "pipeline")
        self.spans_received = reg.counter(
            "edgetel_tailsampling_spans_received_total", "spans received by the tail sampler", lbl
        ).labels(name, pipe)
        self.traces_received = reg.counter(
            "edgetel_tailsampling_traces_received_total", "new trace ids buffered for a decision", lbl
        ).labels(name, pipe)
        self._policy = reg.counter(
            "edgetel_tailsampling_policy_decisions_total",
            "traces evaluated per policy, by whether the policy would keep them",
            ("processor", "pipeline", "policy", "decision"),
        )
        traces = reg.counter(
            "edgetel_tailsampling_traces_decided_total", "final trace decisions", ("processor", "pipeline", "decision")
        )
        spans = reg.counter(
            "edgetel_tailsampling_spans_decided_total", "spans in decided traces", ("processor", "pipeline", "decision")
        )
        self.traces_kept, self.traces_dropped = (
            traces.labels(name, pipe, "sampled"),
            traces.labels(name, pipe, "not_sampled"),
        )
        self.spans_kept, self.spans_dropped = (
            spans.labels(name, pipe, "sampled"),
            spans.labels(name, pipe, "not_sampled"),
        )
        late = reg.counter(
            "edgetel_tailsampling_late_spans_total",
            "spans of an already decided trace, released or dropped by the cached decision",
            ("processor", "pipeline", "outcome"),
        )
        self.late_kept, self.late_dropped = late.labels(name, pipe, "sampled"), late.labels(name, pipe, "not_sampled")
        self._early = reg.counter(
            "edgetel_tailsampling_early_decisions_total",
            "traces decided before decision_wait, by reason",
            ("processor", "pipeline", "reason"),
        )
        self.delay_sum = reg.counter(
            "edgetel_tailsampling_decision_delay_seconds_sum", "seconds from a trace's first span to its decision", lbl
        ).labels(name, pipe)
        self.delay_count = reg.counter(
            "edgetel_tailsampling_decision_delay_seconds_count", "decisions timed in the delay sum", lbl
        ).labels(name, pipe)
        self.lateness = reg.gauge(
            "edgetel_tailsampling_decision_lateness_seconds",
            "the most a decision ran after its due time in the last decision pass",
            lbl,
        ).labels(name, pipe)
        self.gauges = [
            (reg.gauge("edgetel_tailsampling_traces_held", "traces buffered awaiting a decision", lbl),
             lambda: float(len(proc._traces))),
            (reg.gauge("edgetel_tailsampling_spans_held", "spans buffered awaiting a decision", lbl),
             lambda: float(proc._spans_held)),
            (reg.gauge("edgetel_tailsampling_bytes_held", "bytes buffered (spans plus accounting overhead)", lbl),
             lambda: float(proc._bytes)),
        ]  # fmt: skip
        for fam, fn in self.gauges:
            fam.set_function((name, pipe), fn)
        self.common = ProcessorMetrics(reg, name)
        self._policy_children: dict[tuple[str, bool], Child] = {}
        self._early_children: dict[str, Child] = {}

    def policy(self, policy: str, sampled: bool) -> Child:
        key = (policy, sampled)
        c = self._policy_children.get(key)
        if c is None:
            c = self._policy_children[key] = self._policy.labels(
                self.name, self.pipeline, policy, "sampled" if sampled else "not_sampled"
            )
        return c

    def early(self, reason: str, n: int = 1) -> None:
        c = self._early_children.get(reason)
        if c is None:
            c = self._early_children[reason] = self._early.labels(self.name, self.pipeline, reason)
        c.inc(n)

    def close(self) -> None:
        for fam, _ in self.gauges:
            fam.set_function((self.name, self.pipeline), None)
