"""Split review texts into sentences with a few regexes (no model, no download).

Reviews are messy: "!!!", "...", "?!", a line per thought, emoji used as full
stops and no capital letter after a break. The rules, in order:

* every newline ends a sentence;
* a run of ``. ! ? …`` (or ``;``) followed by whitespace ends a sentence, except
  after a few common abbreviations ("e.g.", "Dr.", "vs.");
* a run of emoji followed by whitespace ends a sentence (the emoji stay with it);
* a full stop glued to the next sentence ("so soft.I love it") still ends it;
* fragments of fewer than ``min_words`` words ("Love it!", "10/10") are dropped:
  they carry no aspect to detect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MIN_WORDS = 3

_EMOJI = (
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, supplemental symbols
    "\u2600-\u27bf"  # misc symbols and dingbats (☀ ✨ ❤)
    "\u2b00-\u2bff"  # arrows and stars (⭐)
    "\ufe0f\u200d"  # variation selector and zero-width joiner inside emoji sequences
)
# Only words that almost never end a sentence ("etc." and "oz." often do).
_ABBREVIATIONS = {"e.g", "i.e", "vs", "dr", "mr", "mrs", "ms", "approx"}
_BREAK = re.compile(
    rf"(?:[.!?…;]+[\"'”’)\]]*|[{_EMOJI}]+)(?=\s)"  # terminator (with closing quotes) before a space
    r"|(?<=[a-z]{2})[.!?]+(?=[A-Z])"  # "...wash it off.I received it": a missing space after a full stop
)
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def split_sentences(text: str, min_words: int = MIN_WORDS) -> list[str]:
    """The sentences of one review, whitespace-normalised, fragments dropped."""
    sentences: list[str] = []
    for line in re.split(r"[\r\n\u2028\u2029]+", text or ""):
        line = _SPACES.sub(" ", line).strip()
        if not line:
            continue
        start = 0
        for match in _BREAK.finditer(line):
            if _is_abbreviation(line, match.start(), match.group()):
                continue
            _keep(line[start : match.end()], sentences, min_words)
            start = match.end()
        _keep(line[start:], sentences, min_words)
    return sentences


def split_many(texts: Iterable[str], min_words: int = MIN_WORDS) -> list[list[str]]:
    """:func:`split_sentences` for each text."""
    return [split_sentences(t, min_words) for t in texts]


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def _keep(piece: str, out: list[str], min_words: int) -> None:
    piece = piece.strip()
    if piece and word_count(piece) >= min_words:
        out.append(piece)


def _is_abbreviation(line: str, pos: int, terminator: str) -> bool:
    """True for "e.g. " / "Dr. " style periods, which do not end a sentence."""
    if terminator != ".":
        return False
    word = re.search(r"(?<![A-Za-z.])([A-Za-z]+(?:\.[A-Za-z]+)*)$", line[:pos])
    return word is not None and word.group(1).lower() in _ABBREVIATIONS
