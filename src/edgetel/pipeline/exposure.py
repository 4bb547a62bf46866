"""Which listeners of a configuration are reachable from other hosts without TLS or authentication.

The agent logs one warning per such listener at start and after each reload: listening beyond loopback is a
deliberate choice, listening there in clear text and without a token deserves a reminder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgetel.component.ids import Kind
from edgetel.config.model import AgentConfig
from edgetel.pipeline.sockets import is_loopback, parse_endpoint


@dataclass(frozen=True)
class Exposure:
    listener: str  # "receivers::otlp/in protocols.grpc", "service::admin"
    endpoint: str
    missing: str  # "TLS or authentication", "TLS", ...

    def __str__(self) -> str:
        return f"{self.listener} on {self.endpoint} has no {self.missing}"


def _remote(endpoint: str) -> bool:
    if not endpoint or endpoint.startswith("unix://"):
        return False
    try:
        host, _ = parse_endpoint(endpoint)
    except ValueError:
        return False
    return not is_loopback(host.strip("[]"))


def _missing(tls: Any, auth: Any) -> str:
    has_tls = bool(getattr(tls, "enabled", False))
    has_auth = getattr(auth, "bearer_token", None) is not None
    return " or ".join(w for w, ok in (("TLS", has_tls), ("authentication", has_auth)) if not ok)


def exposures(config: AgentConfig) -> list[Exposure]:
    """Listeners bound beyond loopback that lack TLS or authentication (or both)."""
    out: list[Exposure] = []
    for cid, comp in config.components[Kind.RECEIVER].items():
        cfg = comp.config
        protocols = getattr(cfg, "protocols", None)
        if protocols is not None:  # otlp: grpc and http, each with tls and auth
            for proto in ("grpc", "http"):
                p = getattr(protocols, proto, None)
                if p is None or not getattr(p, "enabled", False) or not _remote(getattr(p, "endpoint", "")):
                    continue
                missing = _missing(getattr(p, "tls", None), getattr(p, "auth", None))
                if missing:
                    out.append(Exposure(f"receivers::{cid} protocols.{proto}", p.endpoint, missing))
            continue
        for key in ("endpoint", "tcp_endpoint"):  # statsd and the like: no TLS, no authentication
            value = getattr(cfg, key, "")
            if isinstance(value, str) and _remote(value):
                out.append(Exposure(f"receivers::{cid} {key}", value, "TLS or authentication"))
    admin = config.service.admin
    if admin.enabled and _remote(admin.endpoint):
        out.append(Exposure("service::admin", admin.endpoint, "TLS or authentication"))
    return out
