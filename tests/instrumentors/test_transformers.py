"""transformers under the launcher: exact tokens, parentage and first-token time on CPU.

One traced process (torch is slow to import) runs every scenario under its own app span and
writes what the tokenizer and the returned tensors say into ``expected.json``; the tests
compare the spans the OTLP receiver got against it.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.support.otlp_receiver import OTLPReceiver, children
from tests.support.processes import agent_env, run_traced

ROOT = Path(__file__).resolve().parents[2]

APP = textwrap.dedent(
    """
    import json, sys, threading
    sys.path.insert(0, sys.argv[2])
    from opentelemetry import trace
    from tests.support.tiny_models import save_tiny_gpt2
    from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer, pipeline

    folder = save_tiny_gpt2(sys.argv[1] + "/tiny-gpt2")
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    tracer = trace.get_tracer("app")
    expected = {}

    def out_counts(out, prompt_len, eos):
        counts, reasons = [], []
        for row in out[:, prompt_len:].tolist():
            n = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
            counts.append(n)
            reasons.append("stop" if n < len(row) or row[-1] in eos else "length")
        return counts, reasons

    prompts = ["hello world", "the quick brown fox jumps over"]
    enc = tok(prompts, return_tensors="pt", padding=True)
    probe = model.generate(**enc, max_new_tokens=10, do_sample=False)
    stop_id = probe[0, enc.input_ids.shape[1] + 3].item()  # row 0 ends early on this id

    with tracer.start_as_current_span("greedy"):
        out = model.generate(**enc, max_new_tokens=10, do_sample=False, eos_token_id=stop_id)
    counts, reasons = out_counts(out, enc.input_ids.shape[1], {stop_id})
    new_len = out.shape[1] - enc.input_ids.shape[1]
    expected["greedy"] = {"input": int(enc.attention_mask.sum()), "output": sum(counts),
                          "reasons": reasons, "pad_after_eos": new_len}

    # stop_strings: row 0 stops on a string early, its padding after is not output; the
    # count is found here by decoding, not from the stopping criteria the plugin reads
    stop_text = tok.decode(probe[0, enc.input_ids.shape[1] + 2 : enc.input_ids.shape[1] + 3])
    def stop_counts(out, prompt_len, eos):
        counts, reasons = [], []
        for row in out[:, prompt_len:].tolist():
            hit = next((k for k in range(1, len(row) + 1)
                        if stop_text in tok.decode(row[:k])), None)
            at_eos = next((i + 1 for i, t in enumerate(row) if t in eos), None)
            ends = [n for n in (hit, at_eos) if n is not None]
            counts.append(min(ends, default=len(row)))
            reasons.append("stop" if ends else "length")
        return counts, reasons
    pads = {"stop-strings": tok.pad_token_id, "stop-strings-eos-pad": tok.eos_token_id}
    for name, pad in pads.items():
        with tracer.start_as_current_span(name):
            out = model.generate(**enc, max_new_tokens=10, do_sample=False,
                                 stop_strings=[stop_text], tokenizer=tok, pad_token_id=pad)
        counts, reasons = stop_counts(out, enc.input_ids.shape[1], {tok.eos_token_id})
        new_len = out.shape[1] - enc.input_ids.shape[1]
        expected[name] = {"input": int(enc.attention_mask.sum()), "output": sum(counts),
                          "reasons": reasons, "padded": 2 * new_len}

    single = tok(["a chat template turns"], return_tensors="pt")
    with tracer.start_as_current_span("sampled"):
        out = model.generate(**single, max_new_tokens=6, do_sample=True, top_k=20,
                             temperature=0.9, num_return_sequences=2)
    counts, _ = out_counts(out, single.input_ids.shape[1], {tok.eos_token_id})
    expected["sampled"] = {"input": int(single.attention_mask.sum()), "output": sum(counts)}

    with tracer.start_as_current_span("streamer"):
        streamer = TextIteratorStreamer(tok, skip_prompt=True)
        box = {}
        def run():
            box["out"] = model.generate(**single, max_new_tokens=8, do_sample=False,
                                        streamer=streamer)
        worker = threading.Thread(target=run)
        worker.start()
        text = "".join(streamer)
        worker.join()
    counts, _ = out_counts(box["out"], single.input_ids.shape[1], {tok.eos_token_id})
    expected["streamer"] = {"input": int(single.attention_mask.sum()), "output": sum(counts)}

    pipe = pipeline("text-generation", model=model, tokenizer=tok)
    with tracer.start_as_current_span("pipeline"):
        result = pipe(["hello world", "the lazy dog"], max_new_tokens=5, do_sample=False)
    expected["pipeline"] = {
        "input": sum(len(tok(p).input_ids) for p in ["hello world", "the lazy dog"]),
        "output": 10,
    }

    embedder = pipeline("feature-extraction", model=folder)
    with tracer.start_as_current_span("embed"):
        vectors = embedder(["hello world", "a chat template"])
    n = sum(len(tok(t).input_ids) for t in ["hello world", "a chat template"])
    expected["embed"] = {"input": n, "dims": len(vectors[0][0][0]), "output": 0}

    with tracer.start_as_current_span("chat"):
        chat = [{"role": "user", "content": "hello"}]
        ids = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)
        out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    expected["chat"] = {"input": int(ids["input_ids"].shape[1]), "output": 4}

    try:
        from langchain_huggingface import HuggingFacePipeline
    except ImportError:
        pass
    else:
        lc_pipe = pipeline("text-generation", model=model, tokenizer=tok, max_new_tokens=6,
                           do_sample=False)
        llm = HuggingFacePipeline(pipeline=lc_pipe)
        prompt = "tokens are counted"
        with tracer.start_as_current_span("langchain"):
            llm.invoke(prompt)
        with tracer.start_as_current_span("langchain-stream"):
            chunks = list(llm.stream(prompt))
        ids = tok(prompt, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=6, do_sample=False)  # a root span
        counts, _ = out_counts(out, ids.input_ids.shape[1], {tok.eos_token_id})
        n = int(ids.attention_mask.sum())
        expected["langchain"] = {"input": n, "output": sum(counts)}

        from langchain_huggingface import ChatHuggingFace
        lc_llm = HuggingFacePipeline(pipeline=lc_pipe, model_id=str(folder))
        chat_model = ChatHuggingFace(llm=lc_llm, tokenizer=tok)
        with tracer.start_as_current_span("langchain-chat"):
            chat_model.invoke("hello")
        rendered = tok.apply_chat_template([{"role": "user", "content": "hello"}], tokenize=False,
                                           add_generation_prompt=True)
        ids = tok(rendered, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=6, do_sample=False)  # a root span
        counts, _ = out_counts(out, ids.input_ids.shape[1], {tok.eos_token_id})
        expected["langchain-chat"] = {"input": int(ids.attention_mask.sum()), "output": sum(counts)}
        expected["langchain-stream"] = {"input": n, "output": sum(counts)}

    with open(sys.argv[1] + "/expected.json", "w") as f:
        json.dump(expected, f)
    """
)


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Any, Any]:
    receiver = OTLPReceiver().start()
    try:
        folder = tmp_path_factory.mktemp("transformers")
        script = folder / "app.py"
        script.write_text(APP)
        env = agent_env(receiver.endpoint, OTEL_METRIC_EXPORT_INTERVAL="500")
        proc = run_traced(["python", str(script), str(folder), str(ROOT)], env, timeout=280)
        assert proc.returncode == 0, proc.stderr[-4000:]
        expected = json.loads((folder / "expected.json").read_text())
        spans = receiver.wait_for(
            lambda s: sum(x["name"] in expected for x in s) == len(expected), timeout=30
        )
        receiver.wait_for(
            lambda s: any(
                m["name"] == "gen_ai.server.time_to_first_token" for m in receiver.metrics
            ),
            timeout=10,
        )
        return spans, expected, receiver.metrics
    finally:
        receiver.stop()


def _scenario(spans: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The GenAI spans under the app span ``name``, outermost first."""
    root = next(s for s in spans if s["name"] == name)
    found, frontier = [], [root]
    while frontier:
        nxt = []
        for parent in frontier:
            for child in children(spans, parent):
                if "openinference.span.kind" in child["attributes"]:
                    found.append(child)
                nxt.append(child)
        frontier = nxt
    return found


