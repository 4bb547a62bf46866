"""Case 5: the agent finds its disk buffer damaged (a bit-flipped record, a zero-filled segment, a segment
truncated in the middle of a record, a torn tail on the newest one, a garbage ledger). `edgetel validate
--check-buffers` reports the damage (exit 1); the agent starts (/readyz 200), skips and counts the damaged
records, delivers every intact one, and does not loop."""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.buffer.disk.format import RECORD_HEADER_SIZE as RECORD_HEADER
from edgetel.buffer.disk.format import SEGMENT_HEADER_SIZE as SEGMENT_HEADER
from tests.agentproc import AgentProcess, free_port, wait_for
from tests.reliability._agents import GrpcTraceLoad, batch_of, span_ids_of
from tests.support.otlp_server import OTLPServer

BATCHES = 150

CONFIG = """
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc}"}}}}}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{otlp_port}"
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 300ms}}
    sending_queue: {{num_consumers: 1}}
    buffer: {{type: disk, max_size: 1MiB, sync_interval: 200ms}}
service:
  admin: {{endpoint: "{{admin}}"}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
"""


def records(segment: Path) -> list[tuple[int, int, int]]:
    """(offset, size on disk, batch number) of each record of a segment, read with the documented format."""
    data = segment.read_bytes()
    out = []
    at = SEGMENT_HEADER
    while at + RECORD_HEADER <= len(data):
        (length,) = struct.unpack_from("<I", data, at)
        payload = data[at + RECORD_HEADER : at + RECORD_HEADER + length]
        req = ExportTraceServiceRequest.FromString(payload)
        out.append((at, RECORD_HEADER + length, int.from_bytes(req.resource_spans[0].scope_spans[0].spans[0].trace_id,
                                                                 "big")))  # fmt: skip
        at += RECORD_HEADER + length
    return out


def validate(agent: AgentProcess) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgetel", "validate", "--config", str(agent.config_path),
                           "--check-buffers"], capture_output=True, text=True, env=agent.env, timeout=60)  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, clock ticks


@pytest.mark.timeout(90)
def test_damaged_buffer_is_reported_skipped_counted_and_the_rest_delivered(tmp_path: Path) -> None:
    grpc_port, otlp_port = free_port(), free_port()
    agent = AgentProcess(CONFIG.format(grpc=grpc_port, otlp_port=otlp_port), workdir=tmp_path)
    buffer = tmp_path / "state" / "buffers" / "otlp"
    # 1. A backlog on disk: the backend is down, the agent is stopped cleanly.
    load = GrpcTraceLoad(f"127.0.0.1:{grpc_port}", spans=10, interval=0.005, pad=400, max_requests=BATCHES)
    try:
        agent.start()
        load.start()
        load.join(60)
        assert len(load.acked) == BATCHES, load.errors
        wait_for(lambda: agent.metric("edgetel_buffer_records", exporter="otlp") == BATCHES)
        assert agent.stop(signal.SIGTERM) == 0
    finally:
        load.stop()
        agent.kill()
    assert validate(agent).returncode == 0

    # 2. Damage it.
    segments = sorted(buffer.glob("data-*.seg"))
    assert len(segments) >= 5, segments
    layout = {s: records(s) for s in segments}
    assert sorted(b for recs in layout.values() for _, _, b in recs) == list(range(BATCHES))
    intact: set[int] = set()
    flip_seg, zero_seg, cut_seg, *middle, tail_seg = segments
    # bit flip in the payload of the second record
    data = bytearray(flip_seg.read_bytes())
    off, size, flipped = layout[flip_seg][1]
    data[off + RECORD_HEADER + size // 2] ^= 0x10
    flip_seg.write_bytes(bytes(data))
    intact |= {b for _, _, b in layout[flip_seg] if b != flipped}
    # a zero-filled segment (header included)
    zero_seg.write_bytes(b"\0" * zero_seg.stat().st_size)
    # an older segment cut in the middle of its third record
    off, size, _ = layout[cut_seg][2]
    with open(cut_seg, "r+b") as f:
        f.truncate(off + size // 2)
    intact |= {b for _, _, b in layout[cut_seg][:2]}
    for s in middle:
        intact |= {b for _, _, b in layout[s]}
    # a torn tail on the newest segment: its last record half written
    off, size, _ = layout[tail_seg][-1]
    with open(tail_seg, "r+b") as f:
        f.truncate(off + size - 7)
    intact |= {b for _, _, b in layout[tail_seg][:-1]}
    # a garbage ledger
    (buffer / "ledger.json").write_bytes(b'{"ledger": "\x00\x01garbage", "crc": 12}')
    damaged = set(range(BATCHES)) - intact

    # 3. `validate --check-buffers` reports it.
    checked = validate(agent)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "DAMAGED" in checked.stdout, checked.stdout
    print("\n" + checked.stdout.strip())

    # 4. The agent starts, skips, counts, delivers the intact records, and settles.
    with OTLPServer(http_enabled=False, grpc_port=otlp_port) as backend:
        agent.start()
        assert agent.get("/readyz")[0] == 200
        wait_for(lambda: agent.metric("edgetel_buffer_records", exporter="otlp") == 0, timeout=30, interval=0.2)

        def delivered() -> set[int]:
            return {batch_of(i) for i in span_ids_of(backend.received)}

        wait_for(lambda: intact <= delivered(), timeout=20)
        got = delivered()
        assert got == intact, (sorted(intact - got), sorted(got - intact))  # every intact record, no damaged one
        corrupt = agent.metric("edgetel_buffer_corrupt_records_total", exporter="otlp")
        assert corrupt >= 3  # the flipped record, the zero-filled segment, the cut record (at least)
        assert agent.metric("edgetel_exporter_send_failed_spans_total", exporter="otlp") == 0
        # no loop: nothing more is sent, counted or burnt once drained
        assert agent.proc is not None
        requests, cpu = len(backend.received), cpu_seconds(agent.proc.pid)
        time.sleep(3)
        assert len(backend.received) == requests
        assert agent.metric("edgetel_buffer_corrupt_records_total", exporter="otlp") == corrupt
        idle_cpu = cpu_seconds(agent.proc.pid) - cpu
        assert idle_cpu < 0.5, idle_cpu
        print(f"\ncorrupt buffers: {BATCHES} records in {len(segments)} segments, damaged={len(damaged)} "
              f"(flip 1, zero-filled segment {len(layout[zero_seg])}, cut {len(layout[cut_seg]) - 2}, torn tail 1), "
              f"counted corrupt={corrupt:.0f}, delivered={len(got)} of {len(intact)} intact (lost intact=0), "
              f"idle CPU after drain={idle_cpu:.2f}s/3s")  # fmt: skip
        assert agent.stop() == 0
    after = validate(agent)
    assert after.returncode == 0, after.stdout
