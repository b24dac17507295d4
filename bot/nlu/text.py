"""Pure text normalisation of customer messages: traditional -> simplified Chinese,
full-width ASCII -> half-width, zero-width characters removed, whitespace squeezed.

No Rasa import here, so the action server and tools can use it cheaply; the Rasa
component in :mod:`bot.nlu.normalizer` applies the same functions to messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad")
_FULLWIDTH_FIRST, _FULLWIDTH_LAST, _FULLWIDTH_OFFSET = 0xFF01, 0xFF5E, 0xFEE0
_EXTRA_FOLDS = {"\u3000": " ", "\uffe5": "\u00a5"}  # ideographic space, ￥ -> ¥

Span = tuple[int, int]


@lru_cache(maxsize=1)
def _t2s():
    """The OpenCC traditional -> simplified converter, built once on first use."""
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Converts traditional Chinese characters to simplified ones."""
    return _t2s().convert(text) if text else text


def _fold_char(ch: str) -> str:
    """Maps one full-width ASCII character (and ￥, U+3000) to its half-width form."""
    code = ord(ch)
    if _FULLWIDTH_FIRST <= code <= _FULLWIDTH_LAST:
        return chr(code - _FULLWIDTH_OFFSET)
    return _EXTRA_FOLDS.get(ch, ch)


def _fold_with_map(text: str) -> tuple[str, list[int]]:
    """Character-level pass: fold widths, drop zero-width chars, squeeze spaces.

    Returns the new text and ``pos`` with ``pos[i]`` = index in the new text
    where original index ``i`` lands (``len(pos) == len(text) + 1``).
    """
    out: list[str] = []
    pos: list[int] = []
    for ch in text:
        pos.append(len(out))
        if ch in ZERO_WIDTH:
            continue
        ch = _fold_char(ch)
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
            continue
        out.append(ch)
    pos.append(len(out))
    if out and out[-1] == " ":
        out.pop()
        pos = [min(p, len(out)) for p in pos]
    return "".join(out), pos


def normalize_text(text: str) -> str:
    """Normalises one message text (no entity spans to keep)."""
    folded, _ = _fold_with_map(text or "")
    return to_simplified(folded)


def normalize_with_spans(text: str, spans: Sequence[Span]) -> tuple[str, list[Span]]:
    """Normalises ``text`` and maps the character ``spans`` onto the result.

    Traditional -> simplified conversion is done piecewise between span
    boundaries, so a conversion that changes a length never shifts a span.
    """
    folded, pos = _fold_with_map(text or "")
    mapped: list[Span] = []
    for start, end in spans:
        new_start, new_end = pos[start], pos[end]
        while new_start < new_end and folded[new_start] == " ":
            new_start += 1
        while new_end > new_start and folded[new_end - 1] == " ":
            new_end -= 1
        mapped.append((new_start, new_end))

    cuts = sorted({0, len(folded), *(p for span in mapped for p in span)})
    pieces: list[str] = []
    new_offset: dict[int, int] = {}
    length = 0
    for left, right in zip(cuts, cuts[1:], strict=False):
        new_offset[left] = length
        piece = to_simplified(folded[left:right])
        pieces.append(piece)
        length += len(piece)
    new_offset[cuts[-1]] = length
    return "".join(pieces), [(new_offset[s], new_offset[e]) for s, e in mapped]
