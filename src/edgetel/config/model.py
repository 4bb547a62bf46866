"""The whole agent configuration: components by kind and id, pipelines, and the service section."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from edgetel.component import registry
from edgetel.component.factory import Factory
from edgetel.component.ids import ComponentID, Kind, PipelineID, Signal
from edgetel.config.decode import decode, encode
from edgetel.config.loader import Document, load_file, load_text
from edgetel.config.problems import ConfigError, Path, Problems, did_you_mean
from edgetel.config.types import Duration
from edgetel.pipeline.sockets import parse_endpoint

SECTIONS = {"receivers": Kind.RECEIVER, "processors": Kind.PROCESSOR, "exporters": Kind.EXPORTER,
            "connectors": Kind.CONNECTOR}  # fmt: skip


@dataclass
class PipelineConfig:
    receivers: list[str] = field(default_factory=list)
    processors: list[str] = field(default_factory=list)
    exporters: list[str] = field(default_factory=list)


@dataclass
class AdminConfig:
    """The admin HTTP endpoint: /healthz, /readyz, /metrics and the status page."""

    endpoint: str = "127.0.0.1:13133"
    enabled: bool = True

    def validate(self) -> Iterator[tuple[str, str]]:
        try:
            parse_endpoint(self.endpoint)
        except ValueError as e:
            yield "endpoint", str(e)


@dataclass
class LogsConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


@dataclass
class ServiceConfig:
    pipelines: dict[str, PipelineConfig] = field(default_factory=dict)
    admin: AdminConfig = field(default_factory=AdminConfig)
    logs: LogsConfig = field(default_factory=LogsConfig)
    shutdown_timeout: Duration = field(default_factory=lambda: Duration(15.0))


@dataclass(frozen=True)
class ComponentConfig:
    id: ComponentID
    kind: Kind
    factory: Factory
    config: Any


@dataclass(frozen=True)
class Pipeline:
    id: PipelineID
    receivers: tuple[ComponentID, ...]
    processors: tuple[ComponentID, ...]
    exporters: tuple[ComponentID, ...]


@dataclass
class AgentConfig:
    source: str
    components: dict[Kind, dict[ComponentID, ComponentConfig]]
    pipelines: dict[PipelineID, Pipeline]
    service: ServiceConfig
    warnings: list[str] = field(default_factory=list)

    def component(self, kind: Kind, cid: ComponentID) -> ComponentConfig:
        return self.components[kind][cid]

    def effective(self) -> dict[str, Any]:
        """The configuration after defaults and substitution, secrets masked (for `print-config`)."""
        out: dict[str, Any] = {}
        for section, kind in SECTIONS.items():
            if self.components[kind]:
                out[section] = {str(cid): encode(c.config) for cid, c in self.components[kind].items()}
        out["service"] = encode(self.service)
        return out


def _build(doc: Document) -> AgentConfig:
    problems = doc.problems
    data = doc.data
    if data is None:
        if problems.errors:  # the file could not be read or parsed
            raise ConfigError(problems.report())
        data = {}
    if not isinstance(data, dict):
        problems.error((), "the configuration must be a mapping with receivers, processors, exporters, service")
        raise ConfigError(problems.report())
    for key in data:
        if key not in (*SECTIONS, "service"):
            problems.error((key,), f"unknown top-level section{did_you_mean(key, [*SECTIONS, 'service'])}")
    components: dict[Kind, dict[ComponentID, ComponentConfig]] = {k: {} for k in Kind}
    for section, kind in SECTIONS.items():
        raw = data.get(section)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            problems.error((section,), "expected a mapping of component ids to their settings")
            continue
        for key, value in raw.items():
            path: Path = (section, key)
            try:
                cid = ComponentID.parse(key)
            except ValueError as e:
                problems.error(path, str(e))
                continue
            factory = registry.get(kind, cid.type)
            if factory is None:
                known = registry.types_of(kind)
                problems.error(
                    path,
                    f"unknown {kind} type {cid.type!r}{did_you_mean(cid.type, known)}; "
                    f"this build has: {', '.join(known) or 'none'}",
                )
                continue
            cfg: Any = decode(factory.config_type, value, problems, path)
            components[kind][cid] = ComponentConfig(cid, kind, factory, cfg)
    service = decode(ServiceConfig, data.get("service"), problems, ("service",))
    _check_buffer_directories(components[Kind.EXPORTER], problems)
    pipelines = _pipelines(service, components, problems)
    if not problems.errors:
        _check_unused(components, pipelines, problems)
    if problems.errors:
        raise ConfigError(problems.report())
    warnings = [problems.format(p) for p in problems.warnings]
    return AgentConfig(problems.file, components, pipelines, service, warnings)


def _pipelines(
    service: ServiceConfig, components: Mapping[Kind, Mapping[ComponentID, ComponentConfig]], problems: Problems
) -> dict[PipelineID, Pipeline]:
    out: dict[PipelineID, Pipeline] = {}
    if not service.pipelines:
        problems.error(("service", "pipelines"), "no pipelines are configured")
    for key, p in service.pipelines.items():
        path: Path = ("service", "pipelines", key)
        try:
            pid = PipelineID.parse(key)
        except ValueError as e:
            problems.error(path, str(e))
            continue
        if pid.signal is Signal.LOGS:
            problems.error(path, "logs pipelines are not supported by this build yet")
            continue
        refs: dict[str, list[ComponentID]] = {}
        for role, kinds in (
            ("receivers", (Kind.RECEIVER, Kind.CONNECTOR)),
            ("processors", (Kind.PROCESSOR,)),
            ("exporters", (Kind.EXPORTER, Kind.CONNECTOR)),
        ):
            ids: list[ComponentID] = []
            seen: set[ComponentID] = set()
            for i, ref in enumerate(getattr(p, role)):
                rpath: Path = (*path, role, i)
                try:
                    cid = ComponentID.parse(ref)
                except ValueError as e:
                    problems.error(rpath, str(e))
                    continue
                found = next((components[k][cid] for k in kinds if cid in components[k]), None)
                if found is None:
                    names = [str(c) for k in kinds for c in components[k]]
                    problems.error(
                        rpath,
                        f"references {role[:-1]} {str(cid)!r} which is not configured{did_you_mean(str(cid), names)}",
                    )
                    continue
                if cid in seen:
                    problems.error(rpath, f"{str(cid)!r} is listed twice")
                    continue
                seen.add(cid)
                _check_signal(found, role, pid.signal, rpath, problems)
                ids.append(cid)
            refs[role] = ids
        if not p.receivers:
            problems.error((*path, "receivers"), "a pipeline needs at least one receiver")
        if not p.exporters:
            problems.error((*path, "exporters"), "a pipeline needs at least one exporter")
        out[pid] = Pipeline(pid, tuple(refs["receivers"]), tuple(refs["processors"]), tuple(refs["exporters"]))
    return out


def _check_signal(comp: ComponentConfig, role: str, signal: Signal, path: Path, problems: Problems) -> None:
    f = comp.factory
    if comp.kind is Kind.CONNECTOR:
        supported = f.emits if role == "receivers" else f.signals
    else:
        supported = f.signals
    if signal not in supported:
        problems.error(
            path,
            f"{f.kind} {str(comp.id)!r} does not support {signal} "
            f"(it supports: {', '.join(sorted(supported)) or 'nothing'})",
        )


def _check_unused(
    components: Mapping[Kind, Mapping[ComponentID, ComponentConfig]],
    pipelines: Mapping[PipelineID, Pipeline],
    problems: Problems,
) -> None:
    used: dict[Kind, set[ComponentID]] = {k: set() for k in Kind}
    as_exporter: set[ComponentID] = set()
    as_receiver: set[ComponentID] = set()
    for p in pipelines.values():
        used[Kind.RECEIVER].update(p.receivers)
        used[Kind.PROCESSOR].update(p.processors)
        used[Kind.EXPORTER].update(p.exporters)
        as_receiver.update(p.receivers)
        as_exporter.update(p.exporters)
    for kind, section in ((k, s) for s, k in SECTIONS.items()):
        for cid in components[kind]:
            if kind is Kind.CONNECTOR:
                if cid not in as_exporter or cid not in as_receiver:
                    problems.error(
                        (section, str(cid)),
                        "a connector must be an exporter of one pipeline and a receiver of another",
                    )
            elif cid not in used[kind]:
                problems.warn((section, str(cid)), f"{kind} is configured but not used in any pipeline")


def _check_buffer_directories(exporters: Mapping[ComponentID, ComponentConfig], problems: Problems) -> None:
    """Two exporters must never share a disk buffer directory (the second could not open it)."""
    from edgetel.buffer.config import BufferSettings, buffer_directory

    seen: dict[str, ComponentID] = {}
    for cid, comp in exporters.items():
        settings = getattr(comp.config, "buffer", None)
        if not isinstance(settings, BufferSettings) or settings.type != "disk":
            continue
        directory = str(buffer_directory(settings, str(cid)))
        if directory in seen:
            problems.error(("exporters", str(cid), "buffer", "directory"),
                           f"{directory} is already the disk buffer of exporter {str(seen[directory])!r}")  # fmt: skip
        else:
            seen[directory] = cid


def load(path: str, env: Mapping[str, str] | None = None) -> AgentConfig:
    """Load and validate a configuration file; raise `ConfigError` listing every problem."""
    return _build(load_file(path, env))


def load_string(text: str, source: str = "<string>", env: Mapping[str, str] | None = None) -> AgentConfig:
    return _build(load_text(text, source, env))


def same_settings(a: Any, b: Any) -> bool:
    """Whether two decoded configs are equal (dataclass equality, secrets compared by value)."""
    return type(a) is type(b) and bool(a == b)
