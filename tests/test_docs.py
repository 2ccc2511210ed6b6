"""README is short and true: it stays under 260 lines, every relative link in README and docs/ reaches
a file and a heading that exist, and the demo's table that README quotes is what the demo prints."""

from __future__ import annotations

import pytest

import re
from pathlib import Path

from conftest import REPO, run_script

README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: its text lower-cased, punctuation other than '-' and '_'
    dropped, each space made a '-' (a link inside the heading counts by its text)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def outside_code(text: str) -> str:
    """The text with its fenced code blocks blanked (their lines kept, so line numbers stay)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def anchors(path: Path) -> set[str]:
    """Every anchor of a page's headings; a repeated heading gets -1, -2, … as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in outside_code(path.read_text()).splitlines():
        match = re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        anchor = github_anchor(match.group(2))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The targets of a page's markdown links and images, outside code blocks."""
    return [m.group(2) for m in LINK.finditer(outside_code(path.read_text()))]


def broken(path: Path, root: Path = REPO) -> list[str]:
    """Each relative link of a page whose file or #anchor does not exist, with the reason."""
    problems, name = [], path.relative_to(root)
    for target in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            problems.append(f"{name}: {target}: no such file")
        elif anchor and dest.suffix != ".md":
            problems.append(f"{name}: {target}: an anchor into a file that is not a page")
        elif anchor and anchor not in anchors(dest):
            problems.append(f"{name}: {target}: {dest.name} has no heading #{anchor}")
    return problems


def test_readme_is_at_most_260_lines():
    assert len(README.read_text().splitlines()) <= 260


def test_the_anchor_rule_on_headings_of_the_real_pages():
    assert github_anchor("Phase 3: treatment effects (`treatment_effects.py`)") == \
        "phase-3-treatment-effects-treatment_effectspy"
    assert github_anchor("Diagnostics (`diagnostics` in the effects JSON)") == \
        "diagnostics-diagnostics-in-the-effects-json"
    assert github_anchor("A real model: `make demo-llm`") == "a-real-model-make-demo-llm"
    effects = (REPO / "docs" / "effects.md").read_text().splitlines()
    assert "# Phase 3: treatment effects (`treatment_effects.py`)" in effects
    assert "## Diagnostics (`diagnostics` in the effects JSON)" in effects
    assert {"phase-3-treatment-effects-treatment_effectspy", "diagnostics-diagnostics-in-the-effects-json"} \
        <= anchors(REPO / "docs" / "effects.md")


def test_the_link_checker_finds_links_and_reports_a_broken_one(tmp_path):
    assert "docs/gallery/forest_plot.png" in links(README)
    assert "docs/effects.md#sensitivity-to-the-rewriter" in links(README)
    page = tmp_path / "page.md"
    page.write_text("# A heading\n\n[ok](#a-heading) [gone](missing.md) [no anchor](#nowhere)\n"
                    "```\n[in code](ignored.md)\n```\n")
    found = broken(page, tmp_path)
    assert len(found) == 2 and "missing.md" in found[0] and "#nowhere" in found[1], found


def test_every_relative_link_in_readme_and_docs_reaches_a_file_and_a_heading():
    pages = [README, *PAGES]
    assert sum(len(links(p)) for p in pages) > 50
    problems = [problem for p in pages for problem in broken(p)]
    assert not problems, "\n".join(problems)


def test_readme_links_every_docs_page_and_every_page_links_back():
    targets = {t.partition("#")[0] for t in links(README)}
    for page in PAGES:
        assert f"docs/{page.name}" in targets, f"README does not link {page.name}"
        if page.name != "architecture.md":
            assert "../README.md" in {t.partition("#")[0] for t in links(page)}, f"{page.name} has no link back"


def quoted_demo_table() -> list[str]:
    """The demo's table as README quotes it: the one code block made of table rows."""
    blocks = [block.strip("`\n").splitlines() for block in FENCE.findall(README.read_text())]
    tables = [lines for lines in blocks if lines and all(line.startswith("|") for line in lines)]
    assert len(tables) == 1, f"README should quote one table in a code block, found {len(tables)}"
    return [line.replace("\u2212", "-") for line in tables[0]]


@pytest.mark.slow
def test_the_demo_table_readme_quotes_is_what_the_demo_prints(project_dir):
    for script in ("create_dataset.py", "score_dataset.py", "treatment_effects.py"):
        done = run_script(script, "--config", "config.yaml")
        assert done.returncode == 0, done.stderr[-2000:]
    printed = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert len(printed) > 2
    assert quoted_demo_table() == printed
