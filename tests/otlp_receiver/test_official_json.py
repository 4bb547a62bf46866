"""OTLP JSON as the official Python encoder writes it.

data/sdk_{traces,metrics}.json were written by opentelemetry-exporter-otlp-json-http 0.66b1 (its json-common
encoder) from `sdkdata.make_spans()` / `make_metrics()`; data/sdk_*.pb is the protobuf SDK encoder's output for
the very same spans and points. (That exporter also sent them live to this receiver, plain and gzip, with equal
results; it is not a test dependency because it pins older SDK helper packages.)
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import orjson
import pytest

from edgetel.component.ids import Signal
from edgetel.pdata import Metrics, Traces, otlpjson
from tests.otlp_receiver.conftest import Harness

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("signal", [Signal.TRACES, Signal.METRICS])
def test_encode_matches_the_official_encoder(signal: Signal) -> None:
    cls = Traces if signal == Signal.TRACES else Metrics
    batch = cls.parse((DATA / f"sdk_{signal}.pb").read_bytes())
    official = (DATA / f"sdk_{signal}.json").read_bytes()
    assert orjson.loads(otlpjson.encode(batch)) == orjson.loads(official)
    assert otlpjson.decode(official, signal).request == batch.request


@pytest.mark.parametrize("signal", [Signal.TRACES, Signal.METRICS])
async def test_receiver_takes_the_official_json(rx: Harness, signal: Signal) -> None:
    cls = Traces if signal == Signal.TRACES else Metrics
    expected = cls.parse((DATA / f"sdk_{signal}.pb").read_bytes())
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{rx.http_url}/v1/{signal}",
            data=(DATA / f"sdk_{signal}.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        ) as r,
    ):
        assert r.status == 200 and await r.json() == {}
    got = (rx.traces if signal == Signal.TRACES else rx.metrics).batches
    assert [b.request for b in got] == [expected.request]
