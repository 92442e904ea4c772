"""Wrapping methods that every subclass of a LangChain base class overrides.

``Embeddings.embed_query`` or ``VectorStore.similarity_search_with_score`` are abstract or
overridden in each provider class, so wrapping the base class alone would miss them.
``SubclassWraps.patch`` wraps the methods each existing subclass defines itself and hooks
the base's ``__init_subclass__`` to do the same for classes defined later (provider
packages are usually imported after ``langchain_core``). The wraps are booked in the
plugin's ``Wrapping``, so ``unpatch`` restores them and silences aliases.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from llm_instrument.agent.guard import guarded
from llm_instrument.agent.wrapping import WrapperFunction


def _all_subclasses(cls: type) -> list[type]:
    found: list[type] = []
    todo = [cls]
    while todo:
        subs: list[type] = type.__subclasses__(todo.pop())
        for sub in subs:
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


class SubclassWraps:
    """The methods ``methods`` of ``base`` (in ``module``) and of all its subclasses."""

    def __init__(
        self,
        base: str,
        methods: Sequence[str],
        sync_wrapper: WrapperFunction,
        async_wrapper: WrapperFunction,
    ) -> None:
        self.base = base
        self.methods = tuple(methods)
        self._sync = sync_wrapper
        self._async = async_wrapper

    def wrap_class(self, module: str, cls: type) -> None:
        """Wrap the methods ``cls`` defines itself (idempotent)."""
        from llm_instrument.instrumentors.langchain import WRAPPING

        owner = f"{module}:{cls.__module__}.{cls.__qualname__}"
        for method in self.methods:
            original = cls.__dict__.get(method)
            if original is None or getattr(original, "__isabstractmethod__", False):
                continue
            wrapper = self._async if inspect.iscoroutinefunction(original) else self._sync
            WRAPPING.wrap_attribute(f"{owner}.{method}", cls, method, wrapper)

    def patch(self, module: ModuleType) -> None:
        """Wrap every subclass there is, and every one defined later."""
        base = getattr(module, self.base)
        name = module.__name__
        if "__init_subclass__" not in base.__dict__:
            wraps = self

            def __init_subclass__(cls: Any, /, **kwargs: Any) -> None:
                super(base, cls).__init_subclass__(**kwargs)
                wraps._wrap_new_subclass(name, cls)

            setattr(base, "__init_subclass__", classmethod(__init_subclass__))  # noqa: B010
        self.wrap_class(name, base)
        for sub in _all_subclasses(base):
            self.wrap_class(name, sub)

    def unpatch(self, module: ModuleType) -> None:
        """Remove the subclass hook (the wrapped methods are restored by ``WRAPPING``)."""
        base = getattr(module, self.base)
        if "__init_subclass__" in base.__dict__:
            delattr(base, "__init_subclass__")

    @guarded("langchain: wrapping a new subclass")
    def _wrap_new_subclass(self, module: str, cls: type) -> None:
        from llm_instrument.instrumentors.langchain import WRAPPING

        if WRAPPING.enabled:
            self.wrap_class(module, cls)
