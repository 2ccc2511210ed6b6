"""The one table layer (reporting/render.py): each column kind's format, one interval, alignment by kind,
and each target's escaping of hostile text (terminal, markdown, HTML, LaTeX, CSV), a cell's class,
link and bold, and a CSV that reads back as written."""

from __future__ import annotations

import csv
import io
import math
import re

import pytest

from reporting.render import Cell, Column, Table, interval, latex_escape, p_value, to_html, to_markdown

HOSTILE = "a|b_c <script>alert(1)</script> & 50% *x* `y` [z](u) #\\ ~\nnext line"


@pytest.mark.parametrize("column, value, text", [
    (Column("e", "estimate"), 1.23456, "+1.2346"),
    (Column("e", "estimate"), -0.5, "-0.5000"),
    (Column("e", "estimate"), math.nan, "nan"),
    (Column("e", "estimate", nan="+nan"), math.nan, "+nan"),
    (Column("e", "estimate", digits=2), 3.14159, "+3.14"),
    (Column("e", "estimate", short_from=1e4), 123456.0, "1.23e+05"),
    (Column("e", "estimate", short_from=1e4), -12.5, "-12.5000"),
    (Column("se", "se"), 0.01234, "0.0123"),
    (Column("n", "number"), 1.5, "1.5000"),
    (Column("es", "effect size"), 0.1, "+0.100"),
    (Column("ci", "interval"), (-1.0, 2.0), "[-1.0000, +2.0000]"),
    (Column("ci", "interval", digits=2, nan="+nan"), (math.nan, 1.0), "[+nan, +1.00]"),
    (Column("ci", "interval"), (None, 1.0), ""),
    (Column("p", "p"), 0.0, "<1e-300"),
    (Column("p", "p"), 0.0123, "0.012"),
    (Column("p", "p"), 1e-6, "1.0e-06"),
    (Column("share", "share"), 0.5, "0.50"),
    (Column("share", "share", percent=True), 0.5, "50.0%"),
    (Column("share", "share", percent=True, digits=0), 0.25, "25%"),
    (Column("n", "count"), 12, "12"),
    (Column("n", "count"), 2.0, "2"),
    (Column("n", "count"), 0.25, "0.25"),
    (Column("t"), 3, "3"),
])
def test_each_kind_formats_its_value(column, value, text):
    assert column.format(value) == text


@pytest.mark.parametrize("kind", ["estimate", "se", "interval", "p", "effect size", "share", "count", "text"])
def test_an_empty_value_is_an_empty_cell_of_every_kind(kind):
    assert Column("c", kind).format(None) == ""


def test_one_interval_and_one_p_value():
    assert interval(0.1, 0.25) == "[+0.1000, +0.2500]"
    assert interval(0.1, 0.25, 1) == "[+0.1, +0.2]"
    assert interval(math.nan, 1, nan="+nan") == "[+nan, +1.0000]"
    assert interval(None, 1) == interval(1, None) == ""
    assert p_value(None) == "" and p_value(0.5) == "0.500"


def test_a_wrong_kind_alignment_or_row_is_refused():
    with pytest.raises(ValueError, match="kind 'estimat'"):
        Column("x", "estimat")
    with pytest.raises(ValueError, match="align"):
        Column("x", align="centre")
    with pytest.raises(ValueError, match="a row of 1 cells in a table of 2 columns"):
        Table(["a", "b"], [[1]])


def rule(markdown: str) -> list[str]:
    return markdown.splitlines()[1].strip("|").split("|")


def test_numbers_are_right_aligned_and_text_by_its_cells():
    table = Table(["name", Column("estimate", "estimate"), "held as text", "mixed", Column("forced", align="right")],
                  [["a", 1.0, "12", "12", "x"], ["b", None, "[+1, +2]", "words", "y"]])
    assert [cell.endswith(":") for cell in rule(table.to_terminal())] == [False, True, True, False, True]
    assert [cell.endswith(":") for cell in rule(table.to_markdown())] == [False, True, True, False, True]
    assert table.to_html().count('class="num"') == 2 * 3
    assert r"\begin{tabular}{lrrlr}" in table.to_latex("c")
    # a column of numbers stays right-aligned with no row, and text has nothing to read
    assert [cell.endswith(":") for cell in rule(Table(["t", Column("e", "estimate")], []).to_terminal())] == [False, True]


def test_the_terminal_table_escapes_only_what_breaks_a_row():
    text = Table(["na|me", Column("e", "estimate")], [[HOSTILE, 1.0], ["snake_case", None]]).to_terminal()
    lines = text.splitlines()
    assert len(lines) == 4
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 3 for line in lines)
    assert lines[0] == r"| na\|me | e |" and lines[1] == "|---|---:|"
    assert r"a\|b_c <script>" in lines[2] and "~ next line" in lines[2]
    assert lines[3] == "| snake_case |  |"


