"""The tail_sampling processor: buffer spans per trace, decide per whole trace, emit the kept ones.

Intake takes each batch as groups of spans per trace (intake.py, compiled when built), so its bookkeeping runs
once per trace and batch; a group that would cross a limit is taken span by span.

Timing: a trace is decided `decision_wait` after its first span arrived, or `root_grace` after its root span
arrived when that is earlier. Both deadlines are in arrival order, so two FIFO queues find every due trace
without scanning. The decision tick runs on the event loop and yields every few milliseconds; intake yields
every few thousand spans, so neither starves the other. Decided trace ids go to two bounded caches: late spans
of a kept trace are emitted at once (with the same tracestate threshold), those of a dropped trace are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from edgetel.component.errors import PermanentError, RetryableError
from edgetel.component.factory import CreateContext
from edgetel.component.protocols import Consumer
from edgetel.pdata import Batch, Traces
from edgetel.processors.tailsampling.buffer import (
    CHUNK_OVERHEAD,
    TRACE_OVERHEAD,
    ScopeTable,
    Trace,
    build_request,
)
from edgetel.processors.tailsampling.config import TailSamplingConfig
from edgetel.processors.tailsampling.decision_cache import DecisionCache
from edgetel.processors.tailsampling.intake import Group, split, walk
from edgetel.processors.tailsampling.metrics import TailSamplingMetrics
from edgetel.processors.tailsampling.percentile import LatencyPercentile
from edgetel.processors.tailsampling.policies import NO_THRESHOLD, Policy, TraceInfo, build
from edgetel.processors.tailsampling.tracestate import with_threshold

TICK = 0.1  # seconds between decision passes
TICK_BUDGET = 0.02  # seconds of decisions before the tick yields to intake
INTAKE_YIELD_SPANS = 4096
MAX_EMIT_SPANS = 8192


class TailSamplingProcessor:
    # The input batch is only read (kept spans leave in new batches), so a fan-out need not copy it.
    mutates = False

    def __init__(self, ctx: CreateContext, cfg: TailSamplingConfig, nxt: Consumer,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._ctx = ctx
        self._cfg = cfg
        self._next = nxt
        self._clock = clock
        self._log = ctx.logger
        self._keep: list[Policy] = []
        self._drop: list[Policy] = []
        for p in cfg.policies:
            (self._drop if p.type == "drop" else self._keep).append(build(p))
        self._traces: dict[bytes, Trace] = {}
        self._wait: deque[Trace] = deque()
        self._roots: deque[Trace] = deque()
        self._scopes = ScopeTable()
        self._sampled = DecisionCache(cfg.decision_cache.sampled_cache_size)
        self._not_sampled = DecisionCache(cfg.decision_cache.non_sampled_cache_size)
        self._bytes = 0
        self._spans_held = 0
        self._out: list[tuple[Trace, int]] = []
        self._wait_s = float(cfg.decision_wait)
        self._grace = float(cfg.root_grace)
        self._max_trace_bytes = int(cfg.maximum_trace_size_bytes) or 1 << 62
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.m = TailSamplingMetrics(ctx, self)
        self._keep_counted = [(p, self.m.policy(p.name, True), self.m.policy(p.name, False)) for p in self._keep]
        self._drop_counted = [(p, self.m.policy(p.name, True), self.m.policy(p.name, False)) for p in self._drop]
        self._names: dict[str, str] = {}  # root span names, shared between traces
        for pol in self._keep:
            if isinstance(pol, LatencyPercentile):  # learned percentiles survive a config reload
                key = f"latency_percentile/{ctx.pipeline}/{pol.name}"
                saved = ctx.state.get(key)
                if isinstance(saved, LatencyPercentile):
                    pol.adopt(saved)
                ctx.state[key] = pol

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def shutdown(self) -> None:
        """Decide every pending trace and emit the kept ones before returning (SIGTERM loses nothing)."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        now = self._clock()
        for t in list(self._traces.values()):
            self.m.early("shutdown")
            self._decide(t, now)
        self._wait.clear()
        self._roots.clear()
        await self._flush(final=True)
        self.m.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                await self.tick(self._clock())
            except asyncio.CancelledError:
                raise
            except Exception:
                self._log.exception("tail sampling decision pass failed", extra={"processor": self.m.name})

    # -- intake ----------------------------------------------------------------------------------
    async def consume(self, batch: Batch) -> None:
        if not isinstance(batch, Traces):
            raise PermanentError("tail_sampling handles traces only")
        now = self._clock()
        if self._overdue(now):
            # Decisions are behind (intake outpaces them): decide first, so that intake slows down instead.
            await self.tick(now)
        scopes = self._scopes
        late: dict[bytes, Trace] = {}
        added_bytes = skipped = new_traces = n_total = since_yield = 0
        for rframe, sframe, service, groups in walk(batch.received_bytes(), batch.peek):
            sid = scopes.intern(rframe, sframe, service)
            scopes.ref(sid)  # pinned while its spans are added (an early decision may release the rest)
            added, skip, new, n = self._intake(groups, sid, now, late)
            added_bytes += added
            skipped += skip
            new_traces += new
            n_total += n
            since_yield += n
            scopes.unref(sid)  # frees the entry if no buffered span uses it
            if since_yield >= INTAKE_YIELD_SPANS:
                since_yield = 0
                late = {}  # a decision pass may emit these meanwhile: later late spans start afresh
                await asyncio.sleep(0)  # let the decision tick run during a huge batch
        self._bytes += added_bytes
        self._spans_held += n_total - skipped
        self._bytes += new_traces * TRACE_OVERHEAD
        self.m.traces_received.inc(new_traces)
        self.m.spans_received.inc(n_total)
        self._enforce_limits(now)
        await self._flush()

    def _intake(self, groups: list[Group], sid: int, now: float, late: dict[bytes, Trace]) -> tuple[
            int, int, int, int]:  # fmt: skip
        """Buffer one block's groups of spans under scope `sid`: (bytes added, spans skipped as late, new
        traces, spans)."""
        traces, scopes, names = self._traces, self._scopes, self._names
        sampled_cache, dropped_cache = self._sampled, self._not_sampled
        max_spans, max_tbytes = self._cfg.max_spans_per_trace, self._max_trace_bytes
        wait_append = self._wait.append
        added = skipped = new_traces = total = 0
        for g in groups:
            tid, data, n, start, end, codes, root, tracestate = g
            total += n
            t = traces.get(tid)
            if t is None:
                th = sampled_cache.get(tid)
                if th is not None:  # late spans of a kept trace: released with the cached decision
                    t = late.get(tid)
                    if t is None:
                        t = late[tid] = Trace(tid, now, "")
                        t.decided = True
                        self._out.append((t, th))
                    self.m.late_kept.inc(n)
                    if t.add(sid, data):
                        scopes.ref(sid)
                    t.spans += n
                    skipped += n
                    continue
                if tid in dropped_cache:
                    self.m.late_dropped.inc(n)
                    skipped += n
                    continue
                t = traces[tid] = Trace(tid, now, tracestate)
                wait_append(t)
                new_traces += 1
            size = len(data)
            if n > 1 and (t.spans + n >= max_spans or t.nbytes + size + CHUNK_OVERHEAD >= max_tbytes):
                # A limit is reached within the group: span by span, so that the rest follow the decision.
                more, skip, new, _ = self._intake(split(g), sid, now, late)
                added += more
                skipped += skip
                new_traces += new  # (with decision caches of size 0 the rest starts a new trace)
                continue
            if t.add(sid, data):
                scopes.ref(sid)
                t.nbytes += CHUNK_OVERHEAD
                added += CHUNK_OVERHEAD
            t.spans += n
            t.nbytes += size
            added += size
            if start < t.start:  # noqa: PLR1730 (faster than min())
                t.start = start
            if end > t.end:  # noqa: PLR1730
                t.end = end
            t.codes |= codes
            if root is not None and t.root_name is None:
                t.root_name = names.setdefault(root, root) if len(names) < 4096 else root
                t.root_scope = sid
                t.root_due = now + self._grace
                self._roots.append(t)
            if t.spans >= max_spans or t.nbytes >= max_tbytes:
                self.m.early("max_spans_per_trace" if t.spans >= max_spans else "maximum_trace_size_bytes")
                self._decide(t, now)
        return added, skipped, new_traces, total

    def _overdue(self, now: float) -> bool:
        late = now - 2 * TICK
        wait, roots = self._wait, self._roots
        return bool(
            (wait and not wait[0].decided and wait[0].first_seen + self._wait_s < late)
            or (roots and not roots[0].decided and roots[0].root_due < late)
        )

    def _enforce_limits(self, now: float) -> None:
        """Over num_traces or max_buffered_bytes: decide the oldest traces early (counted, never lost)."""
        cfg = self._cfg
        while self._wait and (len(self._traces) > cfg.num_traces or self._bytes > cfg.max_buffered_bytes):
            t = self._wait.popleft()
            if t.decided:
                continue
            self.m.early("num_traces" if len(self._traces) > cfg.num_traces else "max_buffered_bytes")
            self._decide(t, now)

    # -- decisions -------------------------------------------------------------------------------
    async def tick(self, now: float) -> None:
        """Decide every due trace and emit the kept ones."""
        started = time.perf_counter()
        lateness = 0.0
        n = n_root = 0
        roots, wait = self._roots, self._wait
        decide = self._decide
        if roots and roots[0].root_due <= now:
            lateness = now - roots[0].root_due  # the queue is in due order: the first one is the latest
        while roots and roots[0].root_due <= now:
            t = roots.popleft()
            if t.decided:
                continue
            decide(t, now)
            n_root += 1
            if n_root % 256 == 0 and time.perf_counter() - started > TICK_BUDGET:
                await self._yield()
                started = time.perf_counter()
        if n_root:
            self.m.early("root_span", n_root)
        limit = now - self._wait_s
        first = True
        while wait and (wait[0].decided or wait[0].first_seen <= limit):
            t = wait.popleft()
            if t.decided:
                continue
            if first:
                lateness, first = max(lateness, limit - t.first_seen), False
            decide(t, now)
            n += 1
            if n % 256 == 0 and time.perf_counter() - started > TICK_BUDGET:
                await self._yield()
                started = time.perf_counter()
        self.m.lateness.set(lateness)
        await self._flush()

    async def _yield(self) -> None:
        await self._flush()
        await asyncio.sleep(0)

    def _decide(self, t: Trace, now: float) -> None:
        other = self._traces.pop(t.trace_id, None)
        if other is not None and other is not t:  # a newer trace with the same id (the old id left the caches)
            self._traces[t.trace_id] = other
        t.decided = True
        self._bytes -= t.nbytes
        self._spans_held -= t.spans
        info = TraceInfo(t, self._scopes, now)
        m = self.m
        kept: list[int] = []
        for p, yes, no in self._keep_counted:
            r = p.evaluate(info)
            if r is None:
                no.value += 1
            else:
                yes.value += 1
                kept.append(r)
        dropped = False
        for p, yes, no in self._drop_counted:
            r = p.evaluate(info)
            if r is None:
                no.value += 1
            else:
                yes.value += 1
                dropped = True
        delay = now - t.first_seen
        if delay > 0.0:
            m.delay_sum.value += delay
        m.delay_count.value += 1
        if kept and not dropped:
            th = 0 if 0 in kept else (NO_THRESHOLD if NO_THRESHOLD in kept else min(kept))
            self._sampled.put(t.trace_id, th)
            self._out.append((t, th))
            m.traces_kept.value += 1
            m.spans_kept.value += t.spans
        else:
            self._not_sampled.put(t.trace_id)
            m.traces_dropped.value += 1
            m.spans_dropped.value += t.spans
            self._release(t)

    def _release(self, t: Trace) -> None:
        if t.more is None:
            if t.sid >= 0:
                self._scopes.unref(t.sid)
        else:
            for sid, _ in t.chunks():
                self._scopes.unref(sid)
        t.clear()

    # -- emission --------------------------------------------------------------------------------
    async def _flush(self, final: bool = False) -> None:
        while self._out:
            take = self._count_fitting(MAX_EMIT_SPANS)
            group, self._out = self._out[:take], self._out[take:]
            await self._emit(group, final)

    def _count_fitting(self, room: int) -> int:
        n, i = 0, 0
        for t, _ in self._out:
            if i and n + t.spans > room:
                break
            n += t.spans
            i += 1
        return max(i, 1)

    async def _emit(self, group: list[tuple[Trace, int]], final: bool) -> None:
        traces = [t for t, _ in group]
        req = build_request(traces, self._scopes)
        for t in traces:
            self._release(t)
        if self._cfg.write_threshold:
            ths = {t.trace_id: th for t, th in group}
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for sp in ss.spans:
                        th = ths.get(sp.trace_id, NO_THRESHOLD)
                        if th >= 0:
                            sp.trace_state = with_threshold(sp.trace_state, th)
        batch = Traces(req)
        await self._send(batch, final)

    async def _send(self, batch: Traces, final: bool) -> None:
        n = batch.item_count()
        deadline = time.monotonic() + (self._ctx.lifecycle.remaining(5.0) if final else 5.0)
        while True:
            try:
                await self._next.consume(batch)
                return
            except RetryableError as e:
                wait = min(e.retry_after or 0.2, 1.0)
                if time.monotonic() + wait > deadline:
                    self.m.common.dropped("spans", "downstream_refused", n)
                    self._log.warning("tail sampling could not hand kept traces downstream",
                                      extra={"processor": self.m.name, "spans": n, "error": str(e)})  # fmt: skip
                    return
                await asyncio.sleep(wait)
            except PermanentError as e:
                self.m.common.dropped("spans", "downstream_rejected", n)
                self._log.warning("downstream rejected kept traces",
                                  extra={"processor": self.m.name, "spans": n, "error": str(e)})  # fmt: skip
                return

    # -- introspection (tests, benchmarks) ----------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return {"traces": len(self._traces), "spans": self._spans_held, "bytes": self._bytes,
                "scopes": len(self._scopes)}  # fmt: skip
