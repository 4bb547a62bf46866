"""edgetel's compiled hot paths (C extensions, one module per `.c` file here, built by setup.py).

Each module has a pure-Python reference implementation beside its user, which the tests compare it with and
which runs when the module was not built (a platform without a C compiler at install time); `load()` logs that
once. `EDGETEL_REQUIRE_NATIVE=1` (set by the test suite under CI) turns a missing module into an error.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

_missing: set[str] = set()


def load(name: str) -> ModuleType | None:
    """`edgetel._native.<name>`, or None (logged once) when it was not built."""
    try:
        return importlib.import_module(f"edgetel._native.{name}")
    except ImportError as e:
        if os.environ.get("EDGETEL_REQUIRE_NATIVE") == "1":
            raise ImportError(f"edgetel._native.{name} is not built (run scripts/setup.sh): {e}") from e
        if name not in _missing:
            _missing.add(name)
            logging.getLogger("edgetel").warning(
                "compiled module edgetel._native.%s is not built; using the slower Python implementation", name
            )
        return None
