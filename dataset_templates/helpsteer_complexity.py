"""HelpSteer responses, W = complexity score 3-4 (W=0 for 0-2), the paper's OffsetBias experiment."""

from __future__ import annotations

from dataset_templates import DatasetTemplate, _helpsteer

OPTIONS = dict(_helpsteer.OPTIONS)
FIXTURE = dict(_helpsteer.FIXTURE)


def build(options: dict) -> DatasetTemplate:
    return _helpsteer.build("helpsteer_complexity", "complexity",
                            {"w=1": "more complex", "w=0": "less complex"}, options)
