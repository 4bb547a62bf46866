"""Sampling fidelity of the tail sampler against ground truth computed offline.

Workload (deterministic, seed 42, virtual clock): 6 endpoints in 4 services whose latencies differ by orders of
magnitude (log-normal; medians 0.5 ms, 3 ms, 25 ms, 300 ms, 900 ms, 3 s); 150 traces/s for 10 minutes
(90,000 traces). Each trace: a root span plus 0-6 child spans in other services; 1% of traces carry one ERROR
span. Spans arrive when they end plus an export delay of 0-2 s, so children come before their root (out of
order); 1% of spans arrive 12-25 s late, after their trace was decided.

Ground truth: the workload is stationary, so an endpoint's true P99 is the P99 of its durations over the whole run.

Every run uses the processor in-process with decision_wait 10s, root_grace 2s (--runs picks them):
  default:   status_code ERROR + latency_percentile 99 (per service + root span name, 5m window) + probabilistic 1%
  20m:       the same with latency_percentile window 20m (more samples per P99 estimate)
  W:C        window W, confidence C (e.g. 5m:80: the threshold is the 80% lower confidence bound of the P99)
  W..M:C     window W, max_window M (e.g. 5m..60m:69: up to 60 minutes of history while the last 5 agree)
  fixed:     status_code ERROR + latency threshold_ms (the global P99 of all traces) + probabilistic 1%
             (the Collector's way: one threshold for every endpoint)
plus, offline, an oracle per window used: the exact P99 of the endpoint's traces that started in the window before
each trace (no sketch error, no late spans): the noise floor of estimating a P99 from one window of samples.

Figures (the first 2 minutes, while the sketches learn, are reported separately):
  error recall       kept error traces / error traces                                   goal 100%
                     (and among traces whose ERROR span was not one of the 1% late ones: a span that
                     arrives after its trace was decided follows that decision, by design)
  slow recall        kept traces at or above their endpoint's true P99 / all such traces  goal >= 99%
                     (and among traces whose root span was not late: without its root, a trace's duration is
                     unknown at the decision, and the late root follows the decision made)
  false keeps        kept traces below their endpoint's P99, not error, not random / kept goal <= 1%
  keep ratio         kept / all, against the target (error or >= P99 or random)
  completeness       kept traces whose every span was emitted / kept traces             goal 100%
  count estimate     sum of 2**56 / (2**56 - th) over kept traces, against the true count goal within 5%

With --shift MINUTE:FACTOR every latency is multiplied by FACTOR from that minute on (the truth is then each
endpoint's P99 before and after, separately), and the figures are for the 5 minutes after the shift and, in
brackets, for the rest of the run: how fast each window follows a real latency change.

Run: .venv/bin/python benchmarks/tailsampling_fidelity.py [--minutes 10] [--rate 150] [--runs default,20m,fixed]
     [--shift 60:0.5]
     (--rate 1000 --minutes 7 --runs default,5m:70: 300,000 traces per 5m window, where the goals are met)
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import logging
import math
import random
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.config.types import Duration
from edgetel.pdata import Batch, Traces
from edgetel.pipeline.sockets import SocketPool
from edgetel.processors.tailsampling.config import TailSamplingConfig
from edgetel.processors.tailsampling.processor import TailSamplingProcessor
from edgetel.processors.tailsampling.tracestate import (
    adjusted_count,
    decode_threshold,
    ot_entry,
    threshold_for,
)
from edgetel.telemetry.selfmetrics import Registry

# (service, root span name, median seconds, sigma, share of traffic)
ENDPOINTS = [
    ("auth", "POST /token", 0.0005, 0.35, 0.25),
    ("api", "GET /items/{id}", 0.003, 0.5, 0.35),
    ("frontend", "GET /", 0.025, 0.6, 0.20),
    ("frontend", "GET /search", 0.3, 0.7, 0.12),
    ("api", "POST /checkout", 0.9, 0.5, 0.06),
    ("reports", "GET /report", 3.0, 0.45, 0.02),
]
SERVICES = sorted({e[0] for e in ENDPOINTS} | {"db", "cache"})
BASE_NS = 1_700_000_000_000_000_000
WARMUP = 120.0


@dataclass
class TrueTrace:
    trace_id: bytes
    endpoint: int
    start: float
    duration: float
    error: bool
    spans: int
    random_keep: bool
    error_late: bool = False  # the ERROR span arrived after the trace's decision could be made
    root_late: bool = False  # so did the root span: the duration was not known at the decision
    phase: int = 0  # 1: started after --shift changed the latencies


@dataclass
class Workload:
    traces: list[TrueTrace] = field(default_factory=list)
    events: list[tuple[float, str, bytes]] = field(default_factory=list)  # arrival, service, serialized span


def generate(minutes: float, rate: float, seed: int = 42, shift_at: float = math.inf, factor: float = 1.0) -> Workload:
    rng = random.Random(seed)
    wl = Workload()
    weights = [e[4] for e in ENDPOINTS]
    t1 = threshold_for(1)
    n = int(minutes * 60 * rate)
    for i in range(n):
        start = i / rate + rng.random() / rate
        ep = rng.choices(range(len(ENDPOINTS)), weights)[0]
        svc, name, median, sigma, _ = ENDPOINTS[ep]
        dur = median * math.exp(rng.gauss(0, sigma)) * (factor if start >= shift_at else 1.0)
        tid = rng.getrandbits(128).to_bytes(16, "big")
        nchild = rng.randint(0, 6)
        error = rng.random() < 0.01
        err_span = rng.randint(0, nchild) if error else -1
        spans: list[tuple[str, Span]] = []
        root = Span(trace_id=tid, span_id=rng.getrandbits(64).to_bytes(8, "big"), name=name, kind=Span.SPAN_KIND_SERVER)
        root.start_time_unix_nano = BASE_NS + int(start * 1e9)
        root.end_time_unix_nano = root.start_time_unix_nano + int(dur * 1e9)
        spans.append((svc, root))
        for c in range(nchild):
            cs = rng.uniform(0, dur * 0.8)
            cd = rng.uniform(0, dur - cs)
            child = Span(trace_id=tid, span_id=rng.getrandbits(64).to_bytes(8, "big"), name=f"child{c}", kind=Span.SPAN_KIND_CLIENT,
                         parent_span_id=root.span_id)  # fmt: skip
            child.start_time_unix_nano = root.start_time_unix_nano + int(cs * 1e9)
            child.end_time_unix_nano = child.start_time_unix_nano + int(cd * 1e9)
            spans.append((rng.choice(SERVICES), child))
        if err_span >= 0:
            spans[err_span][1].status.code = 2  # type: ignore[assignment]
        error_late = root_late = False
        for k, (s_svc, sp) in enumerate(spans):
            end = (sp.end_time_unix_nano - BASE_NS) / 1e9
            delay = rng.uniform(0, 2.0)
            if rng.random() < 0.01:
                delay += rng.uniform(12, 25)
                error_late = error_late or k == err_span
                root_late = root_late or k == 0
            wl.events.append((end + delay, s_svc, sp.SerializeToString()))
        wl.traces.append(TrueTrace(tid, ep, start, dur, error, len(spans), int.from_bytes(tid[9:], "big") >= t1,
                                   error_late, root_late, int(start >= shift_at)))  # fmt: skip
    wl.events.sort(key=lambda e: e[0])
    return wl


class Collect:
    mutates = False

    def __init__(self) -> None:
        self.spans: dict[bytes, int] = {}
        self.th: dict[bytes, int] = {}

    async def consume(self, batch: Batch) -> None:
        assert isinstance(batch, Traces)
        for rs in batch.request.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    self.spans[sp.trace_id] = self.spans.get(sp.trace_id, 0) + 1
                    th = ot_entry(sp.trace_state).get("th")
                    if th is not None:
                        self.th[sp.trace_id] = decode_threshold(th) or 0


async def run(wl: Workload, policies: list[dict[str, Any]]) -> tuple[Collect, float, dict[str, float]]:
    raw = {"decision_wait": "10s", "root_grace": "2s", "policies": policies,
           "decision_cache": {"sampled_cache_size": 100_000, "non_sampled_cache_size": 200_000}}  # fmt: skip
    p = Problems("bench")
    cfg = decode(TailSamplingConfig, raw, p)
    assert not p.errors, p.errors
    clock = [0.0]
    reg = Registry()
    ctx = CreateContext(id=ComponentID("tail_sampling"), kind=Kind.PROCESSOR, logger=logging.getLogger("bench"),
                        metrics=reg, sockets=SocketPool(), lifecycle=Lifecycle())  # fmt: skip
    out = Collect()
    proc = TailSamplingProcessor(ctx, cfg, out, clock=lambda: clock[0])
    cpu = time.process_time()
    step = 0.1
    i = 0
    events = wl.events
    now = 0.0
    while i < len(events):
        now += step
        clock[0] = now
        req = ExportTraceServiceRequest()
        by_svc: dict[str, list[bytes]] = {}
        while i < len(events) and events[i][0] <= now:
            by_svc.setdefault(events[i][1], []).append(events[i][2])
            i += 1
        for svc, spans in by_svc.items():
            rs = req.resource_spans.add()
            kv = rs.resource.attributes.add(key="service.name")
            kv.value.string_value = svc
            ss = rs.scope_spans.add()
            ss.scope.name = "bench"
            for b in spans:
                ss.spans.add().ParseFromString(b)
        if by_svc:
            await proc.consume(Traces(req))
        await proc.tick(now)
    for _ in range(300):  # let every pending decision happen on time
        now += step
        clock[0] = now
        await proc.tick(now)
    await proc.shutdown()
    cpu = time.process_time() - cpu
    stats = {
        "early": reg.value("edgetel_tailsampling_early_decisions_total", "tail_sampling", "", "root_span"),
        "late_kept": reg.value("edgetel_tailsampling_late_spans_total", "tail_sampling", "", "sampled"),
        "late_dropped": reg.value("edgetel_tailsampling_late_spans_total", "tail_sampling", "", "not_sampled"),
    }
    return out, cpu, stats


def p99s(wl: Workload) -> dict[tuple[int, int], float]:
    """Each endpoint's P99 over the run, per phase (before and after --shift: each is stationary)."""
    out = {}
    for ep in range(len(ENDPOINTS)):
        for phase in (0, 1):
            d = sorted(t.duration for t in wl.traces if t.endpoint == ep and t.phase == phase)
            if d:
                out[ep, phase] = d[max(1, math.ceil(0.99 * len(d))) - 1]
    return out


