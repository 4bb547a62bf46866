"""Counters and logs for what a backend answered: failures by status code and OTLP partial success."""

from __future__ import annotations

import logging

from edgetel.telemetry.selfmetrics import Child, Registry


class ExportOutcomes:
    def __init__(self, registry: Registry, exporter: str, logger: logging.Logger) -> None:
        self._registry = registry
        self.exporter = exporter
        self.log = logger
        self._errors: dict[str, Child] = {}
        self._partial = {
            unit: registry.counter(
                f"edgetel_exporter_partial_rejected_{unit}_total",
                f"{unit} the backend accepted the request for but rejected (OTLP partial success)",
                ("exporter",),
            ).labels(exporter)
            for unit in ("spans", "metric_points")
        }

    def error(self, code: str) -> None:
        """Count one failed send attempt by the backend's status (gRPC code name or HTTP status)."""
        child = self._errors.get(code)
        if child is None:
            child = self._errors[code] = self._registry.counter(
                "edgetel_exporter_send_errors_total",
                "send attempts the backend or the transport failed, by gRPC code or HTTP status",
                ("exporter", "code"),
            ).labels(self.exporter, code)
        child.inc()

    def partial(self, unit: str, rejected: int, message: str) -> None:
        """An OTLP partial success: count the rejected items, log the server's message (deduplicated)."""
        if rejected > 0:
            self._partial[unit].inc(rejected)
        if rejected > 0 or message:
            self.log.warning(
                "backend rejected part of the data (partial success)",
                extra={"exporter": self.exporter, "rejected": rejected, "unit": unit, "error": message},
            )
