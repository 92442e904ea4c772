"""AdmissionReview v1 in, AdmissionReview v1 out: the webhook's request handling, minus HTTP.

A body that is not an AdmissionReview with a ``request.uid`` raises ``BadRequest`` (the
server answers 400). Anything else is answered ``allowed: true``: with the JSON patch when
``mutate.plan`` injects, without one (and a log line) for an unexpected request or when the
planning itself fails. A broken webhook must never block pod creation. Containers left out
are named with the reason in the response ``warnings`` (shown by ``kubectl``), in the pod's
``llm-instrument.io/injection-status`` annotation and in the log.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from llm_instrument.webhook import mutate
from llm_instrument.webhook.options import WebhookConfig

_logger = logging.getLogger(__name__)

API_VERSION = "admission.k8s.io/v1"


class BadRequest(ValueError):
    """The body is not an AdmissionReview the webhook can answer."""


def parse(body: bytes) -> dict[str, Any]:
    """The AdmissionReview, checked to carry a ``request.uid``; raises ``BadRequest``."""
    try:
        review = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(review, dict) or review.get("kind") != "AdmissionReview":
        raise BadRequest("body is not an AdmissionReview")
    request = review.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str):
        raise BadRequest("AdmissionReview has no request.uid")
    return review


def answer(body: bytes, config: WebhookConfig) -> dict[str, Any]:
    """The AdmissionReview response for ``body``; raises ``BadRequest`` only."""
    review = parse(body)
    request = review["request"]
    response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
    where = _describe(request)
    pod = request.get("object")
    kind = request.get("kind") or {}
    api_version = review.get("apiVersion")
    if api_version != API_VERSION:
        _logger.warning(
            "%s request for %s: only %s is answered; allowed unchanged",
            api_version,
            where,
            API_VERSION,
        )
        return {"apiVersion": api_version, "kind": "AdmissionReview", "response": response}
    if (
        not isinstance(kind, dict)
        or kind.get("kind") != "Pod"
        or request.get("operation") != "CREATE"
    ):
        operation = request.get("operation")
        _logger.warning(
            "unexpected %s %s request for %s: allowed unchanged", operation, kind, where
        )
    elif not isinstance(pod, dict):
        _logger.warning("request for %s has no pod object: allowed unchanged", where)
    else:
        try:
            result = mutate.plan(pod, config)
        except Exception:  # an unforeseen pod shape must not block its creation
            _logger.exception("cannot plan injection for %s: allowed unchanged", where)
        else:
            _apply(response, result, where)
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def _apply(response: dict[str, Any], result: mutate.Plan, where: str) -> None:
    if result.notes:
        response["warnings"] = [f"llm-instrument: {note}" for note in result.notes]
    if result.skipped is not None:
        _logger.info("%s: not injected: %s%s", where, result.skipped, _suffix(result.notes))
        return
    patch = json.dumps(result.ops, separators=(",", ":")).encode()
    response["patchType"] = "JSONPatch"
    response["patch"] = base64.b64encode(patch).decode()
    _logger.info("%s: injected into %s%s", where, ", ".join(result.injected), _suffix(result.notes))


def _suffix(notes: list[str]) -> str:
    return f" ({'; '.join(notes)})" if notes else ""


def _describe(request: dict[str, Any]) -> str:
    obj = request.get("object")
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    name = request.get("name") or meta.get("name") or f"{meta.get('generateName') or ''}*"
    return f"pod {request.get('namespace') or meta.get('namespace') or '?'}/{name}"