def _assert_timing(span: dict[str, Any]) -> None:
    attrs = span["attributes"]
    duration = (span["end"] - span["start"]) / 1e9
    ttft = attrs["gen_ai.response.time_to_first_chunk"]
    assert 0 < ttft < duration
    assert attrs["llm_instrument.response.tokens_per_second"] > 0


def test_batched_greedy_generate_counts_real_tokens(traced: Any) -> None:
    spans, expected, _ = traced
    (span,) = _scenario(spans, "greedy")
    attrs = span["attributes"]
    assert span["name"] == "text_completion tiny-gpt2"
    assert attrs["gen_ai.provider.name"] == "huggingface"
    assert attrs["gen_ai.operation.name"] == "text_completion"
    assert attrs["gen_ai.request.max_tokens"] == 10
    assert attrs["llm_instrument.request.do_sample"] is False
    assert attrs["llm_instrument.request.batch_size"] == 2
    assert attrs["llm_instrument.model.device"] == "cpu"
    assert attrs["llm_instrument.model.dtype"] == "float32"
    want = expected["greedy"]
    assert attrs["gen_ai.usage.input_tokens"] == want["input"]
    assert attrs["gen_ai.usage.output_tokens"] == want["output"]
    assert want["output"] < 2 * want["pad_after_eos"]  # padding after eos was not counted
    assert list(attrs["gen_ai.response.finish_reasons"]) == want["reasons"]
    # a batch of prompts is not one conversation: the prompts, as a JSON list
    assert json.loads(attrs["input.value"]) == ["hello world", "the quick brown fox jumps over"]
    assert attrs["input.mime_type"] == "application/json"
    _assert_timing(span)


