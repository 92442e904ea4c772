"""The per-span content budget: a list that does not fit is cut, with a marker of how many
items were left out.

``LLM_INSTRUMENT_MAX_SPAN_CONTENT_BYTES`` (default 256 KiB) bounds the captured content of
one span. A 10,000-message chat history would otherwise export a 40 MB attribute, and
encoding it would cost the application's request thread as much. ``fit_items`` encodes
items one at a time and stops as soon as the budget is spent, so its cost is that of what
it keeps, not of the list. Chat messages are kept from the newest (the question being
answered is last); parts, documents and other lists from the first. The marker is an item
of the list's own shape, so the JSON stays valid for the viewers:

- messages: ``{"role": ..., "parts": [{"type": "text", "content": "...[9990 earlier
  messages left out]"}]}`` in place of the oldest ones;
- other lists: a last item saying ``...[N items left out]``.

``fit_span`` applies the budget to a finished span's content attributes together (the
core cuts each list as it writes it; a span with a long input *and* output is evened out
at export).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

MARKER_RESERVE = 160  # bytes kept free for the marker item and the brackets
# one encoder for every captured value: ``json.dumps`` with options builds a new encoder per
# call, which cost as much as encoding a short message
_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


def to_json(value: Any) -> str:
    """``value`` as JSON the way every captured attribute is written (UTF-8 kept, anything
    JSON does not know as its ``str``)."""
    return _JSON.encode(value)


def size(text: str) -> int:
    """UTF-8 length of ``text`` (cheap for ASCII, the common case)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


class Room:
    """What is left of the budget while one value is turned into JSON. Approximate and
    cheap: a string counts its length, any other item a few bytes; ``fit_span`` measures
    exactly at export."""

    __slots__ = ("left",)

    def __init__(self, budget: int) -> None:
        self.left = budget

    def take(self, amount: int) -> None:
        self.left -= amount

    @property
    def spent(self) -> bool:
        return self.left <= 0


def message_marker(left_out: int, role: str) -> dict[str, Any]:
    text = f"...[{left_out} earlier message{'s' if left_out != 1 else ''} left out]"
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def item_marker(left_out: int) -> str:
    return f"...[{left_out} item{'s' if left_out != 1 else ''} left out]"


def fit_items(
    items: Sequence[Any],
    encode: Callable[[Any], str],
    budget: int,
    *,
    newest_last: bool = False,
    marker: Callable[[int, Any], Any] | None = None,
    already: int = 0,
) -> str:
    """A JSON array of as many of ``items`` (each turned into JSON by ``encode``) as fit in
    ``budget`` bytes, from the end when ``newest_last``; the rest replaced by one marker
    (``marker(left_out, the left-out item next to the cut)``, default a string item).
    ``already`` counts items an earlier cut left out, so one marker tells the whole."""
    kept: list[str] = []
    within_room = 0  # how many of ``kept`` still leave room for a marker
    used = 2  # the brackets
    order = range(len(items) - 1, -1, -1) if newest_last else range(len(items))
    for index in order:
        encoded = encode(items[index])
        used += size(encoded) + 1
        if used > budget:
            break
        kept.append(encoded)
        if used <= budget - MARKER_RESERVE:
            within_room = len(kept)
    if len(kept) < len(items):
        del kept[within_room:]
    left_out = len(items) - len(kept)
    if left_out or already:
        cut = (items[left_out - 1] if newest_last else items[len(kept)]) if left_out else None
        note = (marker or (lambda n, _: item_marker(n)))(left_out + already, cut)
        kept.append(to_json(note))
    if newest_last:
        kept.reverse()
    return "[" + ",".join(kept) + "]"


_EARLIER = re.compile(r"\.\.\.\[(\d+) earlier messages? left out\]")
_ITEMS = re.compile(r"\.\.\.\[(\d+) items? left out\]")


def _role(item: Any) -> str:
    return str(item.get("role", "user")) if isinstance(item, Mapping) else "user"


def _message_marker_count(item: Any) -> int | None:
    """The count of an earlier cut's marker message, ``None`` for an ordinary message."""
    try:
        (part,) = item["parts"]
        found = _EARLIER.fullmatch(part["content"])
    except (KeyError, TypeError, ValueError):
        return None
    return int(found.group(1)) if found else None


def _refit(value: str, budget: int) -> str:
    """One attribute brought under ``budget`` bytes: a JSON list is cut by items (message
    lists keep their newest), anything else cut as text."""
    try:
        items = json.loads(value) if value[:1] == "[" else None
    except ValueError:
        items = None
    if isinstance(items, list):
        messages = bool(items) and all(isinstance(i, Mapping) and "parts" in i for i in items)

        if messages:
            earlier = _message_marker_count(items[0])
            return fit_items(
                items[1:] if earlier is not None else items,
                to_json,
                budget,
                newest_last=True,
                marker=lambda n, cut: message_marker(n, _role(cut or items[0])),
                already=earlier or 0,
            )
        last = _ITEMS.fullmatch(items[-1]) if items and isinstance(items[-1], str) else None
        return fit_items(
            items[:-1] if last else items, to_json, budget, already=int(last[1]) if last else 0
        )
    keep = max(0, budget - MARKER_RESERVE)
    text = value.encode("utf-8")[:keep].decode("utf-8", "ignore")
    return f"{text}...[truncated {len(value) - len(text)} chars]"


def fit_span(attributes: dict[str, Any], content_keys: Sequence[str], budget: int) -> None:
    """Cut the content attributes of one span, largest first, until they fit ``budget``."""
    sizes = {
        key: size(value)
        for key in content_keys
        if isinstance(value := attributes.get(key), str) and value
    }
    total = sum(sizes.values())
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if total <= budget:
            return
        share = max(MARKER_RESERVE * 2, sizes[key] - (total - budget))
        attributes[key] = _refit(attributes[key], share)
        total += size(attributes[key]) - sizes[key]
