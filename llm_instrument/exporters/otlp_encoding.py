"""OTLP span encoding straight to protobuf bytes (``ExportTraceServiceRequest``).

Why: the SDK's ``encode_spans(spans).SerializeToString()`` builds a PB2 object per span,
attribute and value before serialising them, and was the largest cost of our export thread
(bench/PROFILE.md item 2). This writer emits the same wire format directly, field by field
in field-number order, and mirrors the installed ``opentelemetry-exporter-otlp-proto-common``
(1.45) exactly: the same grouping, the same ``flags`` bits, an empty ``status {}`` for an
unset status, no ``trace_state`` on links (that encoder does not write it), and the same
``_encode_value`` type order, including ``None`` as an empty value and mappings as kvlists.

Limits: a value it does not write the way the SDK does (an unknown type, an int outside
int64, a string that is not valid UTF-8) sends that whole batch through the SDK encoder,
which skips the key and logs it as before; any other failure here is reported once
through ``guard`` and takes the same path, so no batch is lost to this module. Only the
stdlib, the OTel API and the agent's ``guard`` and ``finished_span`` are imported here:
protobuf loads only for such a batch.

Two ways in: ``encode_spans`` writes a batch of spans; ``encode_span`` writes one span as it
ends (``early_encoding``) and ``encode_request`` groups such spans into a request later.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry.trace import SpanKind

from llm_instrument.agent import guard
from llm_instrument.agent.finished_span import plain_attributes

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext
    from opentelemetry.util.types import Attributes

_logger = logging.getLogger(__name__)

_CACHE_LIMIT = 4096  # entries per cache; a full cache is cleared, so memory stays bounded
_CACHED_LEN = 64  # longer strings (prompts, outputs) rarely repeat: not worth keeping
_INT64_MIN, _INT64_MAX, _MASK64 = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1

_SMALL = tuple(bytes((n,)) for n in range(0x80))
_FIXED64 = struct.Struct("<Q").pack
_DOUBLE = struct.Struct("<d").pack
_KINDS = {kind: b"\x30" + _SMALL[kind.value + 1] for kind in SpanKind}  # OTLP kind = SDK + 1
# Span.flags / Link.flags (fixed32): SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK (0x100), plus
# SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK (0x200) for a remote parent; the SDK sets no trace flags.
_SPAN_FLAGS = (b"\x85\x01" + struct.pack("<I", 0x100), b"\x85\x01" + struct.pack("<I", 0x300))
_LINK_FLAGS = (b"\x35" + struct.pack("<I", 0x100), b"\x35" + struct.pack("<I", 0x300))

_strings: dict[str, bytes] = {}  # str -> field 1 (KeyValue.key and AnyValue.string_value)
_names: dict[str, bytes] = {}  # span name -> Span.name (field 5)
_pairs: dict[tuple[bytes, str, Any], bytes] = {}  # (tag, key, short value) -> KeyValue field

_T = TypeVar("_T")


class _Unsupported(Exception):
    """A value the SDK encoder treats otherwise (it skips the key): that batch goes to it."""


def _varint(n: int) -> bytes:
    if 0 <= n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)  # a negative n raises ValueError here rather than writing garbage
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return tag + _varint(len(payload)) + payload


def _cached(cache: dict[str, bytes], tag: bytes, text: str) -> bytes:
    """``_field(tag, text)``, kept for short strings: keys, names and enum-like values repeat
    in every span."""
    if len(text) > _CACHED_LEN:
        return _field(tag, text.encode())
    return cache.get(text) or _remember(cache, text, _field(tag, text.encode()))


def _remember(cache: dict[Any, bytes], key: Any, encoded: bytes) -> bytes:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = encoded
    return encoded


def _any_value(value: Any) -> bytes:
    """An AnyValue body; the type checks follow the SDK's ``_encode_value`` in its order."""
    if type(value) is str:
        return _cached(_strings, b"\x0a", value)
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(b"\x0a", value.encode())
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _Unsupported(f"int {value} outside int64")
        return b"\x18" + _varint(value & _MASK64)  # negative: two's complement, 10 bytes
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(v)) for v in value]))
    if isinstance(value, Mapping):
        pairs = [_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items()]
        return _field(b"\x32", b"".join(pairs))
    raise _Unsupported(f"value of type {type(value).__name__}")


