"""Helpers shared by the template contract tests: every module of a package, found by file name."""

from __future__ import annotations

import importlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def modules(package: str) -> list[str]:
    return sorted(p.stem for p in (REPO / package).glob("*.py") if not p.stem.startswith("_"))


def build(package: str, name: str, *args):
    module = importlib.import_module(f"{package}.{name}")
    assert isinstance(module.OPTIONS, dict)
    return module.build(dict(module.OPTIONS), *args)
