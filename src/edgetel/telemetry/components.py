"""The standard counters every receiver, processor and exporter exports, by component id."""

from __future__ import annotations

from edgetel.telemetry.selfmetrics import Child, Registry

UNITS = ("spans", "metric_points")


class ReceiverMetrics:
    """accepted / refused items per receiver (and transport), by signal unit."""

    def __init__(self, registry: Registry, receiver: str, transport: str = "") -> None:
        self._registry = registry
        self._labels = (receiver, transport)
        self._accepted = {u: self._child("accepted", u) for u in UNITS}
        self._refused = {u: self._child("refused", u) for u in UNITS}

    def _child(self, what: str, unit: str) -> Child:
        help_text = {
            "accepted": f"{unit} accepted by the receiver and pushed into the pipeline",
            "refused": f"{unit} the receiver could not push into the pipeline (malformed or pushed back)",
        }[what]
        return self._registry.counter(
            f"edgetel_receiver_{what}_{unit}_total", help_text, ("receiver", "transport")
        ).labels(*self._labels)

    def accepted(self, unit: str, n: int) -> None:
        self._accepted[unit].inc(n)

    def refused(self, unit: str, n: int) -> None:
        self._refused[unit].inc(n)


class ProcessorMetrics:
    def __init__(self, registry: Registry, processor: str) -> None:
        self._registry = registry
        self._processor = processor
        self._dropped: dict[tuple[str, str], Child] = {}

    def dropped(self, unit: str, reason: str, n: int) -> None:
        key = (unit, reason)
        child = self._dropped.get(key)
        if child is None:
            child = self._dropped[key] = self._registry.counter(
                f"edgetel_processor_dropped_{unit}_total",
                f"{unit} dropped by the processor, by reason",
                ("processor", "reason"),
            ).labels(self._processor, reason)
        child.inc(n)


class ExporterMetrics:
    def __init__(self, registry: Registry, exporter: str) -> None:
        self.registry = registry
        self.exporter = exporter
        self._sent = {u: self._counter("sent", u, "delivered to the backend") for u in UNITS}
        self._failed = {u: self._counter("send_failed", u, "given up on (retries exhausted or refused)") for u in UNITS}
        self._enqueue_failed = {
            u: self._counter("enqueue_failed", u, "refused because the exporter queue was full") for u in UNITS
        }
        self.queue_size = registry.gauge(
            "edgetel_exporter_queue_size", "batches waiting in the exporter's queue", ("exporter",)
        ).labels(exporter)
        self.queue_capacity = registry.gauge(
            "edgetel_exporter_queue_capacity", "the exporter queue's capacity in batches", ("exporter",)
        ).labels(exporter)
        self._retries = registry.counter(
            "edgetel_exporter_retries_total", "send attempts that failed with a retryable error", ("exporter",)
        ).labels(exporter)

    def _counter(self, what: str, unit: str, help_text: str) -> Child:
        return self.registry.counter(
            f"edgetel_exporter_{what}_{unit}_total", f"{unit} {help_text}", ("exporter",)
        ).labels(self.exporter)

    def sent(self, unit: str, n: int) -> None:
        self._sent[unit].inc(n)

    def send_failed(self, unit: str, n: int) -> None:
        self._failed[unit].inc(n)

    def enqueue_failed(self, unit: str, n: int) -> None:
        self._enqueue_failed[unit].inc(n)

    def retried(self) -> None:
        self._retries.inc()
