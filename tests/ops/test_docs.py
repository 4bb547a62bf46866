"""The docs stay in sync with the code: every config key of every component is documented in the component's
README (shared settings sections in their shared page), and every service key in docs/configuration.md."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest

from edgetel.component import registry
from edgetel.component.ids import Kind
from edgetel.config.decode import field_key
from edgetel.config.model import ServiceConfig

ROOT = Path(__file__).resolve().parents[2]
# Settings classes shared by many components are documented once, on their own page.
SHARED_PAGES = {
    "QueueSettings": "docs/exporter-settings.md",
    "RetrySettings": "docs/exporter-settings.md",
    "BufferSettings": "docs/exporter-settings.md",
    "TLSClientSettings": "docs/exporter-settings.md",
}


def dataclass_of(tp: Any) -> type | None:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return tp
    for arg in get_args(tp):
        if get_origin(tp) is dict and arg is str:
            continue
        found = dataclass_of(arg)
        if found is not None:
            return found
    return None


def keys(cls: type, prefix: str = "") -> Iterator[tuple[str, type | None]]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        path = prefix + field_key(f)
        nested = dataclass_of(hints[f.name])
        yield path, nested
        if nested is not None and nested.__name__ not in SHARED_PAGES:
            yield from keys(nested, path + ".")


def documented(text: str, path: str) -> bool:
    """The key's name appears as a word in some `code` span of the page (tables write `a.b.key`,
    `{key: ...}` or `prefix_` / `_suffix` shorthands for families of keys)."""
    leaf = path.rsplit(".", 1)[-1]
    fences = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    spans = fences + re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    words = {w for span in spans for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span)}
    return leaf in words or any(len(w) > 3 and w.startswith("_") and leaf.endswith(w) for w in words)


FACTORIES = [(kind, name) for kind in Kind for name in registry.types_of(kind)]


@pytest.mark.parametrize(("kind", "name"), FACTORIES, ids=[f"{k}/{n}" for k, n in FACTORIES])
def test_every_component_key_is_documented(kind: Kind, name: str) -> None:
    factory = registry.get(kind, name)
    assert factory is not None
    module = registry._MODULES[kind][name]
    readme = ROOT / "src" / Path(*module.split(".")[:-1]) / "README.md"
    assert readme.exists(), f"{readme} is missing"
    text = readme.read_text()
    missing = [p for p, _ in keys(factory.config_type) if not documented(text, p)]
    assert not missing, f"{readme.relative_to(ROOT)} does not document: {', '.join(missing)}"
    shared = {n.__name__ for _, n in keys(factory.config_type) if n is not None and n.__name__ in SHARED_PAGES}
    for cls_name in shared:
        page = ROOT / SHARED_PAGES[cls_name]
        cls = next(n for _, n in keys(factory.config_type) if n is not None and n.__name__ == cls_name)
        assert cls is not None
        page_text = page.read_text()
        gaps = [p for p, _ in keys(cls) if not documented(page_text, p)]
        assert not gaps, f"{SHARED_PAGES[cls_name]} does not document {cls_name}: {', '.join(gaps)}"


def test_service_keys_are_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    leaves = [p for p, nested in keys(ServiceConfig) if nested is None and not p.startswith("pipelines")]
    missing = [p for p in leaves if f"`service.{p}`" not in text]
    assert not missing, f"docs/configuration.md does not document: {missing}"


def test_components_page_lists_every_component() -> None:
    text = (ROOT / "docs" / "components.md").read_text()
    for kind, name in FACTORIES:
        if kind is Kind.RECEIVER and name in ("push",):
            continue
        assert f"`{name}`" in text, f"docs/components.md does not list {kind} {name}"
