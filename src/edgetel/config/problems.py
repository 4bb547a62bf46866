"""Config problems collected by path, reported as `FILE:LINE: key.path: what is wrong`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str
    warning: bool = False


@dataclass
class Problems:
    """Every error and warning found while loading one configuration file."""

    file: str
    lines: Mapping[Path, int] = field(default_factory=dict)
    items: list[Problem] = field(default_factory=list)

    def error(self, path: Path, message: str) -> None:
        self.items.append(Problem(path, message))

    def warn(self, path: Path, message: str) -> None:
        self.items.append(Problem(path, message, warning=True))

    def has_error(self, path: Path) -> bool:
        return any(p.path == path and not p.warning for p in self.items)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.warning]

    def line_of(self, path: Path) -> int:
        for n in range(len(path), -1, -1):
            line = self.lines.get(path[:n])
            if line is not None:
                return line
        return 1

    def format(self, problem: Problem) -> str:
        level = "warning: " if problem.warning else ""
        return f"{self.file}:{self.line_of(problem.path)}: {level}{format_path(problem.path)}: {problem.message}"

    def report(self) -> list[str]:
        ordered = sorted(self.items, key=lambda p: (p.warning, self.line_of(p.path)))
        return [self.format(p) for p in ordered]


class ConfigError(Exception):
    """Raised when a configuration has errors; `lines` are ready to print, one problem each."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
