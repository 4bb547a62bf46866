"""Config decoding and validation, and the lifecycle every component must support."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgetel.component import registry
from edgetel.component.ids import Kind, Signal
from edgetel.config.decode import decode, encode
from edgetel.config.problems import Problems, format_path
from edgetel.receivers.otlp.config import OTLPConfig
from edgetel.receivers.otlp.factory import factory
from tests.helpers import make_traces
from tests.otlp_receiver.conftest import Collect, load_config, make_ctx, running
from tests.otlp_receiver.test_grpc import TRACES, call


def problems_of(raw: Any) -> list[str]:
    problems = Problems("test")
    decode(OTLPConfig, raw, problems)
    return [f"{format_path(p.path)}: {p.message}" for p in problems.errors]


def test_registered() -> None:
    assert registry.get(Kind.RECEIVER, "otlp") is factory
    assert factory.signals == frozenset({Signal.TRACES, Signal.METRICS})


def test_defaults_are_loopback_and_both_protocols() -> None:
    cfg = load_config({})
    assert cfg.protocols.grpc.enabled and cfg.protocols.grpc.endpoint == "127.0.0.1:4317"
    assert cfg.protocols.http.enabled and cfg.protocols.http.endpoint == "127.0.0.1:4318"
    assert cfg.protocols.grpc.max_recv_msg_size_mib == 4
    assert cfg.protocols.http.max_request_body_size == 20 * 1024 * 1024
    assert problems_of(None) == []


def test_a_present_protocol_key_enables_it_like_the_collector() -> None:
    cfg = load_config({"protocols": {"grpc": None}})
    assert cfg.protocols.grpc.enabled and not cfg.protocols.http.enabled
    cfg = load_config({"protocols": {"http": {}}})
    assert cfg.protocols.http.enabled and not cfg.protocols.grpc.enabled


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"protocols": {}}, "protocols: must enable at least one protocol"),
        ({"protocols": {"grpc": {"enabled": False}}}, "protocols: must enable at least one protocol"),
        (
            {"protocols": {"grpc": {"endpoint": "localhost"}}},
            "protocols.grpc.endpoint: endpoint 'localhost' has no port",
        ),
        ({"protocols": {"grpc": {"endpoint": "unix://rel.sock"}}}, "protocols.grpc.endpoint: a unix endpoint needs"),
        ({"protocols": {"grpc": {"max_recv_msg_size_mib": 0}}}, "protocols.grpc.max_recv_msg_size_mib"),
        ({"protocols": {"grpc": {"tls": {"cert_file": "/x.pem"}}}}, "cert_file and key_file must be given together"),
        ({"protocols": {"http": {"tls": {"cert_file": "/nope.pem", "key_file": "/nope.key"}}}}, "does not exist"),
        ({"protocols": {"http": {"traces_url_path": "v1/traces"}}}, "traces_url_path: must start with /"),
        ({"protocols": {"http": {"max_request_body_size": "lots"}}}, "max_request_body_size: invalid size"),
        ({"protocols": {"http": {"max_connections": 0}}}, "max_connections: must be at least 1"),
        ({"protocols": {"grpc": {"max_connections": 0}}}, "protocols.grpc.max_connections: must be at least 1"),
        (
            {"protocols": {"grpc": {"keepalive": {"server_parameters": {"time": "10ms"}}}}},
            "protocols.grpc.keepalive.server_parameters.time: must be at least 1s",
        ),
        (
            {"protocols": {"grpc": {"keepalive": {"enforcement_policy": {"min_time": "soon"}}}}},
            "protocols.grpc.keepalive.enforcement_policy.min_time",
        ),
        ({"protocols": {"http": {"auth": {"bearer_token": ""}}}}, "auth.bearer_token: is empty"),
        ({"protocols": {"http": {"endpont": "x"}}}, "protocols.http.endpont: unknown key (did you mean 'endpoint'?)"),
        ({"protocols": {"grpc": {"endpoint": "127.0.0.1:4317"}, "http": {"endpoint": "127.0.0.1:4317"}}}, "differ"),
    ],
)
def test_problems_are_reported_with_their_path(raw: Any, needle: str) -> None:
    found = problems_of(raw)
    assert any(needle in p for p in found), found


def test_the_token_is_a_secret() -> None:
    cfg = load_config({"protocols": {"grpc": {"auth": {"bearer_token": "hunter2"}}}})
    assert cfg.protocols.grpc.auth.token() == b"hunter2" and cfg.protocols.http.auth.token() is None
    assert "hunter2" not in repr(cfg) and "hunter2" not in str(encode(cfg))


async def test_create_and_shutdown_without_start() -> None:
    rx = factory.create(make_ctx(), load_config({}), {Signal.TRACES: Collect()})
    await rx.shutdown()


async def test_start_failure_releases_what_was_started(tmp_path: Path) -> None:
    """A port that cannot be bound fails start (the agent keeps the running config); nothing stays open."""
    async with running({"protocols": {"http": {"endpoint": "127.0.0.1:0"}}}) as first:
        assert first.receiver.http is not None
        taken = first.receiver.http.port
        raw = {"protocols": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": f"127.0.0.1:{taken}"}}}
        rx = factory.create(make_ctx(), load_config(raw), {Signal.TRACES: Collect()})
        with pytest.raises(OSError):
            await rx.start()
        await rx.shutdown()


async def test_ipv6_loopback() -> None:
    raw = {"protocols": {"grpc": {"endpoint": "[::1]:0"}, "http": {"endpoint": "[::1]:0"}}}
    try:
        cm = running(raw)
        rx = await cm.__aenter__()
    except OSError as e:  # no IPv6 on this host
        pytest.skip(f"IPv6 loopback unavailable: {e}")
    try:
        assert rx.receiver.grpc is not None
        assert await call(f"[::1]:{rx.receiver.grpc.port}", TRACES, make_traces().serialize()) == b""
        assert rx.traces.items() == 3
    finally:
        await cm.__aexit__(None, None, None)


async def test_only_the_configured_signals_are_served() -> None:
    ctx = make_ctx()
    metrics_only = Collect()
    rx = factory.create(
        ctx, load_config({"protocols": {"grpc": {"endpoint": "127.0.0.1:0"}}}), {Signal.METRICS: metrics_only}
    )
    await rx.start()
    try:
        import grpc

        port = rx.grpc.port  # type: ignore[attr-defined]
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call(f"127.0.0.1:{port}", TRACES, make_traces().serialize())
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await rx.shutdown()
        ctx.sockets.close_all()
