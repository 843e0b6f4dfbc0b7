"""Aggregate accuracy over the fixture set: keyword recall and corpus word error rate.

One clip at the edge of what Whisper base hears flips with the CPU's kernels; the set as a whole moves far
less, so the aggregate test in test_whisper.py bounds these two figures instead of single marginal clips.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from controller.tools.scoring import contains_keywords, normalize


@dataclass(frozen=True)
class Score:
    keywords_heard: int
    keywords_total: int
    word_errors: int
    reference_words: int

    @property
    def recall(self) -> float:
        return self.keywords_heard / self.keywords_total

    @property
    def wer(self) -> float:
        """Corpus WER: all word edits over all reference words. Unlike the mean of per-clip WERs, one short clip
        that Whisper pads with hallucinated words ("apartamento 202" heard as seven words: WER 3.5) cannot
        swamp the other nine."""
        return self.word_errors / self.reference_words

    def __str__(self) -> str:
        return (f"keyword recall {self.keywords_heard}/{self.keywords_total} = {self.recall:.2f}, "
                f"WER {self.word_errors}/{self.reference_words} = {self.wer:.2f}")


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words), both sides normalised as in word_error_rate()."""
    ref = normalize(reference).split()
    return Levenshtein.distance(ref, normalize(hypothesis).split()), len(ref)


def score(results: Iterable[tuple[str, tuple[str, ...], str]]) -> Score:
    """Score (reference text, keywords, transcript) triples as one set."""
    heard = total = errors = words = 0
    for reference, keywords, transcript in results:
        total += len(keywords)
        heard += len(keywords) - len(contains_keywords(transcript, keywords))
        edits, length = word_errors(reference, transcript)
        errors += edits
        words += length
    return Score(heard, total, errors, words)
