"""One point of a sweep with a real LLM as the rewriter, beside the simulated rewriter at the same point.

`make experiments REWRITER=local` serves SmolLM2-135M-Instruct (local_llm.serve) and, for each
experiment whose file sets `experiment.real_rewriter_value`, runs that value with seed 0 through the
four scripts, the rewriter being the model at `--rewriter-url` and the judge the file's (`auto`: the
template's rule). The simulated rewriter's point, computed here (experiments/runner.py), has the same
sample, reward model and oracle, so the two differ only in who rewrote: the table puts each
estimator's estimate and 95% CI under both beside the oracle truth, and the judge's efficacy beside
the simulated rewriter's.

A sweep whose key is an option of the simulated rewriter (the asymmetry sweep) has no such point: a
real rewriter ignores it.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import utils
from experiments import runner
from reporting.render import Column, Table, to_markdown

logger = logging.getLogger(__name__)
PHASES = ("create_dataset.py", "score_dataset.py", "treatment_effects.py", "visualize.py")
COLUMNS = ("estimator", "estimand", "simulated_truth", "simulated", "simulated_ci_low", "simulated_ci_high",
           "simulated_n", "real_truth", "real", "real_ci_low", "real_ci_high", "real_n")
# the markdown table: each rewriter's estimate and interval beside the truth of its own examples
COMPARED = ["estimator", "estimand", Column("simulated rewriter", "estimate"), Column("95% CI", "interval"),
            Column("truth", "estimate"), Column("n", "count"), Column("real rewriter", "estimate"),
            Column("95% CI", "interval"), Column("truth", "estimate"), Column("n", "count")]


def overrides_of(section: dict, value, n_examples: int) -> list[tuple[str, str]]:
    """The point's keys: the swept value, seed 0 for every seed key, and the number of examples."""
    return ([(section["sweep_key"], str(value))] + [(key, "0") for key in section["seed_keys"]]
            + [("rewrites.n_examples", str(n_examples))])


def rewriter_overrides(base_url: str, model: str) -> list[tuple[str, str]]:
    # temperature 0: the point is the rewriter's skill, not its sampling noise
    return [("rewrites.backend", "openai"), ("rewrites.base_url", base_url), ("rewrites.model", model),
            ("rewrites.temperature", "0.0")]


def compare(simulated: list[dict], real: list[dict]) -> list[dict]:
    """One row per (estimator, estimand): each rewriter's estimate and CI beside the truth of the
    examples it was estimated on (a real rewriter's failed rewrites drop examples, and with them
    the truth changes)."""
    by_key = {(r["estimator"], r["estimand"]): r for r in real}
    rows = []
    for mine in simulated:
        theirs = by_key.get((mine["estimator"], mine["estimand"]), {})
        rows.append({"estimator": mine["estimator"], "estimand": mine["estimand"],
                     "simulated_truth": mine.get("truth"), "simulated": mine["estimate"],
                     "simulated_ci_low": mine["ci_low"], "simulated_ci_high": mine["ci_high"],
                     "simulated_n": mine["n1"] + mine["n0"], "real_truth": theirs.get("truth"),
                     "real": theirs.get("estimate"), "real_ci_low": theirs.get("ci_low"),
                     "real_ci_high": theirs.get("ci_high"),
                     "real_n": theirs["n1"] + theirs["n0"] if theirs else None})
    return rows


def run(name: str, path: Path, base_url: str, model: str, n_examples: int | None) -> dict:
    """The point of one experiment under both rewriters: its rows, efficacies and the files read."""
    section = utils.load_config(path)["experiment"]
    value, n = section["real_rewriter_value"], n_examples or section["real_rewriter_n_examples"]
    point = overrides_of(section, value, n)
    run_id = f"{name}-real-rewriter-{time.strftime('%Y%m%d_%H%M%S')}-{os.getpid()}"
    logger.info("%s: %s=%s, %d examples, rewritten by %s at %s", name, section["sweep_key"], value, n, model,
                base_url)
    for script in PHASES:
        utils.run_phase(script, path, point + rewriter_overrides(base_url, model) + [("run", run_id)],
                        f"{path.name}: the real rewriter's point")
    cfg = utils.load_config(path, point)
    dataset, reward = cfg["rewrites"]["dataset_name"], cfg["scoring"]["model"]
    effects_path = utils.artifacts.latest("effects", dataset, smoke=False, model=reward, run=run_id)
    effects = utils.read_json(effects_path)
    runner.quiet()  # the simulated point's own warnings would read as the real rewriter's
    simulated = runner.run_point(cfg)
    return {"name": name, "value": value, "n": n, "model": model, "sweep_key": section["sweep_key"],
            "title": section["title"] or name, "rows": compare(simulated["rows"], effects["estimates"]),
            "efficacy": effects.get("efficacy") or {}, "simulated_efficacy": simulated["efficacy"],
            "effects": effects_path, "config": path, "examples_read": effects.get("examples_read"),
            "dropped": effects.get("dropped") or {}}


def markdown(point: dict) -> str:
    """The comparison table, then the judge's efficacy of the real rewriter's rewrites, through the
    renderer every report uses (so a model name with markup in it reads as written)."""
    efficacy = point["efficacy"]
    simulated_share = ", ".join(f"{k} {v:.2f}" for k, v in point["simulated_efficacy"].items()) or "not measured"
    blocks = [("p", f"{point['title']}: {point['sweep_key']} = {point['value']}, seed 0, {point['n']} examples; "
                    f"real rewriter {point['model']}"),
              ("table", Table(COMPARED, [[r["estimator"], r["estimand"], r["simulated"],
                                          (r["simulated_ci_low"], r["simulated_ci_high"]), r["simulated_truth"],
                                          r["simulated_n"], r["real"], (r["real_ci_low"], r["real_ci_high"]),
                                          r["real_truth"], r["real_n"]] for r in point["rows"]])),
              ("p", f"Efficacy of the real rewriter's rewrites, judged by {efficacy.get('judge', 'no judge')} "
                    f"(the simulated rewriter's share flipped by the template's rule: {simulated_share}):"),
              ("table", Table(["round", "direction", Column("passed", "count"), Column("judged", "count"),
                               Column("share", "share")],
                              [[r["round"], r["direction"], r["passed"], r["judged"], r.get("share")]
                               for r in efficacy.get("rows", [])]))]
    if efficacy.get("warning"):
        blocks.append(("warning", efficacy["warning"]))
    if point["dropped"]:
        blocks.append(("p", "Dropped before estimating: " + ", ".join(f"{k} {v}" for k, v in point["dropped"].items())))
    return to_markdown(blocks, Path("."))


def write_csv(path: Path, point: dict) -> None:
    utils.atomic_write(path, Table(["experiment", "value", *COLUMNS], [
        [point["name"], point["value"], *(row[c] for c in COLUMNS)] for row in point["rows"]]).to_csv)
