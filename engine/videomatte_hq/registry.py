"""Backend lookup by name for both stages; modules are imported only when chosen (no torch for weight-free runs)."""

from __future__ import annotations

import importlib

from .errors import VideomatteError


def backend_class(table: dict[str, str], name: str, key: str):
    """`table` maps names to 'module:Class'; `key` is the config key named in the error."""
    if name not in table:
        raise VideomatteError(f"unknown {key} '{name}'", code="backend", hint=f"available: {', '.join(sorted(table))}")
    module, cls = table[name].split(":")
    return getattr(importlib.import_module(module), cls)
