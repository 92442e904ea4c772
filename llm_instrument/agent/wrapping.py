"""The one wrapping mechanism every built-in plugin uses: what it wraps is data.

A plugin declares a table of rows and hands it to a ``Wrapping``, whose ``patch``/``unpatch``
become the plugin's. Three kinds of row cover every built-in plugin:

- ``Wrap(module, "Class.method", wrapper)``: wrap a callable with ``wrapt``;
- ``Instrument(module, "pkg.mod:SomeInstrumentor", replaces=(...))``: apply an OpenTelemetry
  contrib instrumentor (``instrument()``/``uninstrument()``), for FastAPI and requests;
- ``Callback(module, add=..., remove=..., callback=...)``: register a callback through the
  library's own API, for gevent, whose compiled ``Greenlet`` cannot be wrapped.

So the bookkeeping each plugin used to write by hand is written once, here:

- idempotence: a row already applied is skipped, so patching twice gives one wrap;
- originals are saved with ``wrapt.resolve_path`` (never ``getattr`` on a class, which would
  save a bound function) and ``unpatch`` restores exactly those;
- the off switch: every wrapper is gated per row, so after ``unpatch`` an alias captured
  earlier (``from lib import fn`` while patched) calls straight through, and a call made
  under OpenTelemetry's ``suppress_instrumentation`` is not traced. A contrib instrumentor's
  replacement functions get the same gate; a replaced *class* (FastAPI's) cannot be gated,
  so an alias of it keeps building traced apps after ``unpatch`` (the contrib's own limit);
- a ``Wrap`` row whose attribute this version of the library lacks is skipped when
  ``optional``.

Wrappers, instrumentors and callbacks may be given as ``"package.module:name"``: the module
is imported on the first ``patch``, so importing a plugin module (which the registry does at
start-up) stays free. Targets that are not known in advance (the subclasses of LangChain's
``Embeddings``) use ``wrap_attribute``, which keeps the same books.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FunctionType, ModuleType
from typing import Any

import wrapt

from llm_instrument.agent.guard import guard
from llm_instrument.agent.plugin import DidNotEnable

_logger = logging.getLogger(__name__)

WrapperFunction = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
Key = tuple[str, str]


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

    @property
    def replaces(self) -> tuple[str, ...]:
        return (self.path,)


@dataclass(frozen=True)
class Instrument:
    """An OpenTelemetry contrib instrumentor, applied when ``module`` is first imported."""

    module: str
    instrumentor: str
    """``"opentelemetry.instrumentation.requests:RequestsInstrumentor"``."""
    replaces: tuple[str, ...]
    """The attributes of ``module`` that ``instrument()`` replaces: their originals are saved,
    checked after ``uninstrument()``, and replacement functions are gated like a ``Wrap``."""
    options: Callable[[], dict[str, Any]] | None = None
    """Keyword arguments for ``instrument()``, read when the patch happens."""
    check_dependencies: bool = False
    """Ask the instrumentor whether the installed target suits it (``DidNotEnable`` if not);
    off for our plugins, whose ``supported`` range the registry has checked already."""
    on_first_call: bool = False
    """Apply ``instrument()`` when one of ``replaces`` is first called, not when ``module``
    is imported: for a contrib module that imports more than the application does (httpx's
    imports both httpx libraries, and httpx its command-line tool), in an app that may
    import the library at start-up and call it late or never."""
    precheck: Callable[[], None] | None = None
    """Raises ``DidNotEnable`` at import time when the row cannot apply here, so a deferred
    row is still reported as skipped by ``llm-instrument list``."""


@dataclass(frozen=True)
class Callback:
    """A callback registered through the library's own API, removed again by ``unpatch``."""

    module: str
    add: str
    """Dotted path in ``module`` of the registering function (``"Greenlet.add_spawn_callback"``)."""
    remove: str
    callback: Callable[..., Any] | str

    @property
    def replaces(self) -> tuple[str, ...]:
        return ()


Row = Wrap | Instrument | Callback


