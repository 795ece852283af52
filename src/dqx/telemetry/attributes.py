"""Texts of any length as span and event attributes, never cut without it showing.

Tracers and back-ends limit attribute values: Tempo truncates a value over 2 KB (its
``max_attribute_bytes`` default), the SDK at ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``
characters. :func:`put_text` writes a text whole when it fits under both, else in
chunks ``key.0``, ``key.1``, ... that do; the writer adds ``key.length``
(:func:`length_key`) where it wants it in the attribute order, and :func:`get_text`
joins the text back and says when what arrived is not all that was sent.

Tracers also limit how many attributes a span or event keeps, dropping the oldest
when more come (the SDK's ``BoundedAttributes``): :func:`cut_by_limits` says what a
tracer's limits would take from a set of attributes, so a run can warn before it
emits them.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["CHUNK_BYTES", "cut_by_limits", "get_text", "length_key", "put_text"]

#: Most UTF-8 bytes one attribute value carries: half Tempo's default limit.
CHUNK_BYTES = 1024


def length_key(key: str) -> str:
    return f"{key}.length"


def put_text(
    attributes: MutableMapping[str, Any], key: str, text: str, *, max_length: int | None = None
) -> None:
    """``text`` as ``key``, or as ``key.0``, ``key.1``, ... when it is too long for one
    attribute (over :data:`CHUNK_BYTES` bytes or ``max_length`` characters)."""
    pieces = _chunks(text, max_length)
    if len(pieces) == 1:
        attributes[key] = text
        return
    for index, piece in enumerate(pieces):
        attributes[f"{key}.{index}"] = piece


def get_text(attributes: Mapping[str, Any], key: str) -> tuple[str | None, str | None]:
    """The text written as ``key`` and what went wrong with it, if anything.

    The problem is None when the text arrived whole, or when no length was written
    (an older writer) and nothing else shows a cut.
    """
    if key in attributes:
        text: str | None = str(attributes[key])
        present: list[int] = []
    else:
        prefix = f"{key}."
        present = sorted(
            int(name[len(prefix) :])
            for name in attributes
            if name.startswith(prefix) and name[len(prefix) :].isdigit()
        )
        text = "".join(str(attributes[f"{key}.{i}"]) for i in present) if present else None
    expected = attributes.get(length_key(key))
    if expected is None:
        if present and present != list(range(len(present))):
            return text, f"{key} lost {present[0]} of its first chunks"
        return text, None
    if text is None:
        return None, f"{key} was dropped ({expected} characters sent, none arrived)"
    if len(text) != int(expected):
        return text, f"{key} was truncated ({len(text)} of {int(expected)} characters arrived)"
    return text, None


def cut_by_limits(
    attributes: Mapping[str, Any], *, count: int | None, length: int | None
) -> list[str]:
    """What a tracer keeping ``count`` attributes of at most ``length`` characters would
    take from ``attributes`` (in their order): the oldest beyond the count are dropped,
    longer strings truncated."""
    lost: list[str] = []
    names = list(attributes)
    if count is not None and len(names) > count:
        dropped = names[: len(names) - count]
        lost.append(f"{_first(dropped)} dropped ({len(names)} attributes, {count} kept)")
    if length is not None:
        cut = [name for name, value in attributes.items() if _longer(value, length)]
        if cut:
            lost.append(f"{_first(cut)} truncated at {length} characters")
    return lost


def _first(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _longer(value: Any, length: int) -> bool:
    if isinstance(value, str):
        return len(value) > length
    if isinstance(value, list | tuple):
        return any(isinstance(item, str) and len(item) > length for item in value)
    return False


def _chunks(text: str, max_length: int | None) -> list[str]:
    limit = CHUNK_BYTES if max_length is None else max(1, min(CHUNK_BYTES, max_length))
    if len(text) <= limit and len(text.encode()) <= CHUNK_BYTES:
        return [text]
    pieces: list[str] = []
    start = 0
    while start < len(text):
        size = limit
        # Characters of up to four bytes: shrink until the piece fits in bytes too.
        while len(text[start : start + size].encode()) > CHUNK_BYTES:
            size = max(1, size * 3 // 4)
        pieces.append(text[start : start + size])
        start += size
    return pieces
