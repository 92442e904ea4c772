"""Turning the text of a setting into its value, and a value back into the text a user
types: one parse function per kind of value (each raises ValueError with a reason in the
user's words), ``shown`` and ``problem`` for the one start-up warning line."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("not true or false")


def parse_port(raw: str) -> int:
    if not raw.strip().isdigit() or not 0 < int(raw) < 65536:
        raise ValueError("not a port number from 1 to 65535")
    return int(raw)


def parse_positive_int(raw: str) -> int:
    if not raw.strip().isdigit() or int(raw) <= 0:
        raise ValueError("not a whole number above 0")
    return int(raw)


def parse_non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"expected 0 (no limit) or a positive integer, got {value}")
    return value


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(raw: str) -> float:
    """Seconds from ``30s``, ``15m``, ``12h``, ``7d``, ``2w`` or a bare number of seconds;
    ``0`` means no limit."""
    text = raw.strip().lower()
    unit = _DURATION_UNITS.get(text[-1:], 0)
    number = text[:-1] if unit else text
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"expected a duration such as 7d, 12h or 30m, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"expected a positive duration, got {raw!r}")
    return value


def parse_seconds(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 3600:
        raise ValueError(f"expected seconds between 0 and 3600, got {raw!r}")
    return value


_BYTE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2}
_BYTE_UNITS |= {"mib": 1024**2, "g": 1024**3, "gb": 1000**3, "gib": 1024**3}


def parse_bytes(raw: str) -> int:
    """``4194304``, ``64MiB``, ``512k``: a positive size in bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", raw)
    unit = _BYTE_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f"expected a size such as 33554432 or 32MiB, got {raw!r}")
    value = int(float(match.group(1)) * unit)
    if value <= 0:
        raise ValueError(f"expected a positive size, got {raw!r}")
    return value


def parse_choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"not one of {', '.join(choices)}")
        return value

    return parse


def parse_names(raw: str) -> frozenset[str]:
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def shown(value: Any) -> str:
    """A value as a user would type it: ``true``, ``4096``, ``requests,fastapi``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset | set | tuple | list):
        return ",".join(sorted(str(v) for v in value))
    return "" if value is None else str(value)


def problem(env: str, raw: str, error: ValueError, default: Any) -> str:
    """One start-up problem line, in the user's words: the variable, its value as set, why
    it is ignored and what is used instead."""
    import shlex  # only when something is wrong

    reason = str(error)
    if reason.startswith("invalid literal for int()"):  # a plugin's parse=int
        reason = "not a whole number"
    elif reason.startswith("could not convert string to float"):
        reason = "not a number"
    instead = f"using {shown(default)}" if shown(default) else "left unset"
    return f"{env}={shlex.quote(raw)} ignored ({reason}), {instead}"