def oracle(wl: Workload, window: float) -> Collect:
    """What an exact estimator with the sampler's window would keep: per trace, the exact P99 of its endpoint over
    the traces that started in the `window` seconds before it (no sketch error; the same sampling noise), plus
    errors and the random 1%, with every span delivered. Late spans are ignored (it knows every trace in full)."""
    out = Collect()
    t1 = threshold_for(1)
    live: list[list[float]] = [[] for _ in ENDPOINTS]
    queue: list[deque[TrueTrace]] = [deque() for _ in ENDPOINTS]
    for t in wl.traces:  # in start order
        q, vals = queue[t.endpoint], live[t.endpoint]
        while q and q[0].start < t.start - window:
            vals.pop(bisect.bisect_left(vals, q.popleft().duration))
        p99 = vals[max(1, math.ceil(0.99 * len(vals))) - 1] if vals else math.inf
        if t.error or t.duration >= p99:
            out.spans[t.trace_id], out.th[t.trace_id] = t.spans, 0
        elif t.random_keep:
            out.spans[t.trace_id], out.th[t.trace_id] = t.spans, t1
        bisect.insort(vals, t.duration)
        q.append(t)
    return out


def figures(wl: Workload, out: Collect, truth: dict[tuple[int, int], float], after: float,
            before: float = math.inf) -> dict[str, float]:  # fmt: skip
    traces = [t for t in wl.traces if after <= t.start < before]
    kept = [t for t in traces if t.trace_id in out.spans]
    errors = [t for t in traces if t.error]
    slow = [t for t in traces if t.duration >= truth[t.endpoint, t.phase]]
    target = [t for t in traces if t.error or t.duration >= truth[t.endpoint, t.phase] or t.random_keep]
    false_keeps = [t for t in kept if not t.error and not t.random_keep and t.duration < truth[t.endpoint, t.phase]]
    complete = [t for t in kept if out.spans[t.trace_id] == t.spans]
    estimate = sum(adjusted_count(out.th.get(t.trace_id, 0)) for t in kept)
    return {
        "traces": len(traces),
        "error recall %": 100.0 * sum(t.trace_id in out.spans for t in errors) / max(1, len(errors)),
        "  error span on time %": 100.0
        * sum(t.trace_id in out.spans for t in errors if not t.error_late)
        / max(1, sum(not t.error_late for t in errors)),
        "slow recall %": 100.0 * sum(t.trace_id in out.spans for t in slow) / max(1, len(slow)),
        "  root span on time %": 100.0
        * sum(t.trace_id in out.spans for t in slow if not t.root_late)
        / max(1, sum(not t.root_late for t in slow)),
        "false keeps % of kept": 100.0 * len(false_keeps) / max(1, len(kept)),
        "keep ratio %": 100.0 * len(kept) / max(1, len(traces)),
        "target ratio %": 100.0 * len(target) / max(1, len(traces)),
        "completeness %": 100.0 * len(complete) / max(1, len(kept)),
        "count estimate / true": estimate / max(1, len(traces)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=150)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--shift", default="", help="MINUTE:FACTOR: every latency times FACTOR from MINUTE on; the "
                    "figures are then for the 5 minutes after the shift (all traces in brackets: the rest after)")
    ap.add_argument(
        "--runs",
        default="default,20m,fixed",
        help="comma-separated: default, 20m, fixed, or WINDOW:CONFIDENCE such as 5m:90",
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    shift_at, factor = math.inf, 1.0
    if args.shift:
        m, _, f = args.shift.partition(":")
        shift_at, factor = float(m) * 60, float(f)
    wl = generate(args.minutes, args.rate, args.seed, shift_at, factor)
    gc.freeze()  # the workload's own objects stay out of the collector's scans
    truth = p99s(wl)
    all_d = sorted(t.duration for t in wl.traces)
    global_p99 = all_d[math.ceil(0.99 * len(all_d)) - 1]
    print(f"workload: {len(wl.traces)} traces, {len(wl.events)} spans, generated in {time.perf_counter() - t0:.1f}s")
    for ep, (svc, name, *_rest) in enumerate(ENDPOINTS):
        print(f"  {svc:9s} {name:16s} true P99 {truth[ep, 0] * 1000:10.2f} ms")
    print(f"  global P99 (the fixed threshold) {global_p99 * 1000:.1f} ms")
    errors = {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}
    random1 = {"name": "random", "type": "probabilistic", "probabilistic": {"sampling_percentage": 1}}
    runs: dict[str, list[dict[str, Any]]] = {}
    for spec in args.runs.split(","):
        if spec == "fixed":
            runs["fixed latency threshold"] = [errors, {"name": "slow", "type": "latency",
                "latency": {"threshold_ms": max(1, round(global_p99 * 1000))}}, random1]  # fmt: skip
            continue
        window, _, conf = {"default": "5m:", "20m": "20m:"}.get(spec, spec).partition(":")
        window, _, longest = window.partition("..")
        lp: dict[str, Any] = {"percentile": 99, "window": window}
        if conf:
            lp["confidence"] = float(conf)
        if longest:
            lp["max_window"] = longest
        label = f"latency_percentile {window}" + (f"..{longest}" if longest else "") + (f" conf {conf}" if conf else "")
        runs[label] = [errors, {"name": "slow", "type": "latency_percentile", "latency_percentile": lp}, random1]
    def both(out: Collect) -> tuple[dict[str, float], dict[str, float]]:
        if args.shift:
            return figures(wl, out, truth, shift_at, shift_at + 300), figures(wl, out, truth, shift_at + 300)
        return figures(wl, out, truth, WARMUP), figures(wl, out, truth, 0.0)

    results = {}
    for label, policies in runs.items():
        out, cpu, stats = asyncio.run(run(wl, policies))
        results[label] = (*both(out), cpu, stats)
    for window in sorted({float(Duration.parse(p[1]["latency_percentile"]["window"]))
                          for p in runs.values() if p[1]["type"] == "latency_percentile"}):  # fmt: skip
        out = oracle(wl, window)
        results[f"exact {window / 60:g}m window (oracle)"] = (*both(out), 0.0, {})
    names = list(next(iter(results.values()))[0])
    if args.shift:
        print(f"\nlatencies x{factor:g} from minute {shift_at / 60:g}: the 5 minutes after (the rest in brackets)")
    else:
        print(f"\nafter {WARMUP:.0f}s warm-up (all traces in brackets)")
    width = max(31, *(len(label) + 2 for label in results))
    print(f"{'figure':22s}" + "".join(f"{label:>{width}s}" for label in results))
    for n in names:
        row = f"{n:22s}"
        for warm, full, _, _ in results.values():
            fmt = "{:.4f}" if "/" in n else "{:.0f}" if n == "traces" else "{:.2f}"
            row += f"{(fmt.format(warm[n]) + ' (' + fmt.format(full[n]) + ')'):>{width}s}"
        print(row)
    for label, (_, _, cpu, stats) in results.items():
        if not stats:
            continue
        print(f"{label}: CPU {cpu:.1f}s for {len(wl.events)} spans ({cpu / len(wl.events) * 1e6:.1f} us/span incl. "
              f"batch building); root-span early decisions {stats['early']:.0f}; late spans released "
              f"{stats['late_kept']:.0f}, dropped {stats['late_dropped']:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
