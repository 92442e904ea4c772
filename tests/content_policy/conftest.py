"""An in-process pipeline as the agent builds it: spans -> PolicyExporter -> memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_instrument.agent import config
from llm_instrument.content_policy.exporter import PolicyExporter
from llm_instrument.genai import handle


class Pipeline:
    def __init__(self) -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(PolicyExporter(self.memory)))

    def spans(self) -> list[ReadableSpan]:
        return list(self.memory.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    built = Pipeline()
    # the GenAI core's own scope, as in the agent
    monkeypatch.setattr(handle, "_tracer", built.provider.get_tracer("llm_instrument.genai"))
    config.reset(config.Settings())
    yield built
    config.reset(None)
