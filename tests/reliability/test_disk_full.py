"""Case 4: the disk buffer's file system fills up (a 2 MiB tmpfs mounted by the test) while the backend is down:
the agent keeps running, refuses with retry-later and counts `reason="enospc"`; when space returns new data is
buffered again, and once the backend is back everything accepted is delivered."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.agentproc import AgentProcess, free_port, wait_for
from tests.reliability._agents import GrpcTraceLoad, span_ids_of, tmpfs
from tests.support.otlp_server import OTLPServer

CONFIG = """
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc}"}}}}}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{otlp_port}"
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms}}
    sending_queue: {{num_consumers: 1}}
    buffer: {{type: disk, directory: "{directory}", max_size: 64MiB, sync_interval: 200ms}}
service:
  admin: {{endpoint: "{{admin}}"}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
"""


def enospc(agent: AgentProcess) -> float:
    return agent.metric("edgetel_buffer_dropped_records_total", exporter="otlp", reason="enospc")


@pytest.mark.timeout(90)
def test_full_disk_keeps_the_agent_up_counts_and_recovers(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "2m") as mnt:
        filler = mnt / "filler"
        filler.write_bytes(b"\0" * (1536 * 1024))  # leaves ~512 KiB for the buffer
        grpc_port, otlp_port = free_port(), free_port()
        (tmp_path / "agent").mkdir()
        config = CONFIG.format(grpc=grpc_port, otlp_port=otlp_port, directory=mnt / "buffer")
        agent = AgentProcess(config, workdir=tmp_path / "agent")
        load = GrpcTraceLoad(f"127.0.0.1:{grpc_port}", spans=10, interval=0.02, pad=400)
        backend: OTLPServer | None = None
        try:
            agent.start()
            load.start()
            wait_for(lambda: enospc(agent) > 0, timeout=30, interval=0.2)
            time.sleep(2)  # keep writing into the full disk for a while
            assert agent.proc is not None and agent.proc.poll() is None
            assert agent.get("/healthz")[0] == 200
            refused_full = sum(load.errors.values())
            acked_full = len(load.acked)
            drops = enospc(agent)
            assert refused_full > 0 and drops > 0
            assert set(load.errors) <= {"grpc_UNAVAILABLE", "grpc_RESOURCE_EXHAUSTED"}, load.errors  # retry-later

            # Space returns: new data is buffered again (the backend is still down).
            filler.unlink()
            mark = len(load.acked)
            wait_for(lambda: len(load.acked) >= mark + 20, timeout=20, interval=0.2)
            errors_before = sum(load.errors.values())
            time.sleep(1)
            assert sum(load.errors.values()) == errors_before  # no more refusals
            assert agent.metric("edgetel_buffer_records", exporter="otlp") > 0

            # The backend comes back: everything accepted, before and after the full disk, is delivered.
            backend = OTLPServer(http_enabled=False, grpc_port=otlp_port).start_in_thread()
            time.sleep(1)
            load.stop()
            acked = load.acked_ids()
            wait_for(lambda: acked <= set(span_ids_of(backend.received)), timeout=30, interval=0.2)
            wait_for(lambda: agent.metric("edgetel_buffer_records", exporter="otlp") == 0, timeout=15)
            got = span_ids_of(backend.received)
            print(f"\ndisk full: accepted before full={acked_full} requests, refused while full={refused_full} "
                  f"(agent enospc drops={drops:.0f}), accepted in all={len(load.acked)} requests "
                  f"= {len(acked)} spans, delivered={len(got)} unique, lost=0")  # fmt: skip
            assert agent.metric("edgetel_exporter_send_failed_spans_total", exporter="otlp") == 0
            assert agent.stop() == 0
        finally:
            load.stopped.set()
            agent.kill()
            if backend is not None:
                backend.stop_thread()
