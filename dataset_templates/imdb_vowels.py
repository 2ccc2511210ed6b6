"""The paper's synthetic experiment: IMDB reviews, W = the review starts with a vowel, and typos are
injected into the vowel-initial reviews only, so that W is confounded with typos on purpose.

W reads the first letter of the review (leading quotes, digits and spaces skipped; A, E, I, O, U).
In every W=1 review, `typo_percent` % of the words longer than 2 letters get two adjacent letters
swapped (never a word's first letter, so the typos cannot change W); which words and which letters is
seeded by `typo_seed` and the review's row index, so the corpus is the same on every run. The paper
swept 0-30 % (`typo_percent`, 30 by default as in the original code); W=0 reviews are left as they
are. `w0_string` is the original's "doesn't start with a vowel" unless configured. Rows keep the clean review in `clean_text` and the
number of typos in `n_typos`.
"""

from __future__ import annotations

import random
import re
from typing import Optional

from dataset_templates import DatasetTemplate, _imdb, _sources
from utils.schema import Range

# The original's defaults: 30 % typos, and "doesn't start with a vowel" for W = 0.
OPTIONS = {**_imdb.OPTIONS, "typo_percent": 30.0, "typo_seed": 0, "w0_string": "doesn't start with a vowel"}
CHECKS = {"typo_percent": Range(0, 100)}
FIXTURE = dict(_imdb.FIXTURE)
VOWELS = set("aeiouAEIOU")
LETTERS = re.compile(r"[A-Za-z]+")


def starts_with_vowel(text: str) -> Optional[bool]:
    first = LETTERS.search(text)
    return first.group(0)[0] in VOWELS if first else None


def swap_adjacent(word: str, rng: random.Random) -> Optional[str]:
    """The word with one pair of adjacent, different letters swapped, the first letter kept; None
    when no such pair exists (e.g. 'too')."""
    positions = [i for i in range(1, len(word) - 1) if word[i] != word[i + 1]]
    if not positions:
        return None
    i = rng.choice(positions)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def inject_typos(text: str, percent: float, rng: random.Random) -> tuple[str, int]:
    """Swap letters in round(percent % of the words longer than 2 letters); returns (text, typos made)."""
    words = [m for m in LETTERS.finditer(text) if len(m.group(0)) > 2]
    chosen = sorted(rng.sample(range(len(words)), round(len(words) * percent / 100)))
    pieces, last, made = [], 0, 0
    for k in chosen:
        match = words[k]
        swapped = swap_adjacent(match.group(0), rng)
        if swapped is None:
            continue
        pieces += [text[last:match.start()], swapped]
        last, made = match.end(), made + 1
    return "".join(pieces) + text[last:], made


def build(options: dict) -> DatasetTemplate:
    percent, seed = options["typo_percent"], options["typo_seed"]

    def load_rows() -> list[dict]:
        rows = []
        for row in _imdb.rows(options, "imdb_vowels"):
            text, typos = row["text"], 0
            if starts_with_vowel(text):
                # One generator per review: its typos do not depend on which other reviews were read.
                text, typos = inject_typos(text, percent, random.Random(f"{seed}:{row['id']}"))
            rows.append({**row, "text": text, "clean_text": row["text"], "n_typos": typos})
        return rows

    return DatasetTemplate(
        name="imdb_vowels",
        description=f"IMDB train reviews; W = starts with a vowel; {percent:g} % typos in W=1 reviews only.",
        load_rows=load_rows,
        n_examples=2500,
        w_strings={"w=1": "starts with a vowel", "w=0": options["w0_string"]},
        w_classifier=lambda row: starts_with_vowel(row["text"]),
        get_reward_question=lambda row: _imdb.REWARD_QUESTION,
        get_original_completion=lambda row: row["text"],
        get_id=lambda row, index: row["id"],
        rewrite_prompt=_imdb.ORIGINAL_VOWELS_PROMPT if options["original_prompt"] else _imdb.rewrite_prompt("so that it {w_counterfactual_string}"),
        backend="openai_batch",
        classify_text=starts_with_vowel,
        extra={"source": _sources.describe(options), "typo_percent": percent, "typo_seed": seed},
    )
