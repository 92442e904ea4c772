"""Validate GenAI JSON attributes with a real validator: Phoenix's own pydantic models.

Phoenix ships models generated from the OpenTelemetry GenAI JSON schemas
(open-telemetry/semantic-conventions-genai: gen-ai-input-messages.json, -output-messages,
-system-instructions, -tool-definitions, -retrieval-documents), in
``phoenix/trace/gen_ai/__generated__/models.py``, and drops a whole attribute on ingest when
they reject it. We run those very models, in the Phoenix venv (``tests/support/phoenix.py``),
one subprocess per batch: the module is loaded by its path, without importing the rest of
Phoenix (12 s), so a batch of any size takes a fraction of a second.

Validation is the schema's, strict: unlike Phoenix's ingest, a tool definition without
``type`` is an error here (Phoenix fills in ``"function"`` before validating).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Sequence
from typing import Any

from tests.support import phoenix

# attribute -> the root model Phoenix validates it with
MODELS = {
    "gen_ai.input.messages": "InputMessages",
    "gen_ai.output.messages": "OutputMessages",
    "gen_ai.system_instructions": "SystemInstructions",
    "gen_ai.tool.definitions": "ToolDefinitions",
    "gen_ai.retrieval.documents": "RetrievalDocuments",
}

_VALIDATOR = r"""
import importlib.util, json, sys
from pathlib import Path
from pydantic import ValidationError

spec = importlib.util.find_spec("phoenix")
path = Path(spec.origin).parent / "trace" / "gen_ai" / "__generated__" / "models.py"
spec = importlib.util.spec_from_file_location("phoenix_gen_ai_models", path)
models = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = models  # pydantic resolves generic roots through sys.modules
spec.loader.exec_module(models)
header = path.read_text().splitlines()[0]
results = []
for model_name, text in json.load(sys.stdin):
    try:
        getattr(models, model_name).model_validate_json(text)
        results.append([])
    except ValidationError as exc:
        results.append(
            [".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors()]
        )
json.dump({"source": header, "results": results}, sys.stdout)
"""


def validate_many(items: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Validate ``(attribute name, JSON text)`` pairs in one call; one error list per pair
    ([] when valid), each error ``"LOCATION: message"`` (location ``0.finish_reason`` is the
    first item's field). ValueError for an attribute with no schema."""
    batch = list(items)
    for name, text in batch:
        if name not in MODELS:
            raise ValueError(f"no GenAI JSON schema for {name!r}; known: {sorted(MODELS)}")
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a JSON string, got {type(text).__name__}")
    if not batch:
        return []
    results: list[list[str]] = _run([[MODELS[name], text] for name, text in batch])["results"]
    return results


def validate(attribute: str, json_text: str) -> list[str]:
    """The errors of one attribute value; [] when the schema accepts it."""
    return validate_many([(attribute, json_text)])[0]


def schema_source() -> str:
    """The generated models' header line: which semantic-conventions-genai commit."""
    source: str = _run([])["source"]
    return source


def _run(batch: list[list[str]]) -> Any:
    done = subprocess.run(
        [str(phoenix.python()), "-c", _VALIDATOR],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise AssertionError(f"the schema validator failed:\n{done.stderr}")
    return json.loads(done.stdout)


def span_errors(spans: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], list[str]]:
    """Validate every schema'd attribute on spans as ``tests/support/otlp_receiver.py`` gives
    them, in one batch; the failures only, keyed ``(span name, span id, attribute)``. A value
    that is not a string (the conventions want a JSON string) is an error of its own."""
    keys: list[tuple[str, str, str]] = []
    batch: list[tuple[str, str]] = []
    failures: dict[tuple[str, str, str], list[str]] = {}
    for span in spans:
        for name in MODELS:
            if name not in span["attributes"]:
                continue
            key = (span["name"], span["span_id"], name)
            value = span["attributes"][name]
            if isinstance(value, str):
                keys.append(key)
                batch.append((name, value))
            else:
                failures[key] = [f"not a JSON string but {type(value).__name__}"]
    for key, errors in zip(keys, validate_many(batch), strict=True):
        if errors:
            failures[key] = errors
    return failures
