"""Case 7: a SIGHUP storm, 100 reloads while OTLP/gRPC, OTLP/HTTP and StatsD (UDP and TCP) clients send: valid
variants alternate with invalid files and with a configuration that cannot start (a port taken). Nothing the
agent acknowledged is lost, no client ever meets a refused connection, and `edgetel_config_reloads_total` counts
each outcome.

The gRPC listener is handed over with SO_REUSEPORT; without `net.ipv4.tcp_migrate_req = 1` (which the Debian
package installs) the kernel resets connections queued on the old listener. The test sets it when it can."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.agentproc import AgentProcess, free_port, wait_for
from tests.reliability._agents import (
    GrpcTraceLoad,
    HttpTraceLoad,
    StatsdLoad,
    agent_metric_sum,
    env_seconds,
    span_ids_of,
)
from tests.support.otlp_server import OTLPServer

RELOADS = int(env_seconds("EDGETEL_RELOADS", 100))

BASE = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
  statsd:
    endpoint: "127.0.0.1:{udp}"
    tcp_endpoint: "127.0.0.1:{tcp}"
    aggregation_interval: 1s
  {extra}
processors:
  batch: {{timeout: {batch_timeout}}}
exporters:
  otlp:
    endpoint: "{backend}"
    tls: {{insecure: true}}
    sending_queue: {{num_consumers: {consumers}}}
service:
  admin: {{endpoint: "{{admin}}"}}
  pipelines:
    traces: {{receivers: [otlp{extra_ref}], processors: [batch], exporters: [otlp]}}
    metrics: {{receivers: [otlp, statsd], processors: [batch], exporters: [otlp]}}
"""

# (variant, expected result of the reload)
PLAN = [("a", "ok"), ("bad_key", "invalid"), ("b", "ok"), ("bad_yaml", "invalid"), ("a", "ok"),
        ("b", "ok"), ("port_taken", "failed"), ("a", "ok"), ("bad_key", "invalid"), ("b", "ok")]  # fmt: skip


def config(variant: str, ports: dict[str, Any]) -> str:
    args = {**ports, "extra": "", "extra_ref": "", "batch_timeout": "200ms", "consumers": 2}
    if variant == "b":
        args.update(batch_timeout="50ms", consumers=4)
    if variant == "port_taken":  # valid, but a second OTLP receiver cannot bind
        args.update(extra=f'otlp/extra: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{ports["taken"]}"}}}}}}',
                    extra_ref=", otlp/extra")  # fmt: skip
    text = BASE.format(**args)
    if variant == "bad_key":
        text = text.replace("aggregation_interval: 1s", "aggregation_interval: 1s\n    no_such_key: 1")
    if variant == "bad_yaml":
        text += "\n  pipelines: [unclosed\n"
    return text


def when(loads: list[Any], timeline: list[tuple[float, str]]) -> list[str]:
    """Each client error with the reload that was running when the request was sent."""
    out = []
    for load in loads:
        for sent, failed, kind in load.error_log:
            t0, during = ([(t, v) for t, v in timeline if t <= sent][-1:] or [(sent, "-")])[0]
            number = len([t for t, _ in timeline if t <= sent])
            out.append(
                f"{type(load).__name__}: {kind} sent {sent - t0:.3f}s after SIGHUP #{number} (to {during}), "
                f"failed {failed - sent:.3f}s later"
            )
    return out


def counter_total(requests: list[Any], name: str) -> float:
    """The largest cumulative value of the StatsD counter `name` seen by the backend."""
    best = 0.0
    for r in list(requests):
        if r.signal != "metrics":
            continue
        for rm in r.message.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name and m.WhichOneof("data") == "sum":
                        for dp in m.sum.data_points:
                            best = max(best, dp.as_double or float(dp.as_int))
    return best


MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


@pytest.fixture
def migrate_requests() -> Any:
    """net.ipv4.tcp_migrate_req = 1 for the test (restored after), as the Debian package sets it."""
    if not MIGRATE_REQ.exists():
        pytest.skip("this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14+)")
    before = MIGRATE_REQ.read_text().strip()
    if before != "1":
        if os.geteuid() != 0:
            if os.environ.get("CI") == "true":
                pytest.fail("net.ipv4.tcp_migrate_req is 0 and the tests are not root")
            pytest.skip("needs net.ipv4.tcp_migrate_req = 1 (sysctl, as root), which the Debian package installs")
        MIGRATE_REQ.write_text("1")
    yield
    if before != "1":
        MIGRATE_REQ.write_text(before)


