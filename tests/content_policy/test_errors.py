"""Exception messages, stack traces and statuses under the policy."""

from __future__ import annotations

import traceback

from llm_instrument.content_policy import Policy, errors

KEY = "sk-proj-Zz9Yy8Xx7Ww6Vv5Uu4Tt3"
ON, OFF = Policy(True, 4096), Policy(False, 4096)


# built at run time, so they are not in the source lines a trace quotes
QUESTION = "".join(("How ", "do I ", "reset?"))
SECOND = "".join(("second line ", "of the message"))


def _trace() -> str:
    try:
        try:
            raise KeyError(f"lookup of {KEY} failed\n{SECOND}")
        except KeyError as inner:
            raise ValueError(f"the question was: {QUESTION} ({KEY})") from inner
    except ValueError as exc:
        return "".join(traceback.format_exception(exc))


def test_capture_on_keeps_the_message_redacted() -> None:
    assert errors.message(f"bad key {KEY}", ON) == "bad key [REDACTED]"
    trace = errors.stacktrace(_trace(), ON)
    assert KEY not in trace
    assert "ValueError: the question was: How do I reset? ([REDACTED])" in trace


def test_capture_off_keeps_frames_and_types_only() -> None:
    assert errors.message(f"bad key {KEY}", OFF) == ""
    trace = errors.stacktrace(_trace(), OFF)
    assert KEY not in trace and "How do I" not in trace and "second line" not in trace
    lines = trace.splitlines()
    assert "KeyError" in lines and "ValueError" in lines
    assert lines[0] == "Traceback (most recent call last):"
    assert any(line.strip().startswith('File "') and "_trace" in line for line in lines)
    assert any("direct cause" in line for line in lines)


def test_status_descriptions() -> None:
    assert errors.status(f"ValueError: {KEY}", ON) == "ValueError: [REDACTED]"
    assert errors.status(f"ValueError: {KEY}", OFF) == "ValueError"
    assert errors.status("connection refused by peer", OFF) == ""


def test_a_long_trace_keeps_head_and_tail() -> None:
    text = "Traceback (most recent call last):\n" + '  File "x.py", line 1\n' * 5000
    text += f"ValueError: {KEY}"
    kept = errors.stacktrace(text, Policy(True, 100))
    assert len(kept) < 600
    assert kept.startswith("Traceback") and kept.endswith("ValueError: [REDACTED]")