def _key_value(key: str, value: Any) -> bytes:
    """A KeyValue body; the value is always present, empty for ``None``, as the SDK writes."""
    if type(key) is not str and not isinstance(key, str):
        raise _Unsupported(f"key of type {type(key).__name__}")
    head = _cached(_strings, b"\x0a", key) if key else b""
    return head + _field(b"\x12", _any_value(value))


def _short_strings(value: tuple[Any, ...]) -> bool:
    """A tuple worth a ``_pairs`` entry (finish reasons): short strings only, since
    ``(1,) == (True,)`` and the two are written differently."""
    return all(type(item) is str and len(item) <= _CACHED_LEN for item in value)


def _attributes(out: list[bytes], tag: bytes, attributes: Attributes) -> None:
    if attributes:
        for key, value in attributes.items():
            if (type(value) is str and len(value) <= _CACHED_LEN) or (
                type(value) is tuple and _short_strings(value)
            ):
                # enum-like pairs ("gen_ai.operation.name": "chat") repeat in every span
                pair = (tag, key, value)
                field = _pairs.get(pair)
                if field is None:
                    field = _remember(_pairs, pair, _field(tag, _key_value(key, value)))
                out.append(field)
            else:
                out.append(_field(tag, _key_value(key, value)))


def _count(tag: bytes, count: int) -> bytes:
    return tag + _varint(count) if count else b""


def _trace_state(tag: bytes, context: SpanContext) -> bytes:
    state = context.trace_state
    if not state:
        return b""
    return _field(tag, ",".join([f"{k}={v}" for k, v in state.items()]).encode())


def _span(span: ReadableSpan) -> bytes:
    """A Span body, fields in number order."""
    context = span.context
    if context is None:
        raise _Unsupported("span without a context")
    parent = span.parent
    out = [
        b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
        b"\x12\x08" + context.span_id.to_bytes(8, "big"),
        _trace_state(b"\x1a", context),
    ]
    if parent:
        out.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
    if span.name:
        out.append(_cached(_names, b"\x2a", span.name))
    out.append(_KINDS[span.kind])
    if span.start_time:
        out.append(b"\x39" + _FIXED64(span.start_time))
    if span.end_time:
        out.append(b"\x41" + _FIXED64(span.end_time))
    _attributes(out, b"\x4a", plain_attributes(span))
    out.append(_count(b"\x50", span.dropped_attributes))
    for event in span.events:
        body = [b"\x09" + _FIXED64(event.timestamp) if event.timestamp else b""]
        if event.name:
            body.append(_field(b"\x12", event.name.encode()))
        _attributes(body, b"\x1a", event.attributes)
        body.append(_count(b"\x20", event.dropped_attributes))
        out.append(_field(b"\x5a", b"".join(body)))
    out.append(_count(b"\x60", span.dropped_events))
    for link in span.links:
        linked = link.context
        body = [
            b"\x0a\x10" + linked.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + linked.span_id.to_bytes(8, "big"),
        ]
        _attributes(body, b"\x22", link.attributes)
        body.append(_count(b"\x28", link.dropped_attributes))
        body.append(_LINK_FLAGS[bool(linked.is_remote)])
        out.append(_field(b"\x6a", b"".join(body)))
    out.append(_count(b"\x70", span.dropped_links))
    status = span.status
    if status is not None:
        message = status.description
        head = _field(b"\x12", message.encode()) if message else b""
        out.append(_field(b"\x7a", head + _count(b"\x18", status.status_code.value)))
    out.append(_SPAN_FLAGS[bool(parent and parent.is_remote)])
    return b"".join(out)


_Scopes = dict["InstrumentationScope | None", list[_T]]


def _group(
    items: Iterable[tuple[Resource, InstrumentationScope | None, _T]],
) -> dict[Resource, _Scopes[_T]]:
    """Members by resource, then by scope, in first-seen order, as the SDK groups spans.

    The SDK keys dicts by value, and ``Resource.__hash__`` JSON-dumps the attributes: here
    each member is placed by the identity of its resource and scope, and each distinct
    object is hashed once per batch, so equal copies still share one group."""
    groups: dict[Resource, _Scopes[_T]] = {}
    by_id: dict[int, tuple[_Scopes[_T], dict[int, list[_T]]]] = {}
    for resource, scope, member in items:
        entry = by_id.get(id(resource))
        if entry is None:
            scopes = groups.setdefault(resource, {})
            entry = by_id[id(resource)] = (scopes, {})
        members = entry[1].get(id(scope))
        if members is None:
            members = entry[1][id(scope)] = entry[0].setdefault(scope, [])
        members.append(member)
    return groups


