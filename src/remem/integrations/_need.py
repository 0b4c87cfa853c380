"""The one error for a framework that is not installed."""

from __future__ import annotations

import importlib
from types import ModuleType


def need(module: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"this remem integration needs {module.split('.')[0]}: "
                          f"pip install 'remem[{extra}]' ({exc})") from exc
