"""The policy applied to every span the agent exports: a wrapper around the real exporter.

The contrib instrumentations (FastAPI/ASGI, ``requests``, any ``opentelemetry_instrumentor``
one) and the application's own spans write URLs, headers, exception events and status
descriptions as they like. ``PolicyExporter`` rewrites each finished span before OTLP, the
local store or the console sees it: attributes by ``attributes.sanitize``, exception events
and ERROR statuses by ``errors``, content within the span budget (``budget.fit_span``). A
span with nothing to change is passed on as it is. The contrib code is configured, never
forked.

It runs in the export thread, except for OTLP over HTTP, where ``safe`` runs as each small
span ends (``exporters/early_encoding``) and large ones still wait for the export thread.
Every value is cut before it is scanned, so its cost per span is bounded whatever the
application put in it. A failure here never loses the span: it goes out with its
attributes left out instead (``guard``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status, StatusCode

from llm_instrument.agent.finished_span import plain_attributes
from llm_instrument.agent.guard import guard
from llm_instrument.content_policy import attributes, budget, errors
from llm_instrument.content_policy.policy import Policy, policy
from llm_instrument.content_policy.rules import redact

if TYPE_CHECKING:
    from opentelemetry.util.types import Attributes


class _PolicySpan(ReadableSpan):
    """A rewritten copy that still reports what the SDK dropped from the original."""

    def __init__(self, original: ReadableSpan, **changes: Any) -> None:
        fields: dict[str, Any] = {
            "name": original.name,
            "context": original.context,
            "parent": original.parent,
            "resource": original.resource,
            "attributes": original.attributes,
            "events": original.events,
            "links": original.links,
            "kind": original.kind,
            "status": original.status,
            "start_time": original.start_time,
            "end_time": original.end_time,
            "instrumentation_scope": original.instrumentation_scope,
        }
        fields.update(changes)
        super().__init__(**fields)
        self._original = original

    @property
    def dropped_attributes(self) -> int:
        return self._original.dropped_attributes

    @property
    def dropped_events(self) -> int:
        return self._original.dropped_events

    @property
    def dropped_links(self) -> int:
        return self._original.dropped_links


# what the GenAI core writes outside the gen_ai./llm_instrument. names (OpenInference's),
# every one of them already cut and redacted by the core when it wrote it
_CORE_PREFIXES = ("gen_ai.", "llm_instrument.")
_CORE_OTHER_KEYS = frozenset(
    (
        "openinference.span.kind",
        "input.value",
        "output.value",
        "input.mime_type",
        "output.mime_type",
    )
)


def _core_within_budget(values: Attributes, rules: Policy) -> bool:
    """Whether a core span needs nothing from the policy: capture on, only the core's own
    names, and strings that fit the span budget even at 4 UTF-8 bytes a character. Most
    GenAI spans are such, and this one pass over the values replaces the per-key work."""
    if not rules.capture or not values:
        return False
    chars = 0
    for key, value in values.items():
        if key not in _CORE_OTHER_KEYS and not key.startswith(_CORE_PREFIXES):
            return False
        if type(value) is str:
            chars += len(value)
    return chars * 4 <= rules.budget


def _attributes(values: Attributes, rules: Policy, core: bool) -> dict[str, Any] | None:
    """The sanitized attributes, or ``None`` when nothing changed."""
    if not values or (core and _core_within_budget(values, rules)):
        return None
    result: dict[str, Any] = {}
    changed = False
    for key, value in values.items():
        if core and key.startswith(_CORE_PREFIXES):
            result[key] = value  # the core applied the policy when it wrote them
            continue
        safe = attributes.sanitize(key, value, rules)
        changed = changed or (safe is not value and safe != value)
        if safe is not None:
            result[key] = safe
    content = [key for key in result if attributes.is_content(key)]
    if content:
        before = [result[key] for key in content]
        budget.fit_span(result, content, rules.budget)
        if not core:  # the core redacted its content when it wrote it
            for key in content:
                if isinstance(result[key], str):
                    result[key] = redact(result[key])
        changed = changed or any(result[k] is not v for k, v in zip(content, before, strict=True))
    return result if changed else None


def _event(event: Event, rules: Policy, core: bool) -> Event:
    values = dict(event.attributes or {})
    if event.name == "exception":
        if isinstance(message := values.get("exception.message"), str):
            values["exception.message"] = errors.message(message, rules)
        if isinstance(trace := values.get("exception.stacktrace"), str):
            values["exception.stacktrace"] = errors.stacktrace(trace, rules)
        others = {k: v for k, v in values.items() if not k.startswith("exception.")}
        values.update(_attributes(others, rules, core) or others)
    else:
        values = _attributes(values, rules, core) or values
    return Event(event.name, values, event.timestamp)


def apply(span: ReadableSpan, rules: Policy) -> ReadableSpan:
    """``span`` under the policy (the same object when nothing needed to change)."""
    scope = span.instrumentation_scope
    core = scope is not None and scope.name == attributes.CORE_SCOPE
    changes: dict[str, Any] = {}
    new_attributes = _attributes(plain_attributes(span), rules, core)
    if new_attributes is not None:
        changes["attributes"] = new_attributes
    events = span.events  # a new tuple at each read
    if events:
        changes["events"] = [_event(event, rules, core) for event in events]
    description = span.status.description
    if span.status.status_code is StatusCode.ERROR and description:
        safe = errors.status(description, rules)
        if safe != description:
            changes["status"] = Status(StatusCode.ERROR, safe or None)
    return _PolicySpan(span, **changes) if changes else span


def _without_attributes(span: ReadableSpan) -> ReadableSpan:
    return _PolicySpan(span, attributes={}, events=[])


def safe(span: ReadableSpan, rules: Policy) -> ReadableSpan:
    """``span`` under the policy; on a failure, without its attributes and events (an
    unforeseen value must not leak, and the span itself must not be lost)."""
    result = None
    with guard("content policy on an exported span"):
        result = apply(span, rules)
    return result if result is not None else _without_attributes(span)


class PolicyExporter(SpanExporter):
    """Applies the content policy to each span, then hands the batch to ``exporter``."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        rules = policy()
        return self.exporter.export([safe(span, rules) for span in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)
