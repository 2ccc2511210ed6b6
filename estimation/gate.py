"""Rewrite efficacy as a gate on the estimate (treatment_effects.py).

The judge's verdicts travel with every record from create_dataset.py (record["judge"]). Here they
become the effects file's `efficacy` block: per direction and round of the rewriter the share of
rewrites that did what was asked (judges/efficacy.py), the judge's agreement with the dataset's W on
the originals, the threshold (`effects.min_efficacy`, 0.8) and, when a share or the agreement is
below it, a warning that the table, the report and the forest plot carry as a headline.
`effects.low_efficacy: refuse` stops instead (exit 2, one line), also when efficacy was not measured.
`effects.passed_judge_only: true` keeps only the examples whose rewrite and rewritten rewrite both
passed the judge: the estimate is then conditional on that selection, and says so everywhere.
"""

from __future__ import annotations

from estimation.columns import ensure
from estimation.inputs import rewrites_meta
from judges import efficacy as judge_efficacy
import utils

NOT_MEASURED = ("Rewrite efficacy was not measured: the records carry no verdicts of the attribute judge "
                "(judge.method none, or a file made before judging). Nothing shows that the rewrites flipped W.")
SELECTION = ("conditional on the selection: only examples whose rewrite and rewritten rewrite both passed the "
             "attribute judge (effects.passed_judge_only)")
LABEL = " (passed judge only)"


def assess(records, section: dict, judge: str) -> dict:
    """The `efficacy` block of an effects file, from the columns of a scored file (or its records)."""
    threshold = section["min_efficacy"]
    columns = ensure(records, (utils.record.ORIGINAL,))
    if not columns.has_verdicts():
        return {"measured": False, "threshold": threshold, "warning": NOT_MEASURED, "rows": [], "agreement": None}
    result = columns.efficacy()
    return {"measured": True, "judge": judge, "threshold": threshold, **result,
            "below": [judge_efficacy.row_text(row) for row in judge_efficacy.below(result, threshold)],
            "warning": judge_efficacy.warning(result, threshold, judge)}


def summary_line(assessment: dict) -> str:
    """One line on what the judge found, printed above the effects table whatever it found."""
    if not assessment["measured"]:
        return "rewrite efficacy: not measured (no judge verdicts)"
    shares = ", ".join(f"{row['round']} {row['direction']} {100 * row['share']:.1f}%"
                       for row in assessment["rows"] if row["share"] is not None)
    agreement = assessment.get("agreement")
    agree = f"; agreement with the dataset's W {100 * agreement['share']:.1f}%" if agreement else ""
    return f"rewrite efficacy ({assessment['judge']}): {shares or 'no rewrite judged'}{agree}"


def check(assessment: dict, section: dict, cfg, source) -> None:
    """`effects.low_efficacy: refuse`: one line and exit 2 when efficacy is low or unknown."""
    if section["low_efficacy"] != "refuse":
        return
    where = cfg.source("effects.low_efficacy")
    if not assessment["measured"]:
        raise utils.RateError(f"{where}: effects.low_efficacy refuse: {source}: rewrite efficacy was not measured "
                              "(no judge verdicts); set judge.method, or effects.low_efficacy: warn")
    if assessment.get("below"):
        raise utils.RateError(f"{where}: effects.low_efficacy refuse: {source}: {assessment['below'][0]}, below "
                              f"effects.min_efficacy {assessment['threshold']:g}" +
                              (f" (and {len(assessment['below']) - 1} more)" if len(assessment["below"]) > 1 else ""))


def selection_counts(records) -> dict:
    """Examples kept and dropped by effects.passed_judge_only, per W group (before other drops)."""
    columns = ensure(records, (utils.record.ORIGINAL,))
    passed = columns.passed()
    counts: dict = {}
    for group in (1, 0):
        members = columns.w == group
        if members.any():
            counts[f"W={group}"] = {"kept": int((passed & members).sum()), "dropped": int((~passed & members).sum())}
    return counts


def judge_name(path) -> str:
    """How the judge of a scored file's rewrites is named in warnings, from the rewrites' sidecar."""
    meta = rewrites_meta(path) or {}
    judge = (meta.get("templates") or {}).get("judge") or {}
    if judge.get("method") == "llm":
        return f"LLM judge {judge.get('model')}"
    if judge.get("method") == "rule":
        return f"the {judge.get('template', 'template')} rule"
    return "the judge"
