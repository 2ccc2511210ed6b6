"""Synthetic movie reviews with sentiment as W: the offline default, with a known ground truth.

Every review is assembled from this file's phrase banks: 1-3 *aspect* sentences carry the sentiment
(W=1 all positive, W=0 all negative) and 2-6 neutral *filler* sentences carry nothing a sentiment
reader would notice. Two off-target features are tied to W on purpose, so that comparing groups is
confounded:
  - length: positive reviews tend to have more filler sentences;
  - typos: negative reviews more often have misspelled filler words (two adjacent letters swapped).

Because the template assembles each review, it knows the *oracle counterfactual*: the same review with
every aspect sentence swapped for its opposite-sentiment twin and nothing else touched. Scoring it gives
the true effect of W on the reward, example by example.

It also defines how the `simulated` rewriter edits this corpus, imitating an LLM: it swaps the aspect
sentences as asked and, off target, fixes every typo (always) and rewords each filler sentence
between its short and long phrasing with probability `rewriter_reword_prob` (a change of length that
is equally likely in both directions). `rewriter_marker_words_towards_positive: k` makes it an
asymmetric rewriter (the asymmetry sweep of make experiments): rewriting towards positive leaves k
sentences "Then." at the end, towards negative none, each rewrite replacing the last one's.
"""

from __future__ import annotations

import random
import re
from typing import Optional

from dataset_templates import DatasetTemplate
from utils.schema import AT_LEAST_0, AT_LEAST_1, UNIT

OPTIONS = {
    "corpus_size": 5000,
    "corpus_seed": 1234,
    "p_positive": 0.5,
    "p_long_given_positive": 0.75,
    "p_long_given_negative": 0.25,
    "p_typos_given_positive": 0.2,
    "p_typos_given_negative": 0.7,
    "max_typos": 3,
    "rewriter_fixes_typos": True,
    "rewriter_reword_prob": 0.3,
    # An asymmetric rewriter (make experiments): rewriting towards positive leaves this many one-word
    # sentences "Then." at the end, towards negative none; each rewrite replaces the last one's.
    "rewriter_marker_words_towards_positive": 0,
}
CHECKS = {"corpus_size": AT_LEAST_1, "max_typos": AT_LEAST_0, "rewriter_marker_words_towards_positive": AT_LEAST_0,
          **{key: UNIT for key in OPTIONS if key.startswith("p_") or key.endswith("_prob")}}

# (positive, negative) twins: the same aspect, opposite sentiment.
ASPECTS = [
    ("The acting was wonderful.", "The acting was dreadful."),
    ("The story was fascinating.", "The story was dull."),
    ("The soundtrack was beautiful.", "The soundtrack was irritating."),
    ("The dialogue was clever and funny.", "The dialogue was clumsy and stupid."),
    ("I loved the ending.", "I hated the ending."),
    ("The visuals were stunning.", "The visuals were ugly."),
    ("The pacing was excellent.", "The pacing was awful."),
    ("The characters were charming.", "The characters were boring."),
    ("The humor was delightful.", "The humor was pathetic."),
    ("The lead performance was brilliant.", "The lead performance was terrible."),
    ("The script was smart.", "The script was dumb."),
    ("The photography was gorgeous.", "The photography was horrible."),
]

# (short, long) phrasings of one neutral fact. tests/test_synthetic_sentiment.py checks that no word
# here, nor any typo the template can make of it, means anything to VADER, and that every word is
# spelled right, so that typos and fillers move the demo reward only through its documented terms.
FILLERS = [
    ("I watched it on a Sunday.", "I watched it on a Sunday afternoon with my brother."),
    ("The length is typical.", "The length is typical for a feature of this genre."),
    ("It opened in the spring.", "It opened in cinemas during the spring season."),
    ("The director is new.", "The director had made four features before this one."),
    ("It was shot by the coast.", "Many scenes were shot in a small town by the coast."),
    ("The cast includes several actors.", "The cast includes several actors known for television series."),
    ("I saw it downtown.", "I saw it at the cinema near the central station."),
    ("It follows a family.", "The plot follows a family moving to a new city."),
    ("It is based on a book.", "The script was adapted after a book published years ago."),
    ("A colleague mentioned it.", "A colleague at work mentioned it last month."),
    ("It has subtitles.", "The version I watched has subtitles in four languages."),
    ("The poster shows a bridge.", "The poster shows a bridge at night over a river."),
]

