"""An in-process pipeline as the agent builds it: spans -> PolicyExporter -> memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_instrument import genai
from llm_instrument.agent import config
from llm_instrument.content_policy.exporter import PolicyExporter


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
def pipeline() -> Iterator[Pipeline]:
    built = Pipeline()
    genai.configure(built.provider, None)
    config.reset(config.Settings())
    yield built
    genai.configure(None, None)
    config.reset(None)
