"""How many traces a P99 estimate needs: the statistical bound behind latency_percentile's fidelity at low rates.

Offline and exact (no sketch, no spans, no late arrivals): the fidelity workload's endpoints and durations
(benchmarks/tailsampling_fidelity.py) at --rate traces/s; each trace is kept when it is an error, in the random
1%, or at or above the exact P99 of its endpoint's previous traces in the window. Ground truth is each endpoint's
true P99 (median * exp(2.326 * sigma)). Windows compared:
  5m, 60m        a fixed window (60m: 12x the traces, 12x slower to follow a change)
  60m zZ         the same, threshold lowered by Z standard errors of the rank (latency_percentile `confidence`)
  5m..60m zZ     60m, but the newest 5m alone whenever its share of traces above the 60m threshold differs from
                 1% by more than 4 standard errors (a change detector: adapts like 5m after a real shift)
Scenarios: stationary (100 min, figures from minute 60 on), or every endpoint's latency x2 (up) or x0.5 (down)
at minute 60 (figures for minutes 60-65 and 65-75).

Then the normal approximation: with n traces in the window the estimated P99 sits at quantile 0.99 + e,
e ~ N(0, 0.99 * 0.01 / n); slow recall loses E[max(e, 0)] / 1%, false keeps are E[max(-e, 0)] / 2.94% of kept.

A window's estimate drifts slowly (its error is correlated over the window's length), so one run's figures are
one draw: compare seeds (--seed), and the normal approximation, which is the expectation.

Run: .venv/bin/python benchmarks/tailsampling_window_bound.py [--scenario stationary|up|down] [--rate 150] [--seed 7]
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import sys
from collections import deque
from pathlib import Path
from statistics import NormalDist

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tailsampling_fidelity import ENDPOINTS

Q = 0.99
KEPT = 0.0294  # share of traces kept: 1% slow + 1% random + 1% errors, less the overlaps
Trace = tuple[float, int, float, bool, float]  # start, endpoint, duration, error or random keep, latency factor


def generate(minutes: float, rate: float, shift_at: float, factor: float, seed: int = 7) -> list[Trace]:
    rng = random.Random(seed)
    weights = [e[4] for e in ENDPOINTS]
    out = []
    for i in range(int(minutes * 60 * rate)):
        start = (i + rng.random()) / rate
        ep = rng.choices(range(len(ENDPOINTS)), weights)[0]
        median, sigma = ENDPOINTS[ep][2], ENDPOINTS[ep][3]
        f = factor if start >= shift_at else 1.0
        out.append((start, ep, median * f * math.exp(rng.gauss(0, sigma)), rng.random() < 0.0199, f))
    return out


def true_p99(ep: int, factor: float) -> float:
    return ENDPOINTS[ep][2] * factor * math.exp(NormalDist().inv_cdf(Q) * ENDPOINTS[ep][3])


def keep(traces: list[Trace], window: float, long_window: float, z: float, detect: float) -> list[bool]:
    """Kept flags: thresholds from the exact P99 of the endpoint's traces in the long window (or the short one
    when the change detector fires), lowered by z standard errors of the rank."""
    long = [[] for _ in ENDPOINTS]  # type: list[list[float]]
    short = [[] for _ in ENDPOINTS]  # type: list[list[float]]
    qlong: list[deque[tuple[float, float]]] = [deque() for _ in ENDPOINTS]
    qshort: list[deque[tuple[float, float]]] = [deque() for _ in ENDPOINTS]
    out = []
    for start, ep, d, other, _ in traces:
        lv, sv, lq, sq = long[ep], short[ep], qlong[ep], qshort[ep]
        while lq and lq[0][0] < start - long_window:
            lv.pop(bisect.bisect_left(lv, lq.popleft()[1]))
        while sq and sq[0][0] < start - window:
            sv.pop(bisect.bisect_left(sv, sq.popleft()[1]))
        src = lv
        if detect > 0 and len(sv) >= 100 and len(lv) > len(sv):
            above = len(sv) - bisect.bisect_left(sv, lv[max(1, math.ceil(Q * len(lv))) - 1])
            if abs(above - len(sv) * (1 - Q)) > detect * math.sqrt(len(sv) * Q * (1 - Q)):
                src = sv
        n = len(src)
        thr = src[min(n, max(1, math.ceil(Q * n - z * math.sqrt(n * Q * (1 - Q)) - 1e-9))) - 1] if n else math.inf
        out.append(other or d >= thr)
        bisect.insort(lv, d)
        lq.append((start, d))
        bisect.insort(sv, d)
        sq.append((start, d))
    return out


def figures(traces: list[Trace], kept: list[bool], t0: float, t1: float) -> tuple[float, float]:
    """(slow recall %, false keeps % of kept) for the traces that started in [t0, t1)."""
    sel = [(t, k) for t, k in zip(traces, kept, strict=True) if t0 <= t[0] < t1]
    slow = [k for t, k in sel if t[2] >= true_p99(t[1], t[4])]
    kept_n = sum(k for _, k in sel)
    false = sum(1 for t, k in sel if k and not t[3] and t[2] < true_p99(t[1], t[4]))
    return 100.0 * sum(slow) / max(1, len(slow)), 100.0 * false / max(1, kept_n)


def normal_bound(n: int, z: float) -> tuple[float, float]:
    """(slow recall %, false keeps %) expected with n traces in the window and the threshold z errors lower."""
    nd = NormalDist()
    s = math.sqrt(Q * (1 - Q) / n)
    return (100.0 * (1 - s * (nd.pdf(z) - z * nd.cdf(-z)) / (1 - Q)),
            100.0 * s * (nd.pdf(z) + z * nd.cdf(z)) / KEPT)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", choices=["stationary", "up", "down"], default="stationary")
    ap.add_argument("--rate", type=float, default=150)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.scenario == "stationary":
        traces, periods = generate(100, args.rate, math.inf, 1.0, args.seed), [(3600, 6000)]
    else:
        traces = generate(75, args.rate, 3600, 2.0 if args.scenario == "up" else 0.5, args.seed)
        periods = [(3600, 3900), (3900, 4500)]
    runs = {"5m": (300, 300, 0.0, 0.0), "60m": (3600, 3600, 0.0, 0.0), "60m z0.5": (3600, 3600, 0.5, 0.0),
            "5m..60m z0.5": (300, 3600, 0.5, 4.0)}  # fmt: skip
    print(f"{args.scenario}, {args.rate:g} traces/s, exact percentiles")
    for label, (w, lw, z, det) in runs.items():
        kept = keep(traces, w, lw, z, det)
        cells = [f"min {a / 60:.0f}-{b / 60:.0f}: recall {r:6.2f}%, false keeps {f:5.2f}%"
                 for a, b in periods for r, f in [figures(traces, kept, a, b)]]  # fmt: skip
        print(f"  {label:14s} " + " | ".join(cells), flush=True)
    print("normal approximation (traces in the window per endpoint group):")
    for n in (900, 7_500, 20_000, 48_000, 160_000):
        r0, f0 = normal_bound(n, 0.0)
        r1, f1 = normal_bound(n, 0.43)
        print(f"  n {n:>7,}: z 0: recall {r0:6.2f}%, false keeps {f0:5.2f}% | z 0.43: {r1:6.2f}%, {f1:5.2f}%")


if __name__ == "__main__":
    main()
