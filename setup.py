"""Builds edgetel's compiled hot paths: every `src/edgetel/_native/*.c` becomes `edgetel._native.<name>`.
A module that fails to build (no C compiler) is skipped with a warning: edgetel then runs its Python
implementations (see edgetel/_native/__init__.py). Everything else about the project is in pyproject.toml."""

from pathlib import Path

from setuptools import Extension, setup

NATIVE = Path("src/edgetel/_native")
FLAGS = [
    "-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers",
    "-fno-strict-aliasing",
]  # fmt: skip

setup(
    ext_modules=[
        Extension(
            f"edgetel._native.{src.stem}",
            [str(src)],
            # every header: a changed .h rebuilds the modules (they include only their own, but this is cheap)
            depends=[str(h) for h in sorted(NATIVE.glob("*.h"))],
            extra_compile_args=FLAGS,
            optional=True,
        )
        for src in sorted(NATIVE.glob("*.c"))
    ]
)