@pytest.mark.parametrize("scenario", ["stop-strings", "stop-strings-eos-pad"])
def test_stop_strings_count_only_the_real_tokens_of_each_row(traced: Any, scenario: str) -> None:
    spans, expected, _ = traced
    (span,) = _scenario(spans, scenario)
    attrs, want = span["attributes"], expected[scenario]
    assert "stop" in want["reasons"] and want["output"] < want["padded"]  # a row stopped early
    assert attrs["gen_ai.usage.output_tokens"] == want["output"]
    assert list(attrs["gen_ai.response.finish_reasons"]) == want["reasons"]
    messages = json.loads(attrs["gen_ai.output.messages"])
    assert [m["finish_reason"] for m in messages] == want["reasons"]


def test_sampled_generate_with_several_returned_sequences(traced: Any) -> None:
    spans, expected, _ = traced
    (span,) = _scenario(spans, "sampled")
    attrs = span["attributes"]
    assert attrs["llm_instrument.request.do_sample"] is True
    assert attrs["gen_ai.request.top_k"] == 20
    assert attrs["gen_ai.request.temperature"] == pytest.approx(0.9)
    assert attrs["gen_ai.request.choice.count"] == 2
    assert attrs["gen_ai.usage.input_tokens"] == expected["sampled"]["input"]
    assert attrs["gen_ai.usage.output_tokens"] == expected["sampled"]["output"]
    _assert_timing(span)


def test_streamer_in_a_background_thread_joins_the_trace(traced: Any) -> None:
    spans, expected, _ = traced
    (span,) = _scenario(spans, "streamer")  # a child of the app span: context was carried
    attrs = span["attributes"]
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.output_tokens"] == expected["streamer"]["output"]
    assert attrs["gen_ai.usage.input_tokens"] == expected["streamer"]["input"]
    _assert_timing(span)


def test_pipeline_span_holds_its_generate_calls_and_their_usage(traced: Any) -> None:
    spans, expected, _ = traced
    pipeline_span, *generates = _scenario(spans, "pipeline")
    assert len(generates) == 2
    assert all(g["parent_span_id"] == pipeline_span["span_id"] for g in generates)
    attrs = pipeline_span["attributes"]
    assert attrs["gen_ai.request.max_tokens"] == 5
    assert attrs["llm_instrument.request.do_sample"] is False
    assert attrs["gen_ai.usage.input_tokens"] == expected["pipeline"]["input"]
    assert attrs["gen_ai.usage.output_tokens"] == expected["pipeline"]["output"]
    # one call, one usage: the generate spans keep their counts under our own names
    assert sum(g["attributes"]["llm_instrument.usage.output_tokens"] for g in generates) == 10
    assert not any("gen_ai.usage.output_tokens" in g["attributes"] for g in generates)
    _assert_timing(pipeline_span)