def _scope(scope: InstrumentationScope | None) -> bytes:
    if scope is None:
        return b""
    out = [_field(b"\x0a", scope.name.encode()) if scope.name else b""]
    if scope.version:
        out.append(_field(b"\x12", scope.version.encode()))
    _attributes(out, b"\x1a", scope.attributes)
    return b"".join(out)


def _request(groups: dict[Resource, _Scopes[bytes]]) -> bytes:
    """The ``ExportTraceServiceRequest`` of spans already written as ``ScopeSpans.spans``."""
    out = []
    for resource, scopes in groups.items():
        attributes: list[bytes] = []
        _attributes(attributes, b"\x0a", resource.attributes)
        body = [_field(b"\x0a", b"".join(attributes))]
        for scope, members in scopes.items():
            scope_spans = [_field(b"\x0a", _scope(scope)), *members]
            if scope is not None and scope.schema_url:
                scope_spans.append(_field(b"\x1a", scope.schema_url.encode()))
            body.append(_field(b"\x12", b"".join(scope_spans)))
        if resource.schema_url:
            body.append(_field(b"\x1a", resource.schema_url.encode()))
        out.append(_field(b"\x0a", b"".join(body)))
    return b"".join(out)


def _encode(spans: Sequence[ReadableSpan]) -> bytes:
    groups = _group((span.resource, span.instrumentation_scope or None, span) for span in spans)
    return _request(
        {
            resource: {
                scope: [_field(b"\x12", _span(span)) for span in members]
                for scope, members in scopes.items()
            }
            for resource, scopes in groups.items()
        }
    )


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialised ``ExportTraceServiceRequest`` for ``spans``, as the SDK would write it."""
    with guard.guard("OTLP span encoding"):
        try:
            return _encode(spans)
        except (_Unsupported, UnicodeEncodeError) as exc:
            _logger.debug("this span batch goes through the SDK's OTLP encoder: %s", exc)
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk

    body: bytes = sdk(spans).SerializeToString()
    return body


# -- spans written as they end (``early_encoding``) ---------------------------------------------
EncodedSpan = tuple[int, bytes]
"""A span written when it ended: the index of its resource and scope in ``_origins``, and
its ``ScopeSpans.spans`` field. Only an int and bytes, so a queue of them holds nothing the
garbage collector has to scan."""

_ORIGIN_LIMIT = 256  # distinct (resource, scope) objects; past it spans take encode_spans
_origins: list[tuple[Resource, InstrumentationScope | None]] = []
_origin_index: dict[tuple[int, int], int] = {}  # ids of the objects _origins keeps alive
_origins_lock = threading.Lock()


def _origin(resource: Resource, scope: InstrumentationScope | None) -> int | None:
    """The index of ``(resource, scope)``, registered on first sight (their attributes are
    written once then, so a request built from the index cannot fail on them)."""
    key = (id(resource), id(scope))
    index = _origin_index.get(key)
    if index is not None:
        return index
    _attributes([], b"\x0a", resource.attributes)
    _scope(scope)
    with _origins_lock:
        index = _origin_index.get(key)
        if index is None:
            if len(_origins) >= _ORIGIN_LIMIT:
                return None
            index = len(_origins)
            _origins.append((resource, scope))
            _origin_index[key] = index
    return index


def encode_span(span: ReadableSpan) -> EncodedSpan | None:
    """``span`` written now, for ``encode_request``; None when it must wait for
    ``encode_spans`` (a value this writer does not take, or too many distinct origins)."""
    with guard.guard("OTLP span encoding"):
        try:
            index = _origin(span.resource, span.instrumentation_scope or None)
            if index is not None:
                return index, _field(b"\x12", _span(span))
        except (_Unsupported, UnicodeEncodeError) as exc:
            _logger.debug("this span goes through the SDK's OTLP encoder: %s", exc)
    return None


def encode_request(encoded: Sequence[EncodedSpan]) -> bytes:
    """The serialised ``ExportTraceServiceRequest`` of spans from ``encode_span``, grouped as
    ``encode_spans`` groups them. Requests concatenate: this plus ``encode_spans(others)``
    is one valid request with both sets (protobuf appends repeated fields)."""
    origins = _origins
    return _request(_group((*origins[index], body) for index, body in encoded))
