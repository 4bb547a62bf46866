"""The hostmetrics receiver: every `collection_interval`, run the scrapers in a worker thread and push one
`Metrics` batch into the metrics pipeline.

A scraper that fails is counted (`edgetel_hostmetrics_scrape_errors_total{receiver,scraper}`) and logged
when it starts failing (and when it recovers); the other scrapers still report. A batch the pipeline pushes
back is counted as refused and dropped: host metrics are simply scraped again at the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from edgetel.component.errors import PermanentError, RetryableError
from edgetel.component.factory import CreateContext
from edgetel.component.ids import Signal
from edgetel.component.protocols import Consumer
from edgetel.pdata import Metrics
from edgetel.receivers.hostmetrics.config import HostMetricsConfig
from edgetel.receivers.hostmetrics.otlp import RequestBuilder, kv
from edgetel.receivers.hostmetrics.procfs import HostPaths
from edgetel.receivers.hostmetrics.scrapers import PartialScrapeError, ScrapeEnv, Scraper, build
from edgetel.receivers.hostmetrics.scrapers.process import ProcessScraper
from edgetel.telemetry.components import ReceiverMetrics

UNIT = "metric_points"


class HostMetricsReceiver:
    def __init__(self, ctx: CreateContext, cfg: HostMetricsConfig, consumers: Mapping[Signal, Consumer]) -> None:
        self._ctx = ctx
        self._cfg = cfg
        self._log: logging.Logger = ctx.logger
        self._consumer = consumers[Signal.METRICS]
        self._name = str(ctx.id)
        self.host = HostPaths(cfg.root_path)
        self.env = ScrapeEnv(self.host)
        self.scrapers: list[Scraper] = [
            build(name, scfg, self.env, cfg.metric_names) for name, scfg in cfg.scrapers.enabled().items()
        ]
        self._host_attrs = [kv("host.name", self.host.hostname()), kv("os.type", "linux")]
        self._failing: set[str] = set()
        self._task: asyncio.Task[None] | None = None

        reg = ctx.metrics
        self._metrics = ReceiverMetrics(reg, self._name, "scrape")
        errors = reg.counter(
            "edgetel_hostmetrics_scrape_errors_total", "scrapes in which a scraper failed", ("receiver", "scraper")
        )
        self._errors = {s.name: errors.labels(self._name, s.name) for s in self.scrapers}
        self._duration = reg.gauge(
            "edgetel_hostmetrics_scrape_duration_seconds", "wall time of the last scrape", ("receiver",)
        ).labels(self._name)
        self._cpu = reg.counter(
            "edgetel_hostmetrics_scrape_cpu_seconds_total", "CPU time spent scraping (worker thread)", ("receiver",)
        ).labels(self._name)
        self._proc_errors = reg.counter(
            "edgetel_hostmetrics_process_errors_total",
            "process details the process scraper could not read, by kind (name, exe, io, user)",
            ("receiver", "kind"),
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"hostmetrics:{self._name}")

    async def shutdown(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        interval = float(self._cfg.collection_interval)
        await asyncio.sleep(float(self._cfg.initial_delay))
        next_at = time.monotonic()
        while True:
            try:
                batch = await asyncio.to_thread(self.scrape)
                await self.push(batch)
            except Exception:  # a bug must not end the scrape loop for good
                self._log.exception("host metrics scrape failed", extra={"receiver": self._name})
            next_at += interval
            now = time.monotonic()
            if next_at < now:  # a scrape or push overran: skip the missed ticks
                next_at = now + interval - (now - next_at) % interval
            await asyncio.sleep(next_at - now)

    async def push(self, batch: Metrics) -> None:
        n = batch.item_count()
        if n == 0:
            return
        try:
            await self._consumer.consume(batch)
        except RetryableError as e:
            self._metrics.refused(UNIT, n)
            self._log.warning(
                "pipeline refused host metrics; dropped, next scrape follows",
                extra={"receiver": self._name, "points": n, "error": str(e)},
            )
        except PermanentError as e:
            self._metrics.refused(UNIT, n)
            self._log.error(
                "pipeline rejected host metrics", extra={"receiver": self._name, "points": n, "error": str(e)}
            )
        else:
            self._metrics.accepted(UNIT, n)

    def scrape(self) -> Metrics:
        """One scrape of every scraper (blocking: runs in a worker thread)."""
        t0, c0 = time.perf_counter(), time.thread_time()
        now = time.time_ns()
        out = RequestBuilder(self._host_attrs)
        self.env.begin()
        for scraper in self.scrapers:
            try:
                scraper.scrape(out, now)
            except Exception as e:
                self._scraper_failed(scraper, e)
            else:
                if scraper.name in self._failing:
                    self._failing.discard(scraper.name)
                    self._log.info("scraper recovered", extra={"receiver": self._name, "scraper": scraper.name})
            if isinstance(scraper, ProcessScraper):
                self._process_errors(scraper)
        out.drop_empty()
        self._duration.set(time.perf_counter() - t0)
        self._cpu.inc(time.thread_time() - c0)
        return Metrics(out.request)

    def _scraper_failed(self, scraper: Scraper, e: Exception) -> None:
        self._errors[scraper.name].inc()
        if scraper.name not in self._failing:
            self._failing.add(scraper.name)
            self._log.warning(
                "scraper failed; its metrics are missing until it recovers"
                if not isinstance(e, PartialScrapeError)
                else "scraper could not read everything",
                extra={"receiver": self._name, "scraper": scraper.name, "error": f"{type(e).__name__}: {e}"},
            )

    def _process_errors(self, scraper: ProcessScraper) -> None:
        unmuted = {}
        for kind, n in scraper.last_errors.items():
            self._proc_errors.labels(self._name, kind).inc(n)
            if kind not in scraper.muted:
                unmuted[kind] = n
        if unmuted:
            # One line per scrape at most (and the log handler folds repeats of it).
            self._log.warning(
                "process scraper could not read some process details (permission denied or unreadable)",
                extra={
                    "receiver": self._name,
                    "counts": ",".join(f"{k}={v}" for k, v in sorted(unmuted.items())),
                    "example_pids": ",".join(f"{k}:{scraper.example_pid[k]}" for k in sorted(unmuted)),
                },
            )
