from __future__ import annotations

import io
import json
import logging

from edgetel.telemetry.logging import ConsoleFormatter, DedupFilter, JSONFormatter
from edgetel.telemetry.selfmetrics import Registry


def logger_with(stream: io.StringIO, fmt: logging.Formatter, window: float = 60) -> logging.Logger:
    log = logging.getLogger(f"dedup-{id(stream)}")
    log.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(fmt)
    handler.addFilter(DedupFilter(window=window))
    log.addHandler(handler)
    return log


def test_repeated_errors_are_logged_once_with_a_count() -> None:
    out = io.StringIO()
    log = logger_with(out, JSONFormatter())
    for i in range(1000):
        log.error("bad packet", extra={"peer": f"10.0.0.{i % 7}"})
    log.error("other problem")
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["msg"] for x in lines] == ["bad packet", "other problem"]
    assert lines[0]["peer"] == "10.0.0.0" and lines[0]["level"] == "error"


def test_after_the_window_the_suppressed_count_is_reported() -> None:
    out = io.StringIO()
    log = logger_with(out, JSONFormatter(), window=0.0)
    log.warning("flaky")
    log.warning("flaky")
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert len(lines) == 2 and "repeated" not in lines[1]
    filt = DedupFilter(window=1000)
    rec = logging.LogRecord("x", logging.ERROR, "", 0, "boom", None, None)
    assert filt.filter(rec) and not filt.filter(rec) and not filt.filter(rec)
    filt.window = 0
    rec2 = logging.LogRecord("x", logging.ERROR, "", 0, "boom", None, None)
    assert filt.filter(rec2) and rec2.repeated == 2


def test_info_is_never_deduplicated_and_console_format_is_readable() -> None:
    out = io.StringIO()
    log = logger_with(out, ConsoleFormatter())
    log.setLevel(logging.INFO)
    log.info("hello", extra={"k": "v"})
    log.info("hello", extra={"k": "v"})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "INFO" in lines[0] and "hello" in lines[0] and "k=v" in lines[0]


def test_exposition_format() -> None:
    reg = Registry()
    c = reg.counter("edgetel_x_total", "things", ("component",))
    c.labels('a"b').inc(3)
    reg.gauge("edgetel_g", "a gauge").set_function((), lambda: 1.5)
    text = reg.render()
    assert "# TYPE edgetel_x_total counter" in text
    assert 'edgetel_x_total{component="a\\"b"} 3' in text
    assert "edgetel_g 1.5" in text
    assert reg.value("edgetel_x_total", 'a"b') == 3
