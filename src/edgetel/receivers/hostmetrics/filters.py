"""Include / exclude name filters with the Collector's `match_type: strict | regexp`."""

from __future__ import annotations

import re
from collections.abc import Sequence


class Matcher:
    """Strict: exact names. Regexp: a name matches when any pattern is found in it (unanchored, like Go's
    `regexp.MatchString` in the Collector's filterset)."""

    def __init__(self, patterns: Sequence[str], match_type: str = "strict") -> None:
        self._names = frozenset(patterns) if match_type == "strict" else frozenset()
        self._regex = (
            re.compile("|".join(f"(?:{p})" for p in patterns)) if match_type == "regexp" and patterns else None
        )

    def matches(self, name: str) -> bool:
        if self._regex is not None:
            return self._regex.search(name) is not None
        return name in self._names


class NameFilter:
    """Keep a name when it matches `include` (if given) and does not match `exclude` (if given)."""

    def __init__(self, include: Matcher | None = None, exclude: Matcher | None = None) -> None:
        self._include = include
        self._exclude = exclude
        self._cache: dict[str, bool] = {}

    @classmethod
    def build(
        cls,
        include: Sequence[str],
        include_type: str,
        exclude: Sequence[str],
        exclude_type: str,
    ) -> NameFilter:
        return cls(
            Matcher(include, include_type) if include else None,
            Matcher(exclude, exclude_type) if exclude else None,
        )

    @property
    def passes_all(self) -> bool:
        return self._include is None and self._exclude is None

    def __call__(self, name: str) -> bool:
        hit = self._cache.get(name)
        if hit is None:
            hit = (self._include is None or self._include.matches(name)) and (
                self._exclude is None or not self._exclude.matches(name)
            )
            if len(self._cache) >= 4096:
                self._cache.clear()
            self._cache[name] = hit
        return hit
