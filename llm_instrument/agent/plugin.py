"""The plugin record: what an instrumentor declares so the registry can apply it lazily.

An instrumentor module exposes ``PLUGIN = Plugin(...)``. Importing it must be free (no
target import, no I/O): the registry reads every record at start-up and only registers
post-import hooks. ``hooks`` names the modules that *define* what is wrapped, because
libraries such as transformers and langchain_core load their submodules lazily. A plugin
that wraps callables builds its record with ``Plugin.from_wrapping`` from a
``wrapping.Wrapping`` table, so hooks, patch and unpatch all come from that one table
(``docs/writing-an-instrumentor.md`` walks through one).

``settings`` declares the plugin's own ``LLM_INSTRUMENT_<PLUGIN>_<SETTING>`` variables: the
agent validates them at start-up (one warning line for a bad value), ``llm-instrument
--help`` and ``llm-instrument list`` show them, and the plugin reads each with
``config.current().value(SETTING)``, never from ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_instrument.agent.wrapping import Wrapping


@dataclass(frozen=True)
class Setting:
    """One declared setting of a plugin (or of the agent itself)."""

    env: str
    """The environment variable, ``LLM_INSTRUMENT_<PLUGIN>_<SETTING>``."""
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    """Turns the raw text into the value; raises ValueError with a reason for a bad one."""
    metavar: str = "VALUE"


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
    settings: tuple[Setting, ...] = ()
    wrapping: Wrapping | None = None
    """The table behind ``patch``/``unpatch``: the shared lifecycle test probes it."""

    @classmethod
    def from_wrapping(
        cls,
        name: str,
        wrapping: Wrapping,
        *,
        distribution: str | None,
        supported: str,
        description: str,
        settings: tuple[Setting, ...] = (),
    ) -> Plugin:
        """The record of a plugin whose hooks, patch and unpatch all come from its table."""
        return cls(
            name=name,
            hooks=wrapping.hooks,
            distribution=distribution,
            supported=supported,
            patch=wrapping.patch,
            unpatch=wrapping.unpatch,
            description=description,
            settings=settings,
            wrapping=wrapping,
        )


class DidNotEnable(Exception):
    """Raised by ``patch`` when the target is present but unusable (a look-alike, no API)."""
