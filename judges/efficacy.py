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

from typing import Optional

from utils import record_w

ROUNDS = (("first rewrite", "rewrite"), ("second rewrite", "rewritten rewrite"))


def verdict(record: dict, key: str) -> Optional[bool]:
    return ((record.get("judge") or {}).get(key) or {}).get("w")


def has_verdicts(records: list[dict]) -> bool:
    return any(isinstance(record.get("judge"), dict) for record in records)


def passed(record: dict) -> Optional[bool]:
    """Whether both rewrites passed the judge (None: the record has no verdicts or no W)."""
    w = record_w(record)
    if w is None or not isinstance(record.get("judge"), dict):
        return None
    return verdict(record, "rewrite") == (not w) and verdict(record, "rewritten rewrite") == w


def direction_name(group: bool, round_key: str) -> str:
    start = group if round_key == "rewrite" else not group
    return f"W={int(start)}→{int(not start)}"


def efficacy(records: list[dict]) -> dict:
    """The efficacy rows, the both-passed counts per W group, and the judge's agreement."""
    rows = []
    for round_name, key in ROUNDS:
        for group in (True, False):
            judged = passed_n = undecided = 0
            for record in records:
                if record_w(record) is not group or not isinstance(record.get("judge"), dict):
                    continue
                completions = record.get("completions") or {}
                if completions.get(key) is None:
                    continue
                if key == "rewritten rewrite" and verdict(record, "rewrite") != (not group):
                    continue
                target = (not group) if key == "rewrite" else group
                found = verdict(record, key)
                judged += 1
                undecided += found is None
                passed_n += found == target
            rows.append({"round": round_name, "direction": direction_name(group, key), "examples": f"W={int(group)}",
                         "passed": passed_n, "judged": judged, "undecided": undecided,
                         "share": round(passed_n / judged, 4) if judged else None})
    both = {}
    for group in (True, False):
        members = [r for r in records if record_w(r) is group and isinstance(r.get("judge"), dict)]
        if members:
            both[f"W={int(group)}"] = {"passed": sum(bool(passed(r)) for r in members), "examples": len(members)}
    originals = [(r, verdict(r, "original")) for r in records
                 if record_w(r) is not None and "original" in (r.get("judge") or {})]
    agreement = None
    if originals:
        decided = [(r, v) for r, v in originals if v is not None]
        agree = sum(v == record_w(r) for r, v in decided)
        agreement = {"agree": agree, "judged": len(originals), "undecided": len(originals) - len(decided),
                     "share": round(agree / len(originals), 4)}
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