def test_markdown_escapes_markup_and_pads_columns_to_one_width():
    text = Table(["text", Column("p", "p")], [[HOSTILE, 0.0], [Cell("bold", strong=True), 0.5]]).to_markdown()
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert r"a\|b\_c \<script\>alert(1)\</script\> & 50% \*x\* \`y\` \[z\](u) #\\ \~<br>next line" in lines[2]
    assert r"\<1e-300" in lines[2] and "**bold**" in lines[3]
    assert len(re.findall(r"(?<!\\)\|", lines[2])) == 3


def test_html_escapes_text_and_carries_a_cells_class_link_anchor_and_notes():
    cell = Cell("+1.00 [+0.50, +1.50]", cls="matrix up-strong", href="#files-a&b", strong=True, notes=("p <1e-300",))
    text = Table(["name", Column("effect", align="right")], [[Cell(HOSTILE, anchor='x"y'), cell]]).to_html()
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 50%" in text
    assert "~<br>next line" in text
    assert '<td id="x&quot;y">' in text
    assert ('<td class="matrix up-strong num"><a href="#files-a&amp;b"><b>+1.00 [+0.50, +1.50]</b></a>'
            "<small>p &lt;1e-300</small></td>") in text
    assert text.startswith('<div class="table"><table><thead><tr><th>name</th><th>effect</th></tr></thead>')


def test_latex_escapes_text_sets_numbers_in_math_and_bolds_a_strong_cell():
    table = Table(["text", Column("p", "p", latex="$p$"), Column("share", "share", percent=True),
                   Column("estimate", "estimate")],
                  [[HOSTILE, 0.0, 0.5, Cell(-1.0, strong=True)], ["Δ", None, None, None]])
    plain = table.to_latex("A caption", label="tab:x")
    assert plain.splitlines()[:6] == [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{lrrr}",
                                      r"\toprule", r"text & $p$ & share & estimate \\"]
    body = plain.splitlines()[7]
    assert body.startswith(latex_escape(HOSTILE) + r" & \textless{}1e-300 & 50.0\% & \textbf{-1.0000} \\")
    assert r"a\textbar{}b\_c \textless{}script\textgreater{}" in body and r"\& 50\%" in body and r"\newline next" in body
    assert r"$\Delta$ &  &  &  \\" in plain
    assert plain.endswith("\\caption{A caption}\n\\label{tab:x}\n\\end{table}\n")
    fitted = table.to_latex("c", fit=True, math=True)
    assert r"\resizebox{\linewidth}{!}{%" in fitted and "\\end{tabular}}\n" in fitted
    assert r"& $<1e-300$ & $50.0\%$ & \textbf{$-1.0000$} \\" in fitted


def test_the_csv_reads_back_as_written():
    rows = [[HOSTILE, 1.5, None, True, (0.25, 0.75)], ['quote " and, comma', -2, 0.1, False, (None, None)]]
    table = Table(["text", Column("estimate", "estimate"), Column("p", "p"), "flag", Column("ci", "interval")], rows)
    handle = io.StringIO()
    table.to_csv(handle)
    read = list(csv.reader(io.StringIO(handle.getvalue())))
    assert read == [["text", "estimate", "p", "flag", "ci"], [HOSTILE, "1.5", "", "True", "[0.25, 0.75]"],
                    ['quote " and, comma', "-2", "0.1", "False", ""]]


def test_a_table_block_renders_in_the_report(tmp_path):
    table = Table(["setting", "value"], [["a_b", "1"], ["c", "words"]])
    markdown = to_markdown([("table", table)], tmp_path)
    assert markdown == table.to_markdown() + "\n" and r"a\_b" in markdown
    assert table.to_html() in to_html([("table", table)], "t")


def test_latex_escapes_every_special_character():
    assert latex_escape("a & b % c $ d # e _ f { g } h") == r"a \& b \% c \$ d \# e \_ f \{ g \} h"
    assert latex_escape("~^\\") == r"\textasciitilde{}\textasciicircum{}\textbackslash{}"
    # the backslashes the escaping adds are not escaped again
    assert latex_escape("\\&") == r"\textbackslash{}\&"
    assert latex_escape("x < y > z | w") == r"x \textless{} y \textgreater{} z \textbar{} w"
    assert latex_escape("line one\n\nline two") == r"line one\newline line two"
    # nothing special is left bare: strip every escape we make and no special character remains
    every = "&%$#_{}~^\\<>|"
    stripped = re.sub(r"\\(text[a-z]+\{\}|[&%$#_{}])", "", latex_escape(every))
    assert stripped == "", stripped
