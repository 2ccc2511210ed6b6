"""`make audit`: many attributes x many reward models in one run, and one audit card.

Each attribute of `audit.attributes` (a dataset template) is rewritten once, scored by every model of
`audit.models` (a scoring template) and estimated, through the four phases' scripts. The card puts
RATE's effect size of every attribute x model in one matrix, with p-values adjusted across the
whole audit (Holm and Benjamini-Hochberg), the naive estimate beside each, the paired contrasts
between models on the same examples, each attribute's rewrite checks (judge efficacy, off-target
asymmetry, breakdown delta) and links to every file. What the audit already holds is not redone
(audit/steps.py): adding a model to `audit.models` scores only that model.

Usage:
    python run_audit.py --config configs/audits/offline.yaml [--smoke_test=true] [--rewrites.n_examples=300]
    python run_audit.py --config configs/audits/offline.yaml --plan    # the steps it would run, and no more
    python run_audit.py --config configs/audits/paper.yaml --dry-run   # each rewrite step's requests, tokens
                                                                       # and cost; nothing sent or written
    python run_audit.py --config configs/audits/offline.yaml --card    # only the card, from the audit's files
    python run_audit.py --config configs/audits/offline.yaml --slurm   # the steps as a chain of SLURM jobs
                                                              # (make audit with PARTITION set)

Writes PROJECT_DIR/audits/<audit>_audit[_smoke_test]_<stamp>.html (and .md, .tex and the matrix as
.csv, under one .meta.json sidecar); the phases' files are those of the pipeline run audit-<audit>, where each phase
writes them.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import utils

# loaded on first use, so that --help answers at once (utils.lazy_import)
audit_card = utils.lazy_import("audit.card")
audit_steps = utils.lazy_import("audit.steps")
scoring_gpus = utils.lazy_import("scoring.gpus")

logger = logging.getLogger(__name__)
MODES = ("--plan", "--dry-run", "--card", "--slurm")


def submit(step_script: str, config: str, args: list[str], after: list[str], model: str | None = None) -> str:
    """One SLURM job (slurm/submit.sh) running `step_script` with `args`, after the jobs `after`; its id.
    A scoring job asks for the GPUs its `model` needs (scoring/gpus.py, GPUS from make)."""
    phase = step_script.removesuffix(".py")
    flags = os.environ.get(f"SBATCH_{phase}", "")
    if model:
        flags += " " + scoring_gpus.flags([model], os.environ.get("GPUS", "auto"))
    env = {**os.environ, "SBATCH_FLAGS": flags, "DEPENDENCY": ":".join(after)}
    done = subprocess.run([str(utils.REPO_DIR / "slurm" / "submit.sh"), phase, config, *args], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise utils.RateError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"sbatch refused {phase}")
    return done.stdout.strip()


def write_card(cfg: utils.Config, name: str, run: str, started: str) -> None:
    audit = audit_card.collect(cfg, name, run)
    html_path, artifact = utils.artifacts.new_path(utils.artifacts.of(cfg, "audit", utils.slug(name)), "html")
    where = html_path.parent
    inputs = [a["table"] for a in audit["attributes"]] + [c["effects"] for *_, c in audit_card.provenance(audit)]
    with utils.artifacts.all_or_none(where, f"audit_{os.getpid()}") as keep:
        keep(html_path, html_path.with_suffix(".md"), html_path.with_suffix(".tex"), html_path.with_suffix(".csv"),
             utils.meta_path(html_path), html_path.with_name(f".{html_path.stem}.reserved"))
        audit_card.write_csv(html_path.with_suffix(".csv"), audit)
        utils.atomic_write(html_path.with_suffix(".md"), lambda h: h.write(audit_card.to_markdown(audit, where)))
        utils.atomic_write(html_path.with_suffix(".tex"), lambda h: h.write(audit_card.to_latex(audit)))
        utils.write_output(html_path, lambda p: utils.atomic_write(p, lambda h: h.write(audit_card.to_html(audit, where))),
                           script="run_audit.py", cfg=cfg, started_at=started, inputs=inputs, artifact=artifact,
                           counts={"attributes": len(audit["attributes"]), "models": len(audit["models"])})
    print("\n".join(audit_card.headline(audit)))
    print(f"\n{audit_card.to_markdown(audit, where).split('## Paired')[0].split('## RATE')[1].strip()}\n")
    for path in (html_path, *(html_path.with_suffix(ext) for ext in (".md", ".tex", ".csv"))):
        print(path)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    modes = {arg for arg in argv if arg in MODES}
    if len(modes) > 1:
        raise utils.RateError(f"command line: {' and '.join(sorted(modes))} exclude each other; give one")
    rest = [arg for arg in argv if arg not in MODES]
    cfg, started = utils.start(rest, __doc__)
    path, given = utils.parse_cli(rest)
    audit_steps.check(cfg)
    name, run = audit_steps.name_of(cfg), audit_steps.run_of(cfg)
    logger.info("audit %s (run %s): %d attributes x %d models", name, run, len(cfg["audit"]["attributes"]),
                len(cfg["audit"]["models"]))
    if "--card" in modes:
        return write_card(cfg, name, run, started)
    plan = audit_steps.plan(cfg, [(k, v) for k, v in given if k != "run"])
    if "--plan" in modes:
        for step in plan:
            print(f"{step.describe()}: {step.script} --config {path} "
                  + " ".join(f"--{k}={v}" for k, v in step.overrides))
        return None
    if "--dry-run" in modes:
        for step in (s for s in plan if s.script == "create_dataset.py"):
            utils.run_phase(step.script, path, step.overrides + [("rewrites.dry_run", "true")],
                            f"audit {name}, {step.describe()}, dry run")
        return None
    if "--slurm" in modes:
        last: dict[str, str] = {}
        for step in plan:
            job = submit(step.script, path, [f"--{k}={v}" for k, v in step.overrides],
                         [last[step.attribute]] if step.attribute in last else [], step.model)
            last[step.attribute] = job
            print(f"{step.describe()}: job {job}")
        job = submit("run_audit.py", path, ["--card", *(f"--{k}={v}" for k, v in given)], list(last.values()))
        print(f"audit card: job {job}")
        return None
    for number, step in enumerate(plan, 1):
        logger.info("step %d of %d: %s", number, len(plan), step.describe())
        utils.run_phase(step.script, path, step.overrides, f"audit {name}, {step.describe()}")
    write_card(cfg, name, run, started)
    return None


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