def test_feature_extraction_pipeline_is_an_embedding_span(traced: Any) -> None:
    spans, expected, _ = traced
    (span,) = _scenario(spans, "embed")
    attrs = span["attributes"]
    assert attrs["openinference.span.kind"] == "EMBEDDING"
    assert attrs["gen_ai.operation.name"] == "embeddings"
    assert attrs["gen_ai.usage.input_tokens"] == expected["embed"]["input"]
    assert attrs["gen_ai.embeddings.dimension.count"] == expected["embed"]["dims"] == 32
    assert attrs["llm_instrument.request.batch_size"] == 2


def test_generate_after_a_chat_template_is_a_chat(traced: Any) -> None:
    spans, expected, _ = traced
    (span,) = _scenario(spans, "chat")
    assert span["attributes"]["gen_ai.operation.name"] == "chat"
    # the rendered template is the completion prompt it is, not one fake user turn
    assert "gen_ai.input.messages" not in span["attributes"]
    assert "<|user|>hello" in span["attributes"]["input.value"]
    assert span["attributes"]["gen_ai.usage.input_tokens"] == expected["chat"]["input"]
    assert span["attributes"]["gen_ai.usage.output_tokens"] == expected["chat"]["output"]


@pytest.mark.parametrize("scenario", ["langchain", "langchain-stream", "langchain-chat"])
def test_langchain_model_span_gets_the_exact_usage(traced: Any, scenario: str) -> None:
    spans, expected, _ = traced
    if scenario not in expected:
        pytest.skip("langchain-huggingface not installed")
    found = _scenario(spans, scenario)
    if len(found) < 3:
        pytest.skip("no langchain plugin in this tree")
    outer = found[0]
    assert outer["attributes"]["openinference.span.kind"] == "LLM"
    if scenario == "langchain-chat":
        assert [s["attributes"]["gen_ai.operation.name"] for s in found] == ["chat"] * 3
    assert outer["attributes"]["gen_ai.usage.input_tokens"] == expected[scenario]["input"]
    assert outer["attributes"]["gen_ai.usage.output_tokens"] == expected[scenario]["output"]
    assert outer["attributes"]["gen_ai.request.model"] == "tiny-gpt2"
    # summed over the call's spans as Phoenix and Jaeger UI sum them: counted once
    total = sum(s["attributes"].get("gen_ai.usage.output_tokens", 0) for s in found)
    assert total == expected[scenario]["output"]
    if scenario == "langchain-chat":
        inner = found[1]["attributes"]
        assert "gen_ai.input.messages" not in inner
        assert "<|user|>hello" in inner["input.value"]


def test_server_metrics_and_tokens_counted_once(traced: Any) -> None:
    spans, expected, metrics = traced
    names = {m["name"] for m in metrics}
    assert "gen_ai.server.time_to_first_token" in names
    assert "gen_ai.server.time_per_output_token" in names
    ttft = next(m for m in metrics if m["name"] == "gen_ai.server.time_to_first_token")
    assert ttft["points"][0]["explicit_bounds"][:3] == [0.001, 0.005, 0.01]
    last: dict[tuple[Any, ...], int] = {}
    for metric in metrics:
        if metric["name"] == "gen_ai.client.token.usage":
            for point in metric["points"]:
                if point["attributes"].get("gen_ai.token.type") == "output":
                    key = tuple(sorted(point["attributes"].items()))
                    last[key] = max(last.get(key, 0), int(point["sum"]))
    # cumulative sums: the latest export holds everything; each call counted once
    total = sum(last.values())
    assert total == sum(v["output"] for v in expected.values()) + _probe_output(spans)


def _probe_output(spans: list[dict[str, Any]]) -> int:
    """The untraced-by-scenario probe generate (no app parent) also counts, once."""
    app_ids = {s["span_id"] for s in spans if s["scope"] == "app"}
    roots = [
        s
        for s in spans
        if s["parent_span_id"] is None and s["attributes"].get("openinference.span.kind") == "LLM"
    ]
    assert app_ids
    return sum(int(s["attributes"]["gen_ai.usage.output_tokens"]) for s in roots)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
