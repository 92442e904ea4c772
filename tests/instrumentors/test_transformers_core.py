"""The GenAI core pieces the transformers plugin relies on, in process.

- ``Handle.before_outer_ends``: an inner model handle whose facts arrive late (a CUDA
  readback) still hands its usage up when the outer (LangChain) handle ends first;
- ``Handle.server_timing``: ``gen_ai.server.*`` recorded once, by the in-process model handle,
  with the conventions' advised buckets.
"""

from __future__ import annotations

from llm_instrument import genai
from tests.genai.conftest import Telemetry, telemetry  # noqa: F401 - the fixture


def _pair() -> tuple[genai.Handle, genai.Handle]:
    outer = genai.start_llm("chat", provider="huggingfacepipeline", model="m")
    inner = genai.start_llm(
        "text_completion", provider="huggingface", model="m",
        parent=outer.context,
    )  # fmt: skip
    return outer, inner


def test_late_inner_usage_is_handed_up_before_the_outer_ends(telemetry: Telemetry) -> None:  # noqa: F811
    outer, inner = _pair()

    def settle() -> None:
        inner.set_usage(genai.Usage(3, 4))
        inner.finish()

    inner.before_outer_ends(settle)
    outer.finish()
    attrs = telemetry.span("chat m").attributes or {}
    assert attrs["gen_ai.usage.input_tokens"] == 3
    assert attrs["gen_ai.usage.output_tokens"] == 4
    points = telemetry.points("gen_ai.client.token.usage")
    assert sorted(p.sum for p in points) == [3, 4]  # once, by the outer handle


def test_server_timings_are_recorded_once_by_the_model_handle(telemetry: Telemetry) -> None:  # noqa: F811
    outer, inner = _pair()
    inner.server_timing(0.02, 0.005)
    inner.set_usage(genai.Usage(3, 4))
    inner.finish()
    outer.finish()
    (first,) = telemetry.points("gen_ai.server.time_to_first_token")
    (per_token,) = telemetry.points("gen_ai.server.time_per_output_token")
    assert first.count == per_token.count == 1
    assert first.sum == 0.02
    assert list(first.explicit_bounds)[:4] == [0.001, 0.005, 0.01, 0.02]
    assert list(per_token.explicit_bounds)[:3] == [0.01, 0.025, 0.05]
    assert first.attributes["gen_ai.provider.name"] == "huggingface"
