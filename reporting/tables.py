"""The effects table of a run: markdown (printed, and written beside the CSV) and the tidy CSV."""

from __future__ import annotations

from estimation.results import ROW_KEYS
from reporting.render import Column, Table
import utils


def run_table(rows: list[dict], alpha: float) -> Table:
    """The table of `estimates` rows. Rows carrying `dataset` and `reward_key` (the table of a whole
    run) get those columns first; a bootstrap interval column appears when rows have one, a clusters
    column when any row was clustered. ATU (the effect on the untreated; other libraries say ATC) is
    labelled ATU here as everywhere. "p (Holm)" is adjusted across the run's family
    (estimation/contrasts.py); "breakdown delta" is RATE's (estimation/sensitivity.py). A NaN prints
    as Python writes it (+nan), and the intervals are left-aligned."""
    level = f"{100 * (1 - alpha):g}%"
    context = bool(rows) and "dataset" in rows[0]
    boot = any("boot_ci_low" in row for row in rows)
    clustered = any(row.get("clusters") for row in rows)

    def signed(name: str, kind: str = "estimate", **options) -> Column:
        return Column(name, kind, nan="+nan", **options)

    columns = ([Column("dataset"), Column("reward key")] if context else []) + [
        Column("estimator"), Column("estimand"), signed("estimate"), Column("SE", "se"),
        signed(f"{level} CI", "interval", align="left"), Column("p", "p"), Column("p (Holm)", "p"),
        Column("n1", "count"), Column("n0", "count")]
    columns += [Column("clusters", "count")] if clustered else []
    columns += [signed("estimate/sd", "effect size"), signed(f"{level} CI/sd", "interval", digits=3, align="left"),
                signed("breakdown delta"), signed("truth")]
    columns += [signed(f"bootstrap {level} CI", "interval", align="left")] if boot else []
    table = []
    for row in rows:
        cells = [row["dataset"], row["reward_key"]] if context else []
        cells += [row["estimator"], row["estimand"], row["estimate"], row["se"], (row["ci_low"], row["ci_high"]),
                  row.get("p"), row.get("p_holm"), row.get("n1"), row.get("n0")]
        cells += [row.get("clusters")] if clustered else []
        cells += [row.get("norm_estimate"), (row.get("norm_ci_low"), row.get("norm_ci_high")),
                  row.get("breakdown_delta"), row.get("truth")]
        cells += [(row.get("boot_ci_low"), row.get("boot_ci_high"))] if boot else []
        table.append(cells)
    return Table(columns, table)


def format_table(rows: list[dict], alpha: float) -> str:
    """The run table as the terminal shows it, and as the .md beside the CSV holds it (run_table)."""
    return run_table(rows, alpha).to_terminal()


def write_run_tables(rows: list[dict], alpha: float, artifact, keep, **meta) -> tuple:
    """The tidy CSV and the markdown table of every (file, reward key) of the run, sharing one stem
    and one sidecar (`meta`: utils.write_meta's arguments), written before them; `keep` (of
    utils.artifacts.all_or_none) is told every path first."""
    output = utils.artifacts.new_path(artifact, "csv")
    csv_path, md_path = output.path, output.sibling(".md")
    keep(*output.files(".md"))
    columns = ["dataset", "reward_key", *ROW_KEYS] + (["boot_ci_low", "boot_ci_high"] if any(
        "boot_ci_low" in row for row in rows) else [])

    def write_csv(handle):
        Table(columns, [[row.get(key) for key in columns] for row in rows]).to_csv(handle)

    def write_both(path):
        utils.atomic_write(md_path, lambda handle: handle.write(format_table(rows, alpha) + "\n"))
        try:
            utils.atomic_write(path, write_csv)
        except BaseException:
            md_path.unlink(missing_ok=True)
            raise

    utils.write_output(csv_path, write_both, artifact=output.artifact,
                       **{**meta, "counts": {**meta.get("counts", {}), "tables": [str(csv_path), str(md_path)]}})
    return csv_path, md_path
