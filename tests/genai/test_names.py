"""Every name the core writes is the conventions' (checked against the pinned
``opentelemetry-semantic-conventions`` package), OpenInference's (checked against Phoenix's
``openinference-semantic-conventions``) or our own under ``llm_instrument.*``; one name per
fact."""

from __future__ import annotations

import json
import subprocess
from enum import Enum
from typing import Any

import pytest
from opentelemetry.semconv._incubating.attributes import error_attributes, gen_ai_attributes
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics

from llm_instrument.genai import names


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    return []


def _written() -> dict[str, str]:
    """Every attribute or metric name in ``names`` -> where it is defined there."""
    found: dict[str, str] = {}
    for constant, value in vars(names).items():
        if constant.isupper():
            for text in _strings(value):
                if "." in text and " " not in text:
                    found.setdefault(text, constant)
    return found


def _package_values(module: Any) -> set[str]:
    return {v for k, v in vars(module).items() if k.isupper() and isinstance(v, str)}


# the request keys instrumentors hand over: their names, not attribute names
_FACT_KEYS = set(names.REQUEST_PARAMETERS)
# OpenInference's, written beside the GenAI names because Phoenix reads only them
_OPENINFERENCE = {
    names.SPAN_KIND,
    names.INPUT_VALUE,
    names.INPUT_MIME_TYPE,
    names.OUTPUT_VALUE,
    names.OUTPUT_MIME_TYPE,
}


def test_every_gen_ai_name_is_the_pinned_conventions() -> None:
    known = _package_values(gen_ai_attributes) | _package_values(gen_ai_metrics)
    gen_ai = {n: c for n, c in _written().items() if n.startswith("gen_ai.")}
    assert len(gen_ai) > 40
    unknown = {n: c for n, c in gen_ai.items() if n not in known}
    assert unknown == {}, "not in opentelemetry-semantic-conventions"


def test_every_other_name_is_error_type_openinference_or_ours() -> None:
    others = {n for n in _written() if not n.startswith("gen_ai.") and n not in _FACT_KEYS}
    assert names.ERROR_TYPE in _package_values(error_attributes)
    stray = {
        n
        for n in others - _OPENINFERENCE - {names.ERROR_TYPE, names.MIME_JSON}
        if not n.startswith("llm_instrument.")
    }
    assert stray == set()
    assert "gen_ai.span.kind" not in _written()


def _values(enum: type[Enum]) -> set[str]:
    return {str(member.value) for member in enum}


def test_operation_and_token_type_values_are_the_conventions() -> None:
    ours = {v for k, v in vars(names.Operation).items() if k.isupper()}
    assert ours <= _values(gen_ai_attributes.GenAiOperationNameValues)
    assert {names.TOKEN_INPUT, names.TOKEN_OUTPUT} <= _values(
        gen_ai_attributes.GenAiTokenTypeValues
    )


def test_one_name_per_fact() -> None:
    constants: dict[str, list[str]] = {}
    for constant, value in vars(names).items():
        if constant.isupper() and isinstance(value, str) and "." in value:
            constants.setdefault(value, []).append(constant)
    assert {v: c for v, c in constants.items() if len(c) > 1} == {}
    ours = [n for n in _written() if n.startswith("llm_instrument.")]
    # the known doubles of the past: one name for the batch size, none for the span kind
    assert [n for n in ours if n.endswith("batch_size")] == ["llm_instrument.request.batch_size"]


def test_openinference_names_are_phoenixs_own() -> None:
    from tests.support import phoenix

    try:
        python = phoenix.python()
    except AssertionError as exc:
        pytest.skip(str(exc))
    script = (
        "import json; from openinference.semconv.trace import SpanAttributes as S, "
        "OpenInferenceSpanKindValues as K, OpenInferenceMimeTypeValues as M; "
        "print(json.dumps({'attrs': [v for k, v in vars(S).items() if k.isupper()], "
        "'kinds': [k.value for k in K], 'mime': [m.value for m in M]}))"
    )
    done = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    theirs = json.loads(done.stdout)
    assert set(theirs["attrs"]) >= _OPENINFERENCE
    kinds = {v for k, v in vars(names.SpanKind).items() if k.isupper()}
    assert kinds <= set(theirs["kinds"])
    assert names.MIME_JSON in theirs["mime"]
