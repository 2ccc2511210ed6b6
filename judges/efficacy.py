"""Rewrite efficacy from the judge's verdicts: did the rewriter do what RATE asked of it?

Per direction of the rewriter, counted over the examples of one W group:
  first rewrite   W=1 -> 0 over the W=1 examples, W=0 -> 1 over the W=0 examples: the rewrite is
                  judged to have the opposite W;
  second rewrite  back to W, over the examples whose rewrite was judged flipped (an unflipped rewrite
                  needs no restoring, and counting it as restored would flatter the rewriter): the
                  rewritten rewrite is judged to have W again.
`judged` counts the rewrites that exist (failed rewrites are counted as failures elsewhere); a
verdict the judge could not reach counts as not passed and is also shown as `undecided`. An example
*passed* when both its rewrites did. `agreement` compares the judge's verdicts on the originals with
the dataset's own W labels. create_dataset.py logs and records these; treatment_effects.py gates
its estimate on them; visualize.py shows them.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from utils.record import COMPLETIONS, ORIGINAL, REWRITE, REWRITTEN_REWRITE, passed, record_w, verdict

ROUNDS = (("first rewrite", REWRITE), ("second rewrite", REWRITTEN_REWRITE))


class Judged(NamedTuple):
    """What efficacy reads of the records, as columns (numpy arrays; estimation/columns.ScoredColumns
    holds the same): W per example (1, 0, -1 unknown), whether it has a judge dict, the verdict codes
    (verdict_code; -2 where the judge has no entry) of its completions, and whether its rewrite and
    rewritten rewrite exist."""

    w: object
    judged: object
    verdict: dict
    written: dict


def has_verdicts(records: list[dict]) -> bool:
    return any(isinstance(record.get("judge"), dict) for record in records)


def direction_name(group: bool, round_key: str) -> str:
    start = group if round_key == REWRITE else not group
    return f"W={int(start)}→{int(not start)}"


def verdict_code(found) -> int:
    """A judge's `w` as a small integer: 1 / 0 where it equals True / False (by equality, as
    utils.record.passed compares them, so 1 counts as True), -1 where there is none, 2 for any other value."""
    if found is None:
        return -1
    if found == True:  # noqa: E712
        return 1
    return 0 if found == False else 2  # noqa: E712


def efficacy(records: list[dict]) -> dict:
    """The efficacy rows, the both-passed counts per W group, and the judge's agreement."""
    import numpy as np  # here: create_dataset.py imports this module, and its --help needs no numpy

    w = np.array([-1 if record_w(r) is None else int(record_w(r)) for r in records], dtype=np.int8)
    judged = np.array([isinstance(r.get("judge"), dict) for r in records], dtype=bool)
    verdicts = {key: np.array([verdict_code(verdict(r, key)) for r in records], dtype=np.int8) for key in COMPLETIONS}
    listed = np.array([judged_here and ORIGINAL in r["judge"] for r, judged_here in zip(records, judged)], dtype=bool)
    written = {key: np.array([(r.get("completions") or {}).get(key) is not None for r in records], dtype=bool)
               for _, key in ROUNDS}
    return efficacy_of(Judged(w, judged, verdicts, written), listed)


def efficacy_of(columns, listed) -> dict:
    """`efficacy` from columns (a Judged, or estimation/columns.ScoredColumns), and whether the judge
    lists each example's original."""
    w, verdicts, written = columns.w, columns.verdict, columns.written
    known = columns.judged & (w >= 0)
    rows = []
    for round_name, key in ROUNDS:
        for group in (True, False):
            examples = known & (w == int(group)) & written[key]
            if key == REWRITTEN_REWRITE:
                examples &= verdicts[REWRITE] == int(not group)
            target = int(not group) if key == REWRITE else int(group)
            found = verdicts[key][examples]
            judged_n, passed_n = int(examples.sum()), int((found == target).sum())
            undecided = int((found < 0).sum())
            rows.append({"round": round_name, "direction": direction_name(group, key), "examples": f"W={int(group)}",
                         "passed": passed_n, "judged": judged_n, "undecided": undecided,
                         "share": round(passed_n / judged_n, 4) if judged_n else None})
    both = {}
    both_passed = passed(columns)
    for group in (1, 0):
        members = known & (w == group)
        if members.any():
            both[f"W={group}"] = {"passed": int((both_passed & members).sum()), "examples": int(members.sum())}
    originals = known & listed
    agreement = None
    if originals.any():
        found = verdicts[ORIGINAL][originals]
        decided = found >= 0
        agree = int((found[decided & (found < 2)] == w[originals][decided & (found < 2)]).sum())
        agreement = {"agree": agree, "judged": int(originals.sum()), "undecided": int((~decided).sum()),
                     "share": round(agree / int(originals.sum()), 4)}
    return {"rows": rows, "both_passed": both, "agreement": agreement}


def below(result: dict, threshold: float) -> list[dict]:
    """The efficacy rows whose share is under `threshold`."""
    return [row for row in result["rows"] if row["share"] is not None and row["share"] < threshold]


def row_text(row: dict) -> str:
    return (f"{row['round']} {row['direction']} (W={row['examples'][-1]} examples): {row['passed']} of "
            f"{row['judged']} ({100 * row['share']:.1f}%)" + (f", {row['undecided']} undecided" if row["undecided"] else ""))


def warning(result: dict, threshold: float, judge: str = "the judge") -> Optional[str]:
    """One line for the log, the table and the report, or None when every direction is at or above
    `threshold` and the judge agrees with the dataset's labels at least as often."""
    low = below(result, threshold)
    agreement = result.get("agreement")
    parts = []
    if low:
        parts.append(f"Rewrite efficacy is below {threshold:.0%}: " + "; ".join(row_text(row) for row in low)
                     + ". The estimates rest on rewrites that did not do what was asked; read them before "
                       "trusting any number.")
    if agreement and agreement["share"] < threshold:
        parts.append(f"The judge ({judge}) agrees with the dataset's own W on only {agreement['agree']} of "
                     f"{agreement['judged']} originals ({100 * agreement['share']:.1f}%): its verdicts are weak "
                     "evidence either way.")
    return " ".join(parts) or None


def counts(result: dict) -> dict:
    """Flat counts for a sidecar."""
    out = {}
    for row in result["rows"]:
        if row["judged"]:
            name = f"efficacy {row['round']} {row['direction']}"
            out[name] = f"{row['passed']} of {row['judged']}"
            out[f"{name} share"] = row["share"]
    for group, value in result["both_passed"].items():
        out[f"both rewrites passed, {group}"] = f"{value['passed']} of {value['examples']}"
    if result["agreement"]:
        agreement = result["agreement"]
        out["judge agreement with dataset W"] = f"{agreement['agree']} of {agreement['judged']}"
        out["judge agreement with dataset W share"] = agreement["share"]
    return out
