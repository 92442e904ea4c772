"""The one wrapping mechanism every built-in plugin uses: what it wraps is data.

A plugin declares its wraps as a table of ``Wrap(module, "Class.method", wrapper)`` rows and
hands the table to a ``Wrapping``, whose ``patch``/``unpatch`` become the plugin's. So the
bookkeeping each plugin used to write by hand is written once, here:

- idempotence: a row already wrapped is skipped, so patching twice gives one wrap;
- originals are saved with ``wrapt.resolve_path`` (never ``getattr`` on a class, which would
  save a bound function) and ``unpatch`` restores exactly those;
- the off switch: every wrapper is gated, so after ``unpatch`` an alias captured earlier
  (``from lib import fn`` before the patch) calls straight through, and a call made under
  OpenTelemetry's ``suppress_instrumentation`` is not traced;
- a row whose attribute this version of the library lacks is skipped when ``optional``.

Wrappers may be given as ``"package.module:function"``: the module is imported on the first
``patch``, so importing a plugin module (which the registry does at start-up) stays free.
Targets that are not known in advance (the subclasses of LangChain's ``Embeddings``) use
``wrap_attribute``, which keeps the same books.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import wrapt

WrapperFunction = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


@dataclass(frozen=True)
class Wrap:
    """One wrapped callable: where it is defined, its dotted path there, and its wrapper."""

    module: str
    """The module that defines the target; its first import triggers the patch."""
    path: str
    """``"Class.method"`` or ``"function"`` inside ``module``."""
    wrapper: WrapperFunction | str
    """``(wrapped, instance, args, kwargs) -> result``, or ``"module:function"`` naming it."""
    optional: bool = False
    """Skip quietly when this version of the library has no such attribute."""


def _resolve(wrapper: WrapperFunction | str) -> WrapperFunction:
    if not isinstance(wrapper, str):
        return wrapper
    module_name, _, attribute = wrapper.partition(":")
    found: WrapperFunction = getattr(importlib.import_module(module_name), attribute)
    return found


def _has_path(module: ModuleType, path: str) -> bool:
    target: Any = module
    for part in path.split("."):
        if not hasattr(target, part):
            return False
        target = getattr(target, part)
    return True


class Wrapping:
    """A plugin's wrap table and what became of it in this process."""

    def __init__(self, wraps: Sequence[Wrap], *, honour_suppression: bool = True) -> None:
        self.wraps = tuple(wraps)
        self._honour_suppression = honour_suppression
        self._lock = threading.RLock()
        self._originals: dict[tuple[str, str], tuple[Any, str, Any]] = {}
        self._enabled = False
        self._instrumentation_enabled: Callable[[], bool] | None = None

    @property
    def hooks(self) -> tuple[str, ...]:
        """The modules to hook, in table order, each once."""
        return tuple(dict.fromkeys(wrap.module for wrap in self.wraps))

    @property
    def enabled(self) -> bool:
        return self._enabled

    def active(self) -> bool:
        """Whether a wrapper should trace now: patched, and not under suppression."""
        if not self._enabled:
            return False
        check = self._instrumentation_enabled
        return check is None or check()

    def patched_paths(self) -> tuple[tuple[str, str], ...]:
        """``(owner, path)`` of every wrap in place now (tests, ``llm-instrument list``)."""
        with self._lock:
            return tuple(self._originals)

    def patch(self, module: ModuleType) -> None:
        """Wrap every row defined in ``module``; idempotent."""
        with self._lock:
            if self._honour_suppression and self._instrumentation_enabled is None:
                from opentelemetry.instrumentation.utils import is_instrumentation_enabled

                self._instrumentation_enabled = is_instrumentation_enabled
            for wrap in self.wraps:
                if wrap.module != module.__name__ or (wrap.module, wrap.path) in self._originals:
                    continue
                if wrap.optional and not _has_path(module, wrap.path):
                    continue
                parent, name, original = wrapt.resolve_path(module, wrap.path)
                self._apply((wrap.module, wrap.path), parent, name, original, wrap.wrapper)
            self._enabled = True

    def wrap_attribute(self, owner: str, parent: Any, name: str, wrapper: WrapperFunction) -> bool:
        """Wrap ``parent.name`` found at run time, booked under ``owner``; False if done."""
        with self._lock:
            key = (owner, name)
            if key in self._originals:
                return False
            original = parent.__dict__[name] if isinstance(parent, type) else getattr(parent, name)
            self._apply(key, parent, name, original, wrapper)
            return True

    def unpatch(self, module: ModuleType) -> None:
        """Restore what ``patch`` (and ``wrap_attribute``) wrapped for ``module``."""
        with self._lock:
            for key in [key for key in self._originals if self._belongs(key, module)]:
                parent, name, original = self._originals.pop(key)
                setattr(parent, name, original)
            if not self._originals:
                self._enabled = False  # aliases captured earlier now call straight through

    def _belongs(self, key: tuple[str, str], module: ModuleType) -> bool:
        owner = key[0]
        return owner == module.__name__ or owner.startswith(f"{module.__name__}:")

    def _apply(
        self,
        key: tuple[str, str],
        parent: Any,
        name: str,
        original: Any,
        wrapper: WrapperFunction | str,
    ) -> None:
        function = _resolve(wrapper)

        def gated(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            if not self.active():
                return wrapped(*args, **kwargs)
            return function(wrapped, instance, args, kwargs)

        self._originals[key] = (parent, name, original)
        wrapt.apply_patch(parent, name, wrapt.FunctionWrapper(original, gated))
