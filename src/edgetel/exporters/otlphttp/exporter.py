"""The OTLP/HTTP sender: POST each batch's request (protobuf bytes as they are, or OTLP JSON) to
/v1/traces or /v1/metrics; retry only 429, 502, 503 and 504 (honouring Retry-After)."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable

import orjson
from google.rpc import status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from edgetel import __version__
from edgetel.component.factory import CreateContext
from edgetel.exporters.otlphttp.config import Config
from edgetel.helpers.export_outcomes import ExportOutcomes
from edgetel.helpers.exporter import ExportError, QueuedExporter, queued_exporter
from edgetel.helpers.http11.client import ClientError, HTTPClient
from edgetel.helpers.retry_codes import RETRYABLE_HTTP_STATUSES, parse_retry_after
from edgetel.helpers.tls import ssl_context
from edgetel.pdata import Batch, Traces

MAX_RESPONSE_BYTES = 64 * 1024  # an answer is a few bytes; never buffer a huge one
COMPRESS_IN_THREAD_BYTES = 256 * 1024  # zlib releases the GIL: big bodies are gzipped off the event loop
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def _gzip(body: bytes) -> bytes:
    # Level 1: most of the size gain for a fraction of the CPU, as edge hosts are CPU-poor.
    return zlib.compress(body, 1, wbits=31)


class OTLPHttpSender:
    def __init__(self, cfg: Config, outcomes: ExportOutcomes) -> None:
        self.cfg = cfg
        self.outcomes = outcomes
        self.urls = {"traces": cfg.url("traces"), "metrics": cfg.url("metrics")}
        self.json = cfg.encoding == "json"
        self.gzip = cfg.compression == "gzip"
        headers = {k: v.reveal() for k, v in cfg.headers.items()}
        headers["Content-Type"] = JSON if self.json else PROTOBUF
        headers["User-Agent"] = f"edgetel/{__version__}"
        if self.gzip:
            headers["Content-Encoding"] = "gzip"
        self.headers = headers
        self._encode: Callable[[Batch], bytes] = lambda b: b.serialize()
        self._client: HTTPClient | None = None

    async def start(self) -> None:
        if self.json:
            from edgetel.pdata.otlpjson import encode

            self._encode = encode
        https = any(u.startswith("https://") for u in self.urls.values())
        self._client = HTTPClient(
            ssl_context=ssl_context(self.cfg.tls) if https else None,
            timeout=float(self.cfg.timeout),
            max_connections=max(4, self.cfg.sending_queue.num_consumers),  # a connection per sending consumer
            server_hostname=self.cfg.tls.server_name_override or None,
            headers=self.headers.items(),
        )

    async def send(self, batch: Batch) -> None:
        assert self._client is not None, "start() was not called"
        traces = isinstance(batch, Traces)
        url = self.urls["traces" if traces else "metrics"]
        body = self._encode(batch)
        if self.gzip:
            body = await asyncio.to_thread(_gzip, body) if len(body) > COMPRESS_IN_THREAD_BYTES else _gzip(body)
        try:
            resp = await self._client.request("POST", url, body, max_body=MAX_RESPONSE_BYTES)
        except TimeoutError:
            self.outcomes.error("timeout")
            raise ExportError(f"POST {url}: no answer within {self.cfg.timeout}", retryable=True) from None
        except ClientError as e:
            self.outcomes.error("connection")
            raise ExportError(f"POST {url}: {e}", retryable=True) from None
        status, payload, ctype = resp.status, resp.body, resp.content_type
        retry_after = resp.headers.get("retry-after")
        if 200 <= status < 300:
            if payload:
                self._partial_success(payload, ctype, traces)
            return
        self.outcomes.error(str(status))
        server_message = _status_message(payload, ctype)
        message = f"HTTP {status} from {url}" + (f": {server_message}" if server_message else "")
        if status in RETRYABLE_HTTP_STATUSES:
            raise ExportError(message, retryable=True, retry_after=parse_retry_after(retry_after))
        raise ExportError(message, retryable=False)

    def _partial_success(self, payload: bytes, ctype: str, traces: bool) -> None:
        unit = "spans" if traces else "metric_points"
        try:
            if ctype == JSON:
                obj = orjson.loads(payload)
                ps = obj.get("partialSuccess") or obj.get("partial_success") or {}
                key = "rejectedSpans" if traces else "rejectedDataPoints"
                rejected = int(ps.get(key, ps.get("rejected_spans" if traces else "rejected_data_points", 0)))
                message = str(ps.get("errorMessage", ps.get("error_message", "")))
            elif traces:
                t = ExportTraceServiceResponse.FromString(payload)
                rejected, message = t.partial_success.rejected_spans, t.partial_success.error_message
            else:
                m = ExportMetricsServiceResponse.FromString(payload)
                rejected, message = m.partial_success.rejected_data_points, m.partial_success.error_message
        except Exception:
            return  # an unreadable answer to an accepted request: the data was still accepted
        self.outcomes.partial(unit, int(rejected), str(message))

    async def shutdown(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def _status_message(payload: bytes, ctype: str) -> str:
    """The server's message: a google.rpc.Status (protobuf or JSON) body, else the start of the text."""
    if not payload:
        return ""
    try:
        if ctype == PROTOBUF:
            return str(status_pb2.Status.FromString(payload).message)
        if ctype == JSON:
            obj = orjson.loads(payload)
            if isinstance(obj, dict) and "message" in obj:
                return str(obj["message"])
    except Exception:
        pass
    return payload[:256].decode("utf-8", "replace").strip()


def create(ctx: CreateContext, cfg: Config) -> QueuedExporter:
    name = str(ctx.id)
    sender = OTLPHttpSender(cfg, ExportOutcomes(ctx.metrics, name, ctx.logger))
    return queued_exporter(ctx, sender, cfg)
