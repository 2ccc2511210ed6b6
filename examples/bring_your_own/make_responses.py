"""Writes responses.jsonl beside this file: 200 answers to 20 everyday questions (10 per question), half
of them a bulleted list and half the same advice in prose, each labelled `has_list`. It is the example
file of docs/bring-your-own.md; the same seed gives the same file.

    python examples/bring_your_own/make_responses.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

TIPS = {
    "How do I keep a houseplant alive?": ["water it only when the top of the soil is dry", "give it bright, indirect light",
                                          "use a pot with a drainage hole", "wipe dust off the leaves now and then"],
    "How can I sleep better?": ["go to bed at the same time every night", "keep the bedroom cool and dark",
                                "avoid caffeine after lunch", "put your phone away an hour before bed"],
    "How do I start running?": ["begin with short walk-run intervals", "buy shoes that fit well",
                                "run slowly enough to hold a conversation", "rest a day between runs"],
    "How should I prepare for a job interview?": ["read about the company", "practise answers to common questions",
                                                  "prepare two questions of your own", "plan your route the day before"],
    "How do I save money on groceries?": ["plan meals for the week", "shop with a list", "buy store brands",
                                          "cook larger batches and freeze portions"],
    "How can I learn a new language?": ["practise a little every day", "learn the most common words first",
                                        "listen to native speakers", "speak early, even with mistakes"],
    "How do I make good coffee at home?": ["use freshly ground beans", "weigh the coffee and the water",
                                           "keep the water just below boiling", "clean the equipment often"],
    "How can I focus while working from home?": ["keep a separate place to work", "set fixed working hours",
                                                 "turn off notifications", "take short breaks away from the screen"],
    "How do I write a clear email?": ["put the request in the first line", "keep paragraphs short",
                                      "use a specific subject line", "read it once before sending"],
    "How do I care for a cast-iron pan?": ["dry it right after washing", "rub in a thin layer of oil",
                                           "avoid soaking it", "heat it slowly"],
    "How can I reduce stress?": ["take a short walk each day", "write down what worries you", "breathe slowly for a minute",
                                 "talk to someone you trust"],
    "How do I pack for a weekend trip?": ["check the weather first", "choose clothes that mix and match",
                                          "pack toiletries in small bottles", "keep documents in one pocket"],
    "How can I keep my inbox under control?": ["answer quick emails at once", "unsubscribe from newsletters you skip",
                                               "use a few folders, not many", "check mail at set times"],
    "How do I help a child read more?": ["read aloud together", "let them choose the books", "visit the library often",
                                         "keep books within reach at home"],
    "How can I make my bike last longer?": ["keep the chain clean and oiled", "check the tyre pressure weekly",
                                            "store it out of the rain", "have the brakes checked each year"],
    "How do I give useful feedback?": ["be specific about what you saw", "describe the effect it had",
                                       "suggest one next step", "give it soon after the event"],
    "How can I eat more vegetables?": ["add a vegetable to every meal", "keep cut vegetables in the fridge",
                                       "try roasting them", "fill half the plate with them"],
    "How do I back up my photos?": ["keep a copy on an external drive", "use a cloud service as a second copy",
                                    "back up on a fixed day each month", "test that a restore works"],
    "How can I be on time more often?": ["leave ten minutes earlier than you think", "set an alarm for leaving",
                                         "prepare the night before", "count travel time honestly"],
    "How do I make a small room feel bigger?": ["use light colours on the walls", "hang a large mirror",
                                                "choose furniture with legs", "clear the floor of clutter"],
}
OPENINGS = ["Here are a few things that help.", "A few habits make the biggest difference.",
            "Good question: it comes down to a few steps.", "Most people find these steps work."]
LINKS = ["First, {}.", "Also, {}.", "It helps to {}.", "Finally, {}."]


def response(tips: list[str], as_list: bool, rng: random.Random) -> str:
    chosen = rng.sample(tips, rng.randint(3, 4))
    opening = rng.choice(OPENINGS)
    if as_list:
        return opening + "\n\n" + "\n".join(f"- {tip[0].upper()}{tip[1:]}." for tip in chosen)
    return opening + " " + " ".join(link.format(tip) for link, tip in zip(LINKS[:len(chosen) - 1] + LINKS[-1:], chosen))


def main() -> None:
    rng = random.Random(2410)
    rows = []
    for number, (question, tips) in enumerate(TIPS.items()):
        for k in range(10):
            as_list = k % 2 == 0
            rows.append({"id": f"q{number:02d}-{k}", "prompt": question, "response": response(tips, as_list, rng),
                         "has_list": as_list, "question_id": f"q{number:02d}"})
    path = Path(__file__).with_name("responses.jsonl")
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    print(f"{path}: {len(rows)} responses")


if __name__ == "__main__":
    main()
