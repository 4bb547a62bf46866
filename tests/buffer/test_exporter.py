"""QueuedExporter with a memory or a disk buffer in front of its sender."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edgetel.buffer.config import BufferSettings, buffer_directory
from edgetel.component.errors import QueueFullError
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.types import Duration, Size
from edgetel.helpers.exporter import ExportError, QueuedExporter
from edgetel.helpers.settings import QueueSettings, RetrySettings
from edgetel.pdata import Batch
from edgetel.telemetry.components import ExporterMetrics
from edgetel.telemetry.selfmetrics import Registry
from tests.buffer.support import number, numbered


class Sender:
    """Collects what it is sent; `fail` makes it fail (retryable or not); `hold` makes sends wait."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.fail: bool | None = None  # None: ok; True: retryable; False: permanent
        self.hold = asyncio.Event()
        self.hold.set()

    async def start(self) -> None:
        pass

    async def send(self, batch: Batch) -> None:
        await self.hold.wait()
        if self.fail is not None:
            raise ExportError("backend says no", retryable=self.fail, retry_after=0.01)
        self.sent.append(number(batch))

    async def shutdown(self) -> None:
        pass


def make(sender: Sender, reg: Registry, buffer: BufferSettings | None = None, consumers: int = 1,
         queue_size: int = 1000, lifecycle: Lifecycle | None = None) -> QueuedExporter:  # fmt: skip
    retry = RetrySettings(initial_interval=Duration(0.01), max_interval=Duration(0.02), max_elapsed_time=Duration(0.1))
    return QueuedExporter(
        "otlp/x", sender, ExporterMetrics(reg, "otlp/x"), logging.getLogger("t"), lifecycle or Lifecycle(),
        QueueSettings(num_consumers=consumers, queue_size=queue_size), retry, buffer=buffer,
    )  # fmt: skip