@pytest.mark.timeout(240)
@pytest.mark.usefixtures("migrate_requests")
def test_sighup_storm_under_load_loses_nothing_and_drops_no_listener(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    with OTLPServer(http_enabled=False) as backend, taken:
        ports = {"grpc": free_port(), "http": free_port(), "udp": free_port(socket.SOCK_DGRAM), "tcp": free_port(),
                 "backend": backend.endpoint, "taken": taken.getsockname()[1]}  # fmt: skip
        agent = AgentProcess(config("a", ports), workdir=tmp_path)
        loads = [
            GrpcTraceLoad(f"127.0.0.1:{ports['grpc']}", spans=5, interval=0.02, attempts=5),
            HttpTraceLoad(f"http://127.0.0.1:{ports['http']}/v1/traces", spans=5, interval=0.05, batch0=1 << 30),
            StatsdLoad(ports["udp"], "storm.udp", lines=5, interval=0.02),
            StatsdLoad(ports["tcp"], "storm.tcp", lines=5, interval=0.02, tcp=True),
        ]
        expected: Counter[str] = Counter()
        durations: list[float] = []
        timeline: list[tuple[float, str]] = []
        slowest: dict[str, float] = {}
        try:
            agent.start()
            for load in loads:
                load.start()
            time.sleep(1)
            for i in range(RELOADS):
                variant, result = PLAN[i % len(PLAN)]
                expected[result] += 1
                agent.write_config(config(variant, ports))
                before = agent_metric_sum(agent, "edgetel_config_reloads_total")
                started = time.monotonic()
                timeline.append((started, variant))
                agent.send(signal.SIGHUP)
                wait_for(lambda b=before: agent_metric_sum(agent, "edgetel_config_reloads_total") > b, timeout=20)
                durations.append(time.monotonic() - started)
                slowest[variant] = max(slowest.get(variant, 0.0), durations[-1])
                assert agent.proc is not None and agent.proc.poll() is None
            time.sleep(1)
            for load in loads:
                load.stop()

            grpc_load, http_load, udp, tcp = loads
            assert isinstance(grpc_load, GrpcTraceLoad) and isinstance(http_load, GrpcTraceLoad)
            assert isinstance(udp, StatsdLoad) and isinstance(tcp, StatsdLoad)
            # Reload outcomes counted exactly; no client met a refused connection or any other error.
            for result, n in expected.items():
                assert agent.metric("edgetel_config_reloads_total", result=result) == n, result
            assert agent_metric_sum(agent, "edgetel_config_reloads_total") == RELOADS
            errors = {type(load).__name__ + ("/tcp" if getattr(load, "tcp", False) else ""): dict(load.errors)
                      for load in loads if load.errors}  # fmt: skip
            assert all("connection_refused" not in e for e in errors.values()), errors
            if errors:
                pytest.fail(f"client errors {errors}:\n" + "\n".join(when(loads, timeline)))
            # Every span acknowledged arrived; StatsD counter totals equal the increments sent.
            acked = grpc_load.acked_ids() | http_load.acked_ids()
            wait_for(lambda: acked <= set(span_ids_of(backend.received)), timeout=20, interval=0.2)
            totals = {"udp": udp.counted(), "tcp": tcp.counted()}

            def statsd_totals() -> dict[str, float]:
                return {k: counter_total(backend.received, f"storm.{k}") for k in totals}

            with contextlib.suppress(AssertionError):
                wait_for(lambda: statsd_totals() == totals, timeout=10, interval=0.2)
            assert statsd_totals() == totals
            got = span_ids_of(backend.received)
            durations.sort()
            print(
                f"\nSIGHUP storm: {RELOADS} reloads {dict(expected)}, reload time median "
                f"{durations[len(durations) // 2] * 1000:.0f} ms max {durations[-1] * 1000:.0f} ms; spans acked="
                f"{len(acked)} delivered={len(got)} unique (repeats {sum(got.values()) - len(got)}); StatsD "
                f"increments {totals}, totals at the backend equal; "
                f"lost=0, client errors=0, gRPC retries {dict(grpc_load.retries)}; slowest reload per variant "
                f"{ {k: round(v, 2) for k, v in slowest.items()} }; slowest answer per client "
                f"{[round(x.slowest, 2) for x in loads]}"
            )
            assert agent.stop() == 0
        finally:
            for load in loads:
                load.stopped.set()
            agent.kill()
