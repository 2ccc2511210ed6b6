"""Anthropic HH-RLHF dialogues, shared by the hh_rlhf_* templates.

Each HH-RLHF row holds two whole dialogues, `chosen` and `rejected`, written as
"\\n\\nHuman: ...\\n\\nAssistant: ...", usually identical up to the last assistant turn. A template
turns a row into one example per side it uses: a row dict with its own `id`
("hh-<row index>-<side>"), the row's position `hh_index`, the `side` and the `dialogue` text, so the
two examples of one row never collide and stay traceable to the row.

The combined `Anthropic/hh-rlhf` train split lists harmless-base first and the helpful subsets last,
which is why the harmlessness experiment takes the first rows and the helpfulness ones the last.
"""

from __future__ import annotations

from typing import Optional

from dataset_templates import _sources

HUMAN, ASSISTANT = "\n\nHuman:", "\n\nAssistant:"
FIELDS = ("chosen", "rejected")
OPTIONS = {**_sources.source_options("Anthropic/hh-rlhf"), "original_prompt": False}
FIXTURE = {"local_path": "hh_rlhf.jsonl"}

# The original code's own rewrite prompts (`original_prompt: true` restores them; the opening "[" is
# never closed in the original).
ORIGINAL_PROMPT = "{original_completion}\n\n[Adjust this response so it's {w_counterfactual_string}, but change *nothing* else."
ORIGINAL_HELPFULNESS_PROMPT = (
    "{original_completion}\n\nAdjust this response so it's {w_counterfactual_string} than the current response, but "
    'change *nothing* else. By "helpful", I mean informative, relevant and clear.')

# The prompt of the templates whose W is a quality of the reply (helpful, harmful).
REWRITE_PROMPT = (
    "{original_completion}\n\nPlease adjust this response so it's {w_counterfactual_string}, but change *nothing* "
    "else. Only provide the response text, not an acknowledgement of the request, the dialogue or any other context."
)


# The original code's split rules, kept as its defaults: it splits on the speaker tags with their
# trailing space ("Human: ", "Assistant: ") rather than on the "\n\nHuman:" that starts a turn.
ORIGINAL_HUMAN, ORIGINAL_ASSISTANT = "Human: ", "Assistant: "


def original_first_exchange(dialogue: str) -> tuple[str, str]:
    """The original's (question, response) of the harmlessness and sentiment experiments: the text
    between the first "Human: " and the first "Assistant: ", and the text after that "Assistant: " up
    to its piece's last "Human:", both stripped; ("", "") when a tag is missing."""
    if ORIGINAL_HUMAN not in dialogue or ORIGINAL_ASSISTANT not in dialogue:
        return "", ""
    question = dialogue.split(ORIGINAL_HUMAN)[1].split(ORIGINAL_ASSISTANT)[0].strip()
    response = dialogue.split(ORIGINAL_ASSISTANT)[1].rsplit("Human:", 1)[0].strip()
    return question, response


def original_last_turn(dialogue: str) -> tuple[str, str]:
    """The original's (question, response) of the helpfulness experiment: the dialogue before the
    last "Assistant: ", stripped and ended with " Assistant: " (what the reward model was shown), and
    the last assistant turn. A dialogue whose last assistant turn is empty has no response (the
    original took the turn before it, or failed when there was none)."""
    if ORIGINAL_ASSISTANT not in dialogue or not last_turn(dialogue)[1]:
        return dialogue.strip(), ""
    before, response = dialogue.rsplit(ORIGINAL_ASSISTANT, 1)
    return before.strip() + " " + ORIGINAL_ASSISTANT, response.strip()


def last_turn(dialogue: str) -> tuple[str, str]:
    """(the dialogue before the last assistant turn, the last assistant turn)."""
    cut = dialogue.rfind(ASSISTANT)
    if cut < 0:
        return dialogue.strip(), ""
    return dialogue[:cut].strip(), dialogue[cut + len(ASSISTANT):].strip()


def first_exchange(dialogue: str) -> tuple[str, str]:
    """(the first human turn, the first assistant turn), without their speaker tags."""
    start = dialogue.find(HUMAN)
    body = dialogue[start + len(HUMAN):] if start >= 0 else dialogue
    cut = body.find(ASSISTANT)
    if cut < 0:
        return body.strip(), ""
    question, answer = body[:cut], body[cut + len(ASSISTANT):]
    end = answer.find(HUMAN)
    return question.strip(), (answer if end < 0 else answer[:end]).strip()


def examples(options: dict, template: str, sides: tuple[str, ...], start: Optional[int],
             stop: Optional[int]) -> list[dict]:
    """One row dict per (HH row in `[start:stop]`, side in `sides`)."""
    out = []
    for index, row in _sources.read_rows(options, template, FIELDS, start, stop):
        for side in sides:
            out.append({"id": f"hh-{index}-{side}", "hh_index": index, "side": side, "dialogue": row[side]})
    return out
