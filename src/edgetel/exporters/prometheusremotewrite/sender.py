"""The remote-write sender: translate a batch once, cut it into requests, POST them in order.

A batch becomes requests of at most `max_samples_per_send` samples and `max_batch_bytes` (uncompressed). A retry
of the same batch (QueuedExporter calls `send` again) resumes at the first request not yet delivered, so the
translation (and its delta sums) happens once per batch. 5xx, 429 and transport errors are retryable
(`Retry-After` honoured); any other 4xx drops that one request (counted, logged with the server's message) and
the next goes on: one poisoned request never stalls the queue.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import logging
import os
import time
from collections import OrderedDict
from typing import Any

from edgetel import __version__
from edgetel.component.factory import CreateContext
from edgetel.exporters.prometheusremotewrite import encode as enc
from edgetel.exporters.prometheusremotewrite.config import Config
from edgetel.exporters.prometheusremotewrite.translate import Translator
from edgetel.helpers.export_outcomes import ExportOutcomes
from edgetel.helpers.exporter import ExportError, QueuedExporter, queued_exporter
from edgetel.helpers.http11.client import ClientError, HTTPClient
from edgetel.helpers.tls import ssl_context
from edgetel.pdata import Batch, Metrics
from edgetel.telemetry.selfmetrics import Registry

REQUIRED_HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "User-Agent": f"edgetel/{__version__}",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
# Prometheus answers 500 to native histograms when its feature flag is off; retrying cannot help.
_PERMANENT_500 = ("native histograms are disabled",)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Prepared:
    __slots__ = ("batch", "next", "rejected", "requests")

    def __init__(self, batch: Batch, requests: list[tuple[bytes, int]]) -> None:
        self.batch = batch
        self.requests = requests  # (snappy body, samples)
        self.next = 0
        self.rejected = 0


class PRWSender:
    def __init__(self, cfg: Config, name: str, registry: Registry, logger: logging.Logger) -> None:
        self.cfg = cfg
        self.name = name
        self.log = logger
        self.outcomes = ExportOutcomes(registry, name, logger)
        self.translator = Translator(
            namespace=cfg.namespace,
            add_metric_suffixes=cfg.add_metric_suffixes,
            resource_to_telemetry=cfg.resource_to_telemetry_conversion.enabled,
            external_labels=cfg.external_labels,
            target_info=cfg.target_info,
            stale_after=float(cfg.stale_after),
            max_series=cfg.max_series,
        )
        self._prepared: OrderedDict[int, _Prepared] = OrderedDict()
        self._lock = asyncio.Lock()
        self._client: HTTPClient | None = None
        self._idle: asyncio.Task[None] | None = None
        self._last_meta = 0.0
        self._last_send = time.monotonic()
        self._last_ok = True
        self._token: tuple[float, str] = (-1.0, "")
        self._server_name: str | None = None
        self._metrics(registry)

    def _metrics(self, registry: Registry) -> None:
        st = self.translator.stats
        self._sent = registry.counter(
            "edgetel_exporter_prw_samples_sent_total", "remote-write samples Prometheus accepted", ("exporter",)
        ).labels(self.name)
        self._dropped = registry.counter(
            "edgetel_exporter_prw_samples_dropped_total",
            "remote-write samples dropped, by reason (rejected: a 4xx answer; out_of_order: older than the "
            "series' last sample; invalid_*: untranslatable points)",
            ("exporter", "reason"),
        )
        registry.counter(
            "edgetel_exporter_prw_series_evicted_total",
            "series whose state (labels, order, delta sums) was dropped because max_series was reached",
            ("exporter",),
        ).set_function((self.name,), lambda: st.evicted)
        registry.counter(
            "edgetel_exporter_prw_stale_markers_total", "stale markers sent for series that disappeared", ("exporter",)
        ).set_function((self.name,), lambda: st.stale_markers)
        registry.gauge(
            "edgetel_exporter_prw_series", "series the remote-write exporter keeps state for", ("exporter",)
        ).set_function((self.name,), lambda: st.series)
        self._reported: dict[str, int] = {}

    def _sync_drops(self) -> None:
        for reason, n in self.translator.stats.dropped.items():
            done = self._reported.get(reason, 0)
            if n > done:
                self._dropped.labels(self.name, reason).inc(n - done)
                self._reported[reason] = n

    # -- lifecycle
    async def start(self) -> None:
        ssl: Any = None
        if self.cfg.endpoint.startswith("https://"):
            ssl = ssl_context(self.cfg.tls)
            self._server_name = self.cfg.tls.server_name_override or None
        self._client = HTTPClient(
            ssl_context=ssl, timeout=float(self.cfg.timeout), max_connections=4, server_hostname=self._server_name
        )
        if self.cfg.stale_after:
            self._idle = asyncio.create_task(self._idle_loop(), name=f"{self.name}-stale")

    async def shutdown(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle
        if self._client is not None:
            await self._client.close()
            self._client = None

    # -- sending
    async def send(self, batch: Batch) -> None:
        if not isinstance(batch, Metrics):
            return
        async with self._lock:
            prep = self._prepared.get(id(batch))
            if prep is None or prep.batch is not batch:
                prep = self._prepare(batch)
            try:
                while prep.next < len(prep.requests):
                    body, samples = prep.requests[prep.next]
                    if not await self._post(body, samples):
                        prep.rejected += 1
                    prep.next += 1
            finally:
                if prep.next >= len(prep.requests):
                    self._prepared.pop(id(batch), None)
            if prep.requests and prep.rejected == len(prep.requests):
                raise ExportError("Prometheus rejected every request of the batch", retryable=False)

    def _prepare(self, batch: Metrics) -> _Prepared:
        now = time.time()
        out = self._requests()
        self.translator.translate(batch, int(now * 1000), out)
        self._sync_drops()
        requests = [(enc.compress(body), n) for body, n in out.finish()]
        if self.cfg.send_metadata and (
            self.translator.new_metadata or time.monotonic() - self._last_meta >= self.cfg.metadata_interval
        ):
            self._last_meta = time.monotonic()
            meta = enc.Requests(1000, int(self.cfg.max_batch_bytes))
            for entry in self.translator.metadata_entries():
                meta.append(entry)
            requests[:0] = [(enc.compress(body), 0) for body, _ in meta.finish()]
        prep = _Prepared(batch, requests)
        self._prepared[id(batch)] = prep
        while len(self._prepared) > 4:  # batches the queue gave up on
            self._prepared.popitem(last=False)
        return prep

    def _requests(self) -> enc.Requests:
        return enc.Requests(self.cfg.max_samples_per_send, int(self.cfg.max_batch_bytes))

    def _headers(self) -> dict[str, str]:
        headers = {k: v.reveal() for k, v in self.cfg.headers.items()}
        auth = self.cfg.auth
        if auth.bearer_token:
            headers["Authorization"] = f"Bearer {auth.bearer_token.reveal()}"
        elif auth.bearer_token_file:
            headers["Authorization"] = f"Bearer {self._read_token(auth.bearer_token_file)}"
        elif auth.basic_auth is not None:
            ba = auth.basic_auth
            password = ba.password.reveal() if ba.password else self._read_token(ba.password_file)
            creds = base64.b64encode(f"{ba.username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {creds}"
        headers.update(REQUIRED_HEADERS)  # user headers never override these
        return headers

    def _read_token(self, path: str) -> str:
        """The file's content, re-read when it changes (rotated tokens)."""
        try:
            mtime = os.stat(path).st_mtime
            if mtime != self._token[0]:
                with open(path, encoding="utf-8") as f:
                    self._token = (mtime, f.read().strip())
        except OSError as e:
            raise ExportError(f"cannot read {path}: {e}", retryable=True) from e
        return self._token[1]

    async def _post(self, body: bytes, samples: int) -> bool:
        """True when accepted, False when refused for good (4xx); raises ExportError to retry."""
        assert self._client is not None, "send before start"
        self._last_send = time.monotonic()
        try:
            resp = await self._client.request("POST", self.cfg.endpoint, body, self._headers().items())
        except (ClientError, OSError, TimeoutError) as e:
            self._last_ok = False
            self.outcomes.error("transport")
            raise ExportError(f"remote write to {self.cfg.endpoint} failed: {e!r}", retryable=True) from e
        status = resp.status
        text = "" if status < 300 else resp.text()[:512].strip()
        after = resp.headers.get("retry-after")
        if status < 300:
            self._last_ok = True
            self._sent.inc(samples)
            return True
        self.outcomes.error(str(status))
        if status == 429 or (status >= 500 and not any(m in text for m in _PERMANENT_500)):
            self._last_ok = False
            raise ExportError(f"HTTP {status}: {text}", retryable=True, retry_after=retry_after(after))
        self._last_ok = True
        self._dropped.labels(self.name, "rejected").inc(samples)
        self.log.error(
            "remote-write request rejected; dropping it",
            extra={"exporter": self.name, "status": status, "response": text, "samples": samples},
        )
        return False

    async def _idle_loop(self) -> None:
        """Stale markers when no data has come for `stale_after` (never during an outage: queued data would
        then arrive after its own series' stale marker and be refused as out of order)."""
        period = max(1.0, min(float(self.cfg.stale_after) / 4, 30.0))
        while True:
            await asyncio.sleep(period)
            if not self._last_ok or time.monotonic() - self._last_send < float(self.cfg.stale_after):
                continue
            async with self._lock:
                now_ms = int(time.time() * 1000)
                out = self._requests()
                self.translator.expire(max(now_ms, self.translator.clock), out)
                self._last_send = time.monotonic()
                for body, n in out.finish():
                    try:
                        await self._post(enc.compress(body), n)
                    except ExportError:
                        break


def create(ctx: CreateContext, cfg: Config) -> QueuedExporter:
    name = str(ctx.id)
    sender = PRWSender(cfg, name, ctx.metrics, ctx.logger)
    return queued_exporter(ctx, sender, cfg)