async def wait_for(cond: Callable[[], bool], limit: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def disk_settings(tmp_path: Path, **kw: object) -> BufferSettings:
    return BufferSettings(type="disk", directory=str(tmp_path), sync_interval=Duration(0.05), **kw)  # type: ignore[arg-type]


async def test_memory_default_keeps_the_old_behaviour() -> None:
    reg, s = Registry(), Sender()
    s.hold.clear()
    exp = make(s, reg, queue_size=3)
    await exp.start()
    for i in range(4):  # one in flight, three queued
        await exp.consume(numbered(i))
        await asyncio.sleep(0.01)
    with pytest.raises(QueueFullError):
        await exp.consume(numbered(99))
    assert reg.value("edgetel_exporter_enqueue_failed_spans_total", "otlp/x") == 1
    assert reg.value("edgetel_buffer_dropped_records_total", "otlp/x", "full") == 1
    assert reg.value("edgetel_exporter_queue_size", "otlp/x") == 3
    s.hold.set()
    await wait_for(lambda: len(s.sent) == 4)
    assert s.sent == [0, 1, 2, 3]
    await exp.shutdown()


async def test_memory_drop_oldest() -> None:
    reg, s = Registry(), Sender()
    s.hold.clear()
    exp = make(s, reg, BufferSettings(when_full="drop_oldest"), queue_size=2)
    await exp.start()
    for i in range(5):
        await exp.consume(numbered(i))
        await asyncio.sleep(0.01)
    s.hold.set()
    await wait_for(lambda: len(s.sent) == 3)
    assert s.sent == [0, 3, 4]
    assert reg.value("edgetel_exporter_send_failed_spans_total", "otlp/x") == 2
    await exp.shutdown()


async def test_memory_block_waits_for_room() -> None:
    reg, s = Registry(), Sender()
    s.hold.clear()
    exp = make(s, reg, BufferSettings(when_full="block", block_timeout=Duration(2)), queue_size=1)
    await exp.start()
    await exp.consume(numbered(0))
    await asyncio.sleep(0.01)
    await exp.consume(numbered(1))
    blocked = asyncio.create_task(exp.consume(numbered(2)))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    s.hold.set()
    await asyncio.wait_for(blocked, 2)
    await wait_for(lambda: len(s.sent) == 3)
    await exp.shutdown()


async def test_queue_disabled_sends_synchronously() -> None:
    reg, s = Registry(), Sender()
    exp = QueuedExporter("e", s, ExporterMetrics(reg, "e"), logging.getLogger("t"), Lifecycle(),
                         QueueSettings(enabled=False))  # fmt: skip
    await exp.start()
    await exp.consume(numbered(5))
    assert s.sent == [5]
    await exp.shutdown()


async def test_disk_in_order_acked_after_send(tmp_path: Path) -> None:
    reg, s = Registry(), Sender()
    exp = make(s, reg, disk_settings(tmp_path))
    await exp.start()
    for i in range(50):
        await exp.consume(numbered(i, pad=200))
    await wait_for(lambda: len(s.sent) == 50)
    assert s.sent == list(range(50))
    await wait_for(lambda: reg.value("edgetel_buffer_records", "otlp/x") == 0)
    assert reg.value("edgetel_exporter_sent_spans_total", "otlp/x") == 50
    await exp.shutdown()


async def test_disk_outage_then_restart_delivers_everything_in_order(tmp_path: Path) -> None:
    reg, s = Registry(), Sender()
    s.fail = True  # backend down: retries never give up with a disk buffer (max_elapsed_time is 0.1s here)
    exp = make(s, reg, disk_settings(tmp_path))
    await exp.start()
    for i in range(30):
        await exp.consume(numbered(i))
    await asyncio.sleep(0.3)
    assert s.sent == [] and reg.value("edgetel_exporter_send_failed_spans_total", "otlp/x") == 0
    await exp.shutdown()  # the record in retry is kept
    s2 = Sender()
    exp2 = make(s2, Registry(), disk_settings(tmp_path))
    await exp2.start()
    await wait_for(lambda: len(s2.sent) == 30)
    assert s2.sent == list(range(30))
    await exp2.shutdown()


async def test_disk_backend_recovers_without_restart(tmp_path: Path) -> None:
    reg, s = Registry(), Sender()
    s.fail = True
    exp = make(s, reg, disk_settings(tmp_path))
    await exp.start()
    for i in range(10):
        await exp.consume(numbered(i))
    await asyncio.sleep(0.2)
    s.fail = None
    await wait_for(lambda: len(s.sent) == 10)
    assert s.sent == list(range(10))
    await exp.shutdown()


async def test_disk_permanent_error_drops_only_that_batch(tmp_path: Path) -> None:
    reg, s = Registry(), Sender()
    exp = make(s, reg, disk_settings(tmp_path))
    await exp.start()
    s.fail = False
    await exp.consume(numbered(0))
    await wait_for(lambda: reg.value("edgetel_exporter_send_failed_spans_total", "otlp/x") == 1)
    s.fail = None
    await exp.consume(numbered(1))
    await wait_for(lambda: s.sent == [1])
    await exp.shutdown()


async def test_disk_shutdown_deadline_keeps_the_send_in_flight(tmp_path: Path) -> None:
    reg, s = Registry(), Sender()
    s.hold.clear()  # a send that never finishes
    life = Lifecycle()
    exp = make(s, reg, disk_settings(tmp_path), lifecycle=life)
    await exp.start()
    for i in range(5):
        await exp.consume(numbered(i))
    await asyncio.sleep(0.05)
    life.deadline = time.monotonic() + 0.1
    await exp.shutdown()
    s2 = Sender()
    exp2 = make(s2, Registry(), disk_settings(tmp_path))
    await exp2.start()
    await wait_for(lambda: len(s2.sent) == 5)
    assert s2.sent == [0, 1, 2, 3, 4]
    await exp2.shutdown()


async def test_reload_overlap_shares_the_disk_buffer(tmp_path: Path) -> None:
    """The agent starts the new exporter before it stops the old one; nothing is lost or sent twice."""
    s1, s2 = Sender(), Sender()
    old = make(s1, Registry(), disk_settings(tmp_path))
    await old.start()
    for i in range(10):
        await old.consume(numbered(i))
    await wait_for(lambda: len(s1.sent) == 10)
    s1.hold.clear()
    for i in range(10, 20):
        await old.consume(numbered(i))
    await asyncio.sleep(0.05)  # old holds record 10 in flight
    new = make(s2, Registry(), disk_settings(tmp_path))
    await new.start()
    s1.hold.set()
    await old.shutdown()
    await wait_for(lambda: len(s1.sent) + len(s2.sent) == 20)
    await new.shutdown()
    assert sorted(s1.sent + s2.sent) == list(range(20))


async def test_disk_buffer_metrics_are_published(tmp_path: Path) -> None:
    reg, s = Registry(), Sender()
    s.hold.clear()
    exp = make(s, reg, disk_settings(tmp_path))
    await exp.start()
    await exp.consume(numbered(1))
    text = reg.render()
    for name in ("edgetel_buffer_bytes", "edgetel_buffer_records", "edgetel_buffer_oldest_record_age_seconds"):
        assert f'{name}{{exporter="otlp/x"}}' in text
    s.hold.set()
    await exp.shutdown()


async def test_disk_buffer_full_refuses_with_a_counter(tmp_path: Path) -> None:
    reg, s = Registry(), Sender()
    s.hold.clear()
    exp = make(s, reg, disk_settings(tmp_path, max_size=Size(1024 * 1024)))
    await exp.start()
    with pytest.raises(QueueFullError):
        for i in range(1000):
            await exp.consume(numbered(i, pad=4000))
    assert reg.value("edgetel_buffer_dropped_records_total", "otlp/x", "full") == 1
    assert reg.value("edgetel_exporter_enqueue_failed_spans_total", "otlp/x") == 1
    s.hold.set()
    await exp.shutdown()


def test_default_directory_is_per_exporter_under_the_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/srv/state:/other")
    s = BufferSettings(type="disk")
    assert buffer_directory(s, "prometheusremotewrite/prod") == Path("/srv/state/buffers/prometheusremotewrite-prod")
    monkeypatch.delenv("STATE_DIRECTORY")
    assert buffer_directory(s, "otlp") == Path("/var/lib/edgetel/buffers/otlp")
    assert buffer_directory(BufferSettings(type="disk", directory="/x/y"), "otlp") == Path("/x/y")


def test_settings_validation() -> None:
    from edgetel.helpers.settings import check_queue_and_buffer

    assert list(BufferSettings(type="disk", max_size=Size(1000)).validate())
    assert list(BufferSettings(directory="relative").validate())
    assert not list(BufferSettings(type="disk").validate())
    assert list(check_queue_and_buffer(QueueSettings(enabled=False), BufferSettings(type="disk")))


async def test_disk_with_parallel_consumers_delivers_everything_once(tmp_path: Path) -> None:
    reg, s = Registry(), Sender()
    exp = make(s, reg, disk_settings(tmp_path), consumers=3)
    await exp.start()
    for i in range(60):
        await exp.consume(numbered(i))
    await wait_for(lambda: len(s.sent) == 60)
    assert sorted(s.sent) == list(range(60))
    await exp.shutdown()
    exp2 = make(Sender(), Registry(), disk_settings(tmp_path))
    await exp2.start()
    assert exp2.queued() == 0
    await exp2.shutdown()


async def test_memory_shutdown_deadline_counts_what_is_lost() -> None:
    reg, s = Registry(), Sender()
    s.hold.clear()
    life = Lifecycle()
    exp = make(s, reg, lifecycle=life)
    await exp.start()
    for i in range(4):
        await exp.consume(numbered(i))
    await asyncio.sleep(0.02)
    life.deadline = time.monotonic() + 0.1
    await exp.shutdown()
    assert reg.value("edgetel_exporter_send_failed_spans_total", "otlp/x") == 4  # 1 in flight + 3 queued
