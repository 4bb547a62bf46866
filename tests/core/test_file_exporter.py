from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind, Signal
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.exporters.file.config import FileConfig
from edgetel.exporters.file.factory import factory
from edgetel.pdata import Traces, otlpjson
from edgetel.pipeline.sockets import SocketPool
from edgetel.telemetry.selfmetrics import Registry
from tests.helpers import make_metrics, make_traces


def exporter(tmp_path: Path, extra: str = "") -> tuple[object, Registry, Path]:
    path = tmp_path / "out" / "data.jsonl"
    raw = yaml.safe_load(f"{{path: '{path}'{extra}}}")
    problems = Problems("t")
    fc = decode(FileConfig, raw, problems)
    assert not problems.items
    reg = Registry()
    ctx = CreateContext(ComponentID("file"), Kind.EXPORTER, logging.getLogger("t"), reg, SocketPool(), Lifecycle())
    return factory.create(ctx, fc), reg, path


async def test_writes_otlp_json_lines_readable_by_protobuf(tmp_path: Path) -> None:
    exp, reg, path = exporter(tmp_path)
    await exp.start()  # type: ignore[attr-defined]
    traces = make_traces(2, 3)
    await exp.consume(traces)  # type: ignore[attr-defined]
    await exp.consume(make_metrics(1, 4))  # type: ignore[attr-defined]
    await exp.shutdown()  # type: ignore[attr-defined]
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2
    obj = json.loads(lines[0])
    span = obj["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == "01" * 16 and span["spanId"] == "01" * 8
    assert span["startTimeUnixNano"] == "1700000000000000000" and span["kind"] == 2
    back = otlpjson.decode(lines[0], Signal.TRACES)
    assert back.serialize() == traces.serialize()
    # protobuf's own JSON parser reads it too once ids are base64 (the only OTLP JSON difference)
    req = ExportTraceServiceRequest()
    json_format.Parse(lines[0].replace(b'"' + b"01" * 16 + b'"', b'"AQEBAQEBAQEBAQEBAQEBAQ=="')
                      .replace(b'"' + b"01" * 8 + b'"', b'"AQEBAQEBAQE="'), req, ignore_unknown_fields=True)
    assert Traces(req).item_count() == 6
    assert reg.value("edgetel_exporter_sent_spans_total", "file") == 6
    assert reg.value("edgetel_exporter_sent_metric_points_total", "file") == 4


async def test_rotation_keeps_max_backups(tmp_path: Path) -> None:
    exp, _, path = exporter(tmp_path, ", rotation: {max_megabytes: 1, max_backups: 2}")
    await exp.start()  # type: ignore[attr-defined]
    big = make_traces(1, 3000)  # ~0.5 MiB of JSON per line
    for _ in range(8):
        await exp.consume(big)  # type: ignore[attr-defined]
    await exp.shutdown()  # type: ignore[attr-defined]
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["data.jsonl", "data.jsonl.1", "data.jsonl.2"]
    for p in path.parent.iterdir():
        assert p.stat().st_size <= 1024 * 1024
        for line in p.read_bytes().splitlines():
            assert otlpjson.decode(line, Signal.TRACES).item_count() == 3000


async def test_unwritable_path_is_retried_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the directory should be")
    exp, reg, _ = exporter(tmp_path, ", retry_on_failure: {initial_interval: 10ms, max_elapsed_time: 50ms}")
    await exp.start()  # type: ignore[attr-defined]
    await exp.consume(make_traces(1, 2))  # type: ignore[attr-defined]
    await exp.shutdown()  # type: ignore[attr-defined]
    assert reg.value("edgetel_exporter_send_failed_spans_total", "file") == 2