# A word neither VADER nor the spelling check reacts to: with `length_weight` it moves the demo reward
# by that weight per copy and nothing else.
MARKER = "Then."
ASPECT_SIDE = {sentence: (i, side == 0) for i, pair in enumerate(ASPECTS) for side, sentence in enumerate(pair)}
FILLER_SIDE = {sentence: (i, side) for i, pair in enumerate(FILLERS) for side, sentence in enumerate(pair)}
VOCABULARY = {word.lower() for pair in ASPECTS + FILLERS for text in pair for word in re.findall(r"[A-Za-z]+", text)}

REWRITE_PROMPT = (
    "{original_completion}\n\nPlease adjust this movie review so it has {w_counterfactual_string}, but change "
    "*nothing* else. Only provide the review text, not an acknowledgement of the request or any other context."
)


def split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=\.)\s+", text.strip()) if s]


def typo_variants(word: str) -> list[str]:
    """Words made by swapping two adjacent interior letters (first and last letters stay)."""
    variants = []
    for i in range(1, len(word) - 2):
        swapped = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        if swapped != word:
            variants.append(swapped)
    return variants


def add_typos(sentences: list[str], count: int, rng: random.Random) -> tuple[list[str], int]:
    """Misspell `count` distinct words (fewer if too few qualify) across `sentences`."""
    words = [sentence.split(" ") for sentence in sentences]
    eligible = [(s, i) for s, ws in enumerate(words) for i, w in enumerate(ws) if typo_variants(w.rstrip("."))]
    chosen = rng.sample(eligible, min(count, len(eligible)))
    for s, i in chosen:
        bare = words[s][i].rstrip(".")
        words[s][i] = rng.choice(typo_variants(bare)) + words[s][i][len(bare):]
    return [" ".join(ws) for ws in words], len(chosen)


def fix_typos(text: str) -> str:
    """Undo adjacent-letter swaps, as a careful copy-editor (or an LLM) would."""

    def fix(match: re.Match) -> str:
        word = match.group(0)
        if word.lower() in VOCABULARY:
            return word
        for candidate in typo_variants(word):
            if candidate.lower() in VOCABULARY:
                return candidate
        return word

    return re.sub(r"[A-Za-z]+", fix, text)


def reword_fillers(sentences: list[str], probability: float, rng: random.Random) -> list[str]:
    """Each filler sentence switched to its other phrasing (short <-> long) with `probability`, one
    draw per filler: the simulated rewriters' off-target change of length."""
    out = []
    for sentence in sentences:
        if sentence in FILLER_SIDE and rng.random() < probability:
            pair, side = FILLER_SIDE[sentence]
            sentence = FILLERS[pair][1 - side]
        out.append(sentence)
    return out


def _markers(side: int) -> set[str]:
    """The words that tell an aspect sentence of this side from its twin ("wonderful", "hated")."""
    words = set()
    for pair in ASPECTS:
        mine, twin = (set(re.findall(r"[a-z]+", pair[i].lower())) for i in (side, 1 - side))
        words |= mine - twin
    return words


POSITIVE_WORDS, NEGATIVE_WORDS = _markers(0), _markers(1)


def classify_text(text: str) -> Optional[bool]:
    """W judged from the text: True if it holds sentiment words of the positive aspect sentences and
    none of the negative ones ("wonderful", "loved"...), False for the reverse, None for both or
    neither. Reading words, not whole sentences, the rule also judges an LLM's rewording of them."""
    found = set(re.findall(r"[a-z]+", text.lower()))
    positive, negative = bool(found & POSITIVE_WORDS), bool(found & NEGATIVE_WORDS)
    return positive if positive != negative else None


