"""HelpSteer responses, W = helpfulness score 3-4 (W=0 for 0-2), the paper's FsfairX experiment."""

from __future__ import annotations

from dataset_templates import DatasetTemplate, _helpsteer

OPTIONS = dict(_helpsteer.OPTIONS)
FIXTURE = dict(_helpsteer.FIXTURE)


def build(options: dict) -> DatasetTemplate:
    return _helpsteer.build("helpsteer_helpfulness", "helpfulness",
                            {"w=1": "polite and helpful", "w=0": "curt and unhelpful"}, options)