def _load(reference: Any) -> Any:
    """The object a ``"package.module:name"`` reference names (anything else as it is)."""
    if not isinstance(reference, str):
        return reference
    module_name, _, attribute = reference.partition(":")
    target: Any = importlib.import_module(module_name.strip())
    for part in attribute.strip().split("."):
        target = getattr(target, part)
    return target


def _lookup(module: ModuleType, path: str) -> Any:
    target: Any = module
    for part in path.split("."):
        target = getattr(target, part)
    return target


def _has_path(module: ModuleType, path: str) -> bool:
    try:
        _lookup(module, path)
    except AttributeError:
        return False
    return True


def _key(row: Row) -> Key:
    if isinstance(row, Wrap):
        return (row.module, row.path)
    if isinstance(row, Instrument):
        return (row.module, row.instrumentor)
    return (row.module, row.add)


class Wrapping:
    """A plugin's table of rows and what became of it in this process."""

    def __init__(self, rows: Sequence[Row], *, honour_suppression: bool = True) -> None:
        self.rows = tuple(rows)
        self._honour_suppression = honour_suppression
        self._lock = threading.RLock()
        self._undo: dict[Key, Callable[[], None]] = {}
        self._originals: dict[Key, tuple[Any, str, Any]] = {}
        self._instrumentation_enabled: Callable[[], bool] | None = None
        self._modules: set[str] = set()

    @property
    def hooks(self) -> tuple[str, ...]:
        """The modules to hook, in table order, each once."""
        return tuple(dict.fromkeys(row.module for row in self.rows))

    @property
    def enabled(self) -> bool:
        """Whether a module is patched now (LangChain wraps subclasses defined later)."""
        return bool(self._modules)

    def replaced(self, module_name: str) -> tuple[str, ...]:
        """The attribute paths the table replaces in that module (tests derive probes)."""
        return tuple(p for row in self.rows if row.module == module_name for p in row.replaces)

    def patched_paths(self) -> tuple[Key, ...]:
        """``(owner, what)`` of every row applied now (tests, debug lines)."""
        with self._lock:
            return tuple(self._undo)

    def originals(self) -> dict[Key, tuple[Any, str, Any]]:
        """``(parent, name, original)`` of every attribute replaced now, by row key: what
        ``parent.name`` held before, so a test can check it is back after ``unpatch``."""
        with self._lock:
            return dict(self._originals)

    def patch(self, module: ModuleType) -> None:
        """Apply every row defined in ``module``; idempotent."""
        with self._lock:
            if self._honour_suppression and self._instrumentation_enabled is None:
                from opentelemetry.instrumentation.utils import is_instrumentation_enabled

                self._instrumentation_enabled = is_instrumentation_enabled
            for row in self.rows:
                key = _key(row)
                if row.module != module.__name__ or key in self._undo:
                    continue
                if isinstance(row, Wrap):
                    if row.optional and not _has_path(module, row.path):
                        continue
                    parent, name, original = wrapt.resolve_path(module, row.path)
                    self._wrap(key, parent, name, original, _load(row.wrapper))
                elif isinstance(row, Instrument):
                    if row.precheck is not None:
                        row.precheck()
                    if row.on_first_call:
                        self._defer(key, module, row)
                    else:
                        self._instrument(key, module, row)
                else:
                    self._undo[key] = _register(module, row)
            self._modules.add(module.__name__)

    def wrap_attribute(self, owner: str, parent: Any, name: str, wrapper: WrapperFunction) -> bool:
        """Wrap ``parent.name`` found at run time, booked under ``owner``; False if done."""
        with self._lock:
            key = (owner, name)
            if key in self._undo:
                return False
            original = parent.__dict__[name] if isinstance(parent, type) else getattr(parent, name)
            self._wrap(key, parent, name, original, wrapper)
            return True

    def unpatch(self, module: ModuleType) -> None:
        """Undo what ``patch`` (and ``wrap_attribute``) applied for ``module``, newest first."""
        with self._lock:
            for key in reversed([key for key in self._undo if self._belongs(key, module)]):
                undo = self._undo.pop(key)  # first, so aliases go quiet even if undo fails
                self._originals.pop(key, None)
                undo()
            self._modules.discard(module.__name__)

    def _belongs(self, key: Key, module: ModuleType) -> bool:
        owner = key[0]
        return owner == module.__name__ or owner.startswith(f"{module.__name__}:")

    def _wrap(
        self, key: Key, parent: Any, name: str, original: Any, function: WrapperFunction
    ) -> None:
        def gated(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            check = self._instrumentation_enabled
            if key not in self._undo or (check is not None and not check()):
                return wrapped(*args, **kwargs)
            return function(wrapped, instance, args, kwargs)

        wrapt.apply_patch(parent, name, wrapt.FunctionWrapper(original, gated))
        self._originals[key] = (parent, name, original)
        self._undo[key] = lambda: setattr(parent, name, original)

    def _defer(self, key: Key, module: ModuleType, row: Instrument) -> None:
        """Stand-ins for what ``row`` replaces: the first call of one applies the row (the
        originals back, then ``_instrument``) and goes on through what it installed."""
        saved = [(path, *wrapt.resolve_path(module, path)) for path in row.replaces]

        def restore() -> None:
            for _, parent, name, original in saved:
                setattr(parent, name, original)

        def apply_now() -> None:
            with self._lock:
                if self._undo.get(key) is not restore:
                    return  # applied by another thread's call, or unpatched meanwhile
                del self._undo[key]
                restore()
                with guard(f"applying {row.instrumentor}"):
                    self._instrument(key, module, row)

        for path, parent, name, original in saved:
            self._originals[(row.module, path)] = (parent, name, original)
            wrapt.apply_patch(
                parent, name, wrapt.FunctionWrapper(original, _first_call(module, path, apply_now))
            )
        self._undo[key] = restore

    def _instrument(self, key: Key, module: ModuleType, row: Instrument) -> None:
        instrumentor = _load(row.instrumentor)()
        if instrumentor.is_instrumented_by_opentelemetry:
            _logger.debug("llm-instrument: %s was applied by someone else", row.instrumentor)
            return  # not ours to undo
        if row.check_dependencies:
            from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

            conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
            if conflict is not None:
                raise DidNotEnable(str(conflict))
        before = {path: wrapt.resolve_path(module, path) for path in row.replaces}
        options = row.options() if row.options is not None else {}
        instrumentor.instrument(skip_dep_check=True, **options)
        gates: list[tuple[Any, str, Any]] = []
        for path, (parent, name, original) in before.items():
            self._originals[(row.module, path)] = (parent, name, original)
            replacement = vars(parent).get(name)
            if isinstance(replacement, FunctionType) and replacement is not original:
                gate = _contrib_gate(lambda: key in self._undo, original)
                wrapt.apply_patch(parent, name, wrapt.FunctionWrapper(replacement, gate))
                gates.append((parent, name, replacement))

        def undo() -> None:
            for parent, name, replacement in gates:
                setattr(parent, name, replacement)  # the contrib's own uninstrument expects it
            for path in row.replaces:
                self._originals.pop((row.module, path), None)
            instrumentor.uninstrument()

        self._undo[key] = undo


def _register(module: ModuleType, row: Callback) -> Callable[[], None]:
    """Register the row's callback; returns what removes it."""
    callback = _load(row.callback)
    _lookup(module, row.add)(callback)
    remove = _lookup(module, row.remove)
    return lambda: remove(callback)


def _first_call(module: ModuleType, path: str, apply_now: Callable[[], None]) -> WrapperFunction:
    """A deferred row's stand-in for ``module.path``: applies the row, then calls whatever
    ``module.path`` holds now (the instrumented callable, or the original if it failed)."""

    def stand_in(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        apply_now()
        current = _lookup(module, path)
        if instance is not None:
            current = current.__get__(instance, type(instance))
        return current(*args, **kwargs)

    return stand_in


def _contrib_gate(live: Callable[[], bool], original: Any) -> WrapperFunction:
    """A contrib instrumentor's replacement, silenced once its row is undone."""

    def gate(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if live():
            return wrapped(*args, **kwargs)
        if instance is None:
            return original(*args, **kwargs)
        return original(instance, *args, **kwargs)

    return gate
