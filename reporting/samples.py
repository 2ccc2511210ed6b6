"""Sample rewrites for a reader: k examples drawn with a seed, each original with its rewrite, its
rewritten rewrite and their rewards, as report blocks (markdown, HTML) and as LaTeX for a paper.

Long texts are cut (with an ellipsis) and every character LaTeX treats as markup is escaped.
"""

from __future__ import annotations

import random

from reporting.render import Column, Table, latex_escape
import utils
from utils.record import COMPLETIONS


def cut(text: str, limit: int) -> tuple[str, bool]:
    """At most `limit` characters, cut at a word boundary when one is near; says whether it cut."""
    text = str(text).strip()
    if limit <= 0 or len(text) <= limit:
        return text, False
    head = text[:limit]
    space = head.rfind(" ")
    if space > limit * 0.8:
        head = head[:space]
    return head.rstrip(), True


def draw_samples(records: list[dict], reward_key: str, k: int, seed: int,
                 keys: dict[str, str] | None = None) -> list[dict]:
    """k examples with all three texts, drawn with `seed`, alternating W=1 and W=0 so that a reader
    sees the rewriter work in both directions. `keys` maps each of COMPLETIONS to the record's key
    for it, where a config renamed them."""
    keys = keys or {name: name for name in COMPLETIONS}
    groups: dict[bool, list[dict]] = {True: [], False: []}
    for record in records:
        texts = record.get("completions") or {}
        if utils.record_w(record) is not None and all(isinstance(texts.get(keys[c]), str) for c in COMPLETIONS):
            groups[utils.record_w(record)].append(record)
    rng = random.Random(seed)
    for group in groups.values():
        rng.shuffle(group)
    picked = [group[i] for i in range(max(map(len, groups.values()))) for group in groups.values() if i < len(group)]
    samples = []
    for record in picked[:max(k, 0)]:
        rewards = record.get(reward_key) or {}
        samples.append({"id": str(record.get("id", "")), "w": utils.record_w(record),
                        "question": record.get("reward_question") or "",
                        "texts": [(c, record["completions"][keys[c]], rewards.get(keys[c])) for c in COMPLETIONS]})
    return samples


def sample_blocks(samples: list[dict], max_chars: int) -> list[tuple]:
    blocks: list[tuple] = []
    for sample in samples:
        blocks.append(("h3", f"{sample['id']} (W = {int(sample['w'])})"))
        rows = []
        if sample["question"]:
            question, was_cut = cut(sample["question"], max_chars)
            rows.append(("question", None, question + ("…" if was_cut else "")))
        for name, text, reward in sample["texts"]:
            shown, was_cut = cut(text, max_chars)
            rows.append((name, reward, shown + ("…" if was_cut else "")))
        blocks.append(("table", Table(["", Column("reward", "estimate", digits=3, nan="+nan"), "text"], rows)))
    return blocks


def samples_latex(samples: list[dict], max_chars: int, reward: str, seed: int) -> str:
    """One small table per example; needs no LaTeX package. The text column takes what the label and
    the reward (at most 3.5em) leave of \\linewidth, so a table fits one column of a two-column paper."""
    lines = [f"% {len(samples)} sample rewrites drawn by visualize.py with seed {seed}; rewards from "
             f"{latex_escape(reward)}. Texts longer than {max_chars} characters are cut.", ""]
    for sample in samples:
        lines += [r"\noindent", r"\begin{tabular}{@{}p{0.2\linewidth}p{\dimexpr0.8\linewidth-4\tabcolsep-3.5em\relax}r@{}}", r"\hline",
                  rf"\multicolumn{{3}}{{@{{}}l}}{{\textbf{{{latex_escape(sample['id'])}}} ($W={int(sample['w'])}$)}} \\",
                  r"\hline"]
        entries = [("question", sample["question"], None)] if sample["question"] else []
        for name, text, value in entries + sample["texts"]:
            shown, was_cut = cut(text, max_chars)
            body = latex_escape(shown) + (r"\ldots{}" if was_cut else "")
            score = f"${value:.3f}$" if isinstance(value, (int, float)) else ""
            lines.append(rf"{latex_escape(name)} & {body} & {score} \\")
        lines += [r"\hline", r"\end{tabular}", r"\medskip", ""]
    return "\n".join(lines)