def oracle_counterfactual(text: str, target_w: bool) -> str:
    """The same review with every aspect sentence set to the sentiment `target_w`; fillers, typos and
    order untouched."""
    out = []
    for sentence in split_sentences(text):
        if sentence in ASPECT_SIDE:
            sentence = ASPECTS[ASPECT_SIDE[sentence][0]][0 if target_w else 1]
        out.append(sentence)
    return " ".join(out)


def _generate(options: dict) -> list[dict]:
    rng = random.Random(options["corpus_seed"])
    rows = []
    for index in range(options["corpus_size"]):
        positive = rng.random() < options["p_positive"]
        p_long = options["p_long_given_positive" if positive else "p_long_given_negative"]
        n_aspects = 1 + sum(rng.random() < (0.6 if positive else 0.4) for _ in range(2))
        n_fillers = 2 + sum(rng.random() < p_long for _ in range(4))
        aspects = [pair[0 if positive else 1] for pair in rng.sample(ASPECTS, n_aspects)]
        fillers = [rng.choice(pair) for pair in rng.sample(FILLERS, n_fillers)]
        n_typos = 0
        if rng.random() < options["p_typos_given_positive" if positive else "p_typos_given_negative"]:
            fillers, n_typos = add_typos(fillers, rng.randint(1, options["max_typos"]), rng)
        sentences = aspects + fillers
        rng.shuffle(sentences)
        rows.append({"id": f"review-{index}", "text": " ".join(sentences), "label": int(positive), "n_typos": n_typos})
    return rows


# The prompt of the other generated-review templates, whose w strings read "so it is longer", "so it
# is hedged" (sentiment's read "so it has positive sentiment").
IS_REWRITE_PROMPT = REWRITE_PROMPT.replace("so it has", "so it is")


def review_template(name: str, description: str, load_rows, w_strings: dict, w_field: str, classify,
                    oracle, simulate, prompt: str = IS_REWRITE_PROMPT) -> DatasetTemplate:
    """A template over reviews this module's phrase banks make: the reward question, ids, texts, the
    simulated rewriter and n_examples are the same for all of them; W, its rule and its oracle differ."""
    return DatasetTemplate(
        name=name,
        description=description,
        load_rows=load_rows,
        n_examples=2000,
        w_strings=w_strings,
        w_classifier=lambda row: bool(row[w_field]),
        get_reward_question=lambda row: "Write a movie review: ",
        get_original_completion=lambda row: row["text"],
        get_id=lambda row, index: row["id"],
        rewrite_prompt=prompt,
        backend="simulated",
        model="simulated",
        temperature=0.0,
        classify_text=classify,
        oracle_counterfactual=oracle,
        simulate_rewrite=simulate,
    )


def set_and_reword(set_w, reword_prob: float):
    """The simulated rewriter of a template whose `set_w(text, w, pick)` makes W: W set with fillers of
    its own choosing, then each filler reworded off target with `reword_prob`."""
    def simulate_rewrite(text: str, target_w: bool, rng: random.Random) -> str:
        return " ".join(reword_fillers(split_sentences(set_w(text, target_w, rng.choice)), reword_prob, rng))

    return simulate_rewrite


def build(options: dict) -> DatasetTemplate:
    reword_prob = options["rewriter_reword_prob"]
    fixes_typos = options["rewriter_fixes_typos"]

    markers = options["rewriter_marker_words_towards_positive"]

    def simulate_rewrite(text: str, target_w: bool, rng: random.Random) -> str:
        rewritten = oracle_counterfactual(text, target_w)
        if fixes_typos:
            rewritten = fix_typos(rewritten)
        # a marker is the last rewrite's style, which this one replaces
        kept = [sentence for sentence in split_sentences(rewritten) if sentence != MARKER]
        return " ".join(reword_fillers(kept, reword_prob, rng) + [MARKER] * (markers if target_w else 0))

    return review_template("synthetic_sentiment", "Offline synthetic movie reviews; W = positive sentiment; length "
                           "and typos confounded with W.", lambda: _generate(options),
                           {"w=1": "positive sentiment", "w=0": "negative sentiment"}, "label", classify_text,
                           oracle_counterfactual, simulate_rewrite, prompt=REWRITE_PROMPT)
