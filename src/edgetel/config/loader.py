"""YAML to plain Python values, keeping the line of every key, with `${env:NAME}` substitution."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from edgetel.config.problems import Path, Problems

_ENV_RE = re.compile(r"\$\$|\$\{(env:)?([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}|\$\{([^}]*)\}")


@dataclass
class Document:
    data: Any
    problems: Problems


def substitute(text: str, env: Mapping[str, str]) -> str:
    """Expand `${env:NAME}`, `${NAME}` and `${NAME:-default}`; `$$` is a literal `$`. Raise on unset names."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        if m.group(5) is not None:
            raise ValueError(f"invalid substitution ${{{m.group(5)}}}: use ${{env:NAME}} or ${{NAME:-default}}")
        name, default = m.group(2), m.group(4)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise ValueError(f"environment variable {name} is not set (give a default: ${{{name}:-value}})")
            return default
        return value

    return _ENV_RE.sub(repl, text)


class _Builder:
    def __init__(self, problems: Problems, env: Mapping[str, str]) -> None:
        self.problems = problems
        self.lines: dict[Path, int] = {}
        self.env = env
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node | None, path: Path) -> Any:
        if node is None:
            return None
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in self._merged_pairs(node):
                key = self.constructor.construct_object(key_node)
                key = "" if key is None else str(key)
                sub = (*path, key)
                if key in out:
                    self.lines[sub] = key_node.start_mark.line + 1
                    self.problems.error(sub, "duplicate key")
                self.lines[sub] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.constructor.construct_object(node)
        if isinstance(value, str) and "$" in value:
            try:
                value = substitute(value, self.env)
            except ValueError as e:
                self.problems.error(path, str(e))
        return value

    def _merged_pairs(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for src in sources:
                    if isinstance(src, yaml.MappingNode):
                        merged.extend(self._merged_pairs(src))
            else:
                own.append((key_node, value_node))
        own_keys = {k.value for k, _ in own}
        return [p for p in merged if p[0].value not in own_keys] + own


def load_text(text: str, file: str, env: Mapping[str, str] | None = None) -> Document:
    problems = Problems(file)
    builder = _Builder(problems, os.environ if env is None else env)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problems.lines = {(): line}
        problems.error((), f"not valid YAML: {getattr(e, 'problem', None) or e}")
        return Document(None, problems)
    data = builder.build(node, ())
    problems.lines = builder.lines
    return Document(data, problems)


def load_file(path: str, env: Mapping[str, str] | None = None) -> Document:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        problems = Problems(path)
        problems.error((), f"cannot read the file: {e}")
        return Document(None, problems)
    return load_text(text, path, env)
