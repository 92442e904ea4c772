"""The plugin record: what an instrumentor declares so the registry can apply it lazily.

An instrumentor module exposes ``PLUGIN = Plugin(...)``. Importing it must be free (no
target import, no I/O): the registry reads every record at start-up and only registers
post-import hooks. ``hooks`` names the modules that *define* what is wrapped, because
libraries such as transformers and langchain_core load their submodules lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Plugin:
    """An instrumentor as the registry sees it."""

    name: str
    """One name everywhere: module, entry point, ``llm-instrument list``, disable list."""
    hooks: tuple[str, ...]
    """Modules whose first import triggers ``patch(module)``."""
    distribution: str | None
    """The target's distribution, for ``importlib.metadata`` (None: the stdlib)."""
    supported: str
    """PEP 440 specifier of supported target versions ("" for any)."""
    patch: Callable[[ModuleType], None]
    """Called once per hooked module; must be idempotent."""
    unpatch: Callable[[ModuleType], None]
    """Restores exactly what ``patch`` wrapped and silences captured aliases."""
    description: str = ""


class DidNotEnable(Exception):
    """Raised by ``patch`` when the target is present but unusable (a look-alike, no API)."""
