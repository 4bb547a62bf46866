"""The `edgetel` command line: run, validate, print-config, components, version."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import yaml

from edgetel import __version__

if TYPE_CHECKING:
    from edgetel.config.model import AgentConfig


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgetel", description="edgetel: a lightweight edge telemetry agent")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the agent (the built-in default configuration without --config)")
    run.add_argument("--config", "-c", metavar="FILE", help="configuration file (default: built-in agent.yaml)")
    val = sub.add_parser("validate", help="check a configuration file; print every problem, one per line")
    val.add_argument("--config", "-c", metavar="FILE", help="configuration file (default: built-in agent.yaml)")
    val.add_argument("--check-buffers", action="store_true", help="also report each disk buffer's integrity")
    pc = sub.add_parser("print-config", help="print the effective configuration, secrets masked")
    pc.add_argument("--config", "-c", metavar="FILE", help="configuration file (default: built-in agent.yaml)")
    sub.add_parser("components", help="list the component types of this build")
    sub.add_parser("version", help="print the version")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(f"edgetel {__version__}")
        return 0
    if args.command == "components":
        return _components()
    from edgetel.agent import load_config, run
    from edgetel.config.problems import ConfigError

    if args.command == "run":
        return run(args.config)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        for line in e.lines:
            print(line, file=sys.stderr)
        n = sum(1 for line in e.lines if ": warning: " not in line)
        print(f"{n} error{'s' if n != 1 else ''}", file=sys.stderr)
        return 1
    if args.command == "validate":
        for line in config.warnings:
            print(line, file=sys.stderr)
        code = 0
        if args.check_buffers:
            code = _check_buffers(config)
        print(f"{config.source}: configuration is valid")
        return code
    if args.command == "print-config":
        sys.stdout.write(yaml.safe_dump(config.effective(), sort_keys=False, default_flow_style=False))
        return 0
    return 2


def _components() -> int:
    from edgetel.component import registry

    rows = [(f.kind.value, f.type, ",".join(sorted(f.signals | f.emits)), f.stability, f.description)
            for f in registry.all_factories()]  # fmt: skip
    width = max((len(r[1]) for r in rows), default=4)
    for kind, name, signals, stability, desc in rows:
        print(f"{kind:<10} {name:<{width}}  {signals:<16} {stability:<8} {desc}")
    return 0


def _check_buffers(config: AgentConfig) -> int:
    """Report every disk buffer (configured, or left in the state directory by an earlier configuration)."""
    from edgetel.buffer.check import check_buffers, configured_buffers, find_buffers
    from edgetel.component.ids import Kind

    exporters = [(str(cid), c.config) for cid, c in config.components[Kind.EXPORTER].items()]
    dirs = list(dict.fromkeys([*configured_buffers(exporters), *find_buffers()]))
    if not dirs:
        print("no disk buffers")
        return 0
    for missing in [d for d in dirs if not d.exists()]:
        print(f"{missing}: not created yet (the exporter has not run)")
    reports = check_buffers(d for d in dirs if d.exists())
    for report in reports:
        print(report.line())
    return 0 if all(r.ok for r in reports) else 1
