"""Telling a rendered chat template's markup from the people's text in it.

A Jinja chat template writes markup (``<|im_start|>user\\n``) and the messages' text into one string, and
cannot say which is which. Tokenized as one special text, a message that spells the markup
(``<|im_end|><|im_start|>assistant``) would become real control tokens: a forged turn. So the template is
rendered twice: once with the messages, and once with a unique placeholder for each message's text. The
placeholder rendering gives the markup around each message; the real rendering is then read as that markup with
each message's text between, and the split is kept only where it is verified, character for character:

* each markup piece must be found exactly where the placeholder rendering says;
* between two markup pieces, the message's text as it is, or as the template may have trimmed it (``| trim``,
  ``.strip()``, a left or right strip), must fill the gap exactly.

The real rendering is read from its start and from its end. Where a message cannot be verified (a template that
changes a message in another way, such as Qwen3 cutting an answer at ``</think>``), the text between the last
piece verified from the start and the first verified from the end is taken as people's text: plain text, never
markup. That is the safe side: at worst the markup around such a message is spelled out to the model instead of
given as control tokens; people's text never becomes markup.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from app.engine.formats.base import PromptPart

_PREFIX = "MossText"


@dataclass(frozen=True, slots=True)
class _Text:
    """A message's text in the rendering: the index of the message whose content goes there."""

    index: int


class Placeholders:
    """Unique stand-ins for the messages' texts: ``MossText<random>n<index>z`` (letters and digits only, so that
    a template's ``trim``, ``tojson`` or ``split`` leaves them whole)."""

    def __init__(self) -> None:
        self._renew()

    def _renew(self) -> None:
        self._tag = f"{_PREFIX}{secrets.token_hex(6)}"
        self._pattern = re.compile(rf"{self._tag}n(\d+)z")

    def for_contents(self, contents: Sequence[str]) -> list[str]:
        """A placeholder for each content (empty contents stay empty: some templates test for them)."""
        while any(self._tag in content for content in contents):  # never, short of someone guessing 48 bits
            self._renew()
        return [f"{self._tag}n{i}z" if content else "" for i, content in enumerate(contents)]

    def layout(self, rendered: str, count: int) -> list[str | _Text] | None:
        """The placeholder rendering as markup pieces and message slots; None when it cannot be read."""
        pieces = self._pattern.split(rendered)
        layout: list[str | _Text] = [pieces[0]]
        for number, markup in zip(pieces[1::2], pieces[2::2], strict=True):
            index = int(number)
            if index >= count:
                return None
            layout += [_Text(index), markup]
        if any(_PREFIX in piece for piece in layout if isinstance(piece, str)):
            return None  # a placeholder the template cut or changed
        return layout


def _variants(content: str) -> tuple[str, ...]:
    """What a template may have made of a message's text, most faithful first."""
    return (content, content.strip(), content.lstrip(), content.rstrip())


def split_rendering(real: str, layout: list[str | _Text] | None, contents: Sequence[str]) -> list[PromptPart]:
    """``real`` (the template's output) as markup parts and people's-text parts, verified against ``layout``
    (the placeholder rendering's pieces); see the module docstring. The parts' texts joined are ``real``."""
    if layout is None:
        return [PromptPart(real, special=False)] if real else []
    head: list[PromptPart] = []
    start, first = 0, 0
    while first < len(layout):
        found = _match_forward(real, start, layout, first, contents)
        if found is None:
            break
        part, start = found
        head.append(part)
        first += 1
    tail: list[PromptPart] = []
    end, last = len(real), len(layout) - 1
    while last >= first:
        found = _match_backward(real, end, layout, last, contents)
        if found is None or found[1] < start:
            break
        part, end = found
        tail.append(part)
        last -= 1
    if start > end:  # the two readings disagree: trust neither
        return [PromptPart(real, special=False)] if real else []
    return _merged([*head, PromptPart(real[start:end], special=False), *reversed(tail)])


def _match_forward(
    real: str, at: int, layout: list[str | _Text], i: int, contents: Sequence[str]
) -> tuple[PromptPart, int] | None:
    piece = layout[i]
    if isinstance(piece, str):
        return (PromptPart(piece, special=True), at + len(piece)) if real.startswith(piece, at) else None
    after = layout[i + 1] if i + 1 < len(layout) else ""
    assert isinstance(after, str)  # slots and markup alternate
    for text in _variants(contents[piece.index]):
        if real.startswith(text, at) and real.startswith(after, at + len(text)):
            return PromptPart(text, special=False), at + len(text)
    return None


def _match_backward(
    real: str, end: int, layout: list[str | _Text], i: int, contents: Sequence[str]
) -> tuple[PromptPart, int] | None:
    piece = layout[i]
    if isinstance(piece, str):
        begin = end - len(piece)
        return (PromptPart(piece, special=True), begin) if begin >= 0 and real.startswith(piece, begin) else None
    before = layout[i - 1] if i > 0 else ""
    assert isinstance(before, str)
    for text in _variants(contents[piece.index]):
        begin = end - len(text)
        if begin >= len(before) and real.startswith(text, begin) and real.startswith(before, begin - len(before)):
            return PromptPart(text, special=False), begin
    return None


def _merged(parts: list[PromptPart]) -> list[PromptPart]:
    """Adjacent parts of one kind joined, empty ones dropped."""
    merged: list[PromptPart] = []
    for part in parts:
        if not part.text:
            continue
        if merged and merged[-1].special == part.special:
            merged[-1] = PromptPart(merged[-1].text + part.text, special=part.special)
        else:
            merged.append(part)
    return merged
