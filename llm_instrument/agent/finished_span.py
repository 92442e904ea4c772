"""Reading a finished SDK span's attributes without the SDK's proxy.

``ReadableSpan.attributes`` is a ``BoundedAttributes`` whose iteration takes a lock and a
Python call per item. A finished span's attributes no longer change, so the queue's size
estimate, the content policy and the OTLP writer, which all run in the application's thread
as a span ends, read the plain dict inside it instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan


def plain(attributes: Any) -> Any:
    """The dict inside the SDK's ``BoundedAttributes``, else the mapping itself."""
    inner = getattr(attributes, "_dict", None)
    return inner if isinstance(inner, dict) else attributes


def plain_attributes(span: ReadableSpan) -> Any:
    """A finished span's attributes as cheaply iterable as they come: the SDK span's own
    (not the proxy ``span.attributes`` returns), unwrapped by ``plain``."""
    attributes = getattr(span, "_attributes", None)
    return plain(span.attributes if attributes is None else attributes)
