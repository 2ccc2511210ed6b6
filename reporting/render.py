"""Rendering, in one place: the format of numbers, p-values and intervals that every table, report and
card uses; one escaper per target; a table whose columns declare their kind, rendered to the terminal,
markdown, HTML, LaTeX and CSV; and a report's blocks as markdown that reads as raw text too, and as one
self-contained HTML page.

Blocks: ("h1"|"h2"|"h3"|"p", text), ("warning", text), ("summary"|"note", [lines]), ("table", Table),
("image", path, caption), ("code", text, summary), ("list", items).
"""

from __future__ import annotations

import base64
import csv
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------


def number(value, digits: int = 4, sign: bool = True, nan: str = "nan") -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value != value:
        return nan
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def interval(low, high, digits: int = 4, nan: str = "nan") -> str:
    """The one format of an interval: [low, high] in `number`'s format; empty where it has no bound."""
    if low is None or high is None:
        return ""
    return f"[{number(low, digits, nan=nan)}, {number(high, digits, nan=nan)}]"


def p_value(value) -> str:
    """The one format of a p-value in every table, report and card: three decimals from 0.001 up,
    two significant digits below (small p-values are compared across rows, so they keep their size),
    and "<1e-300" for a p-value below the smallest double, which underflows to 0."""
    if value is None:
        return ""
    if value == 0:
        return "<1e-300"
    return f"{value:.3f}" if value >= 1e-3 else f"{value:.1e}"


# ---------------------------------------------------------------------------------------------
# Text for each target
# ---------------------------------------------------------------------------------------------

_MARKDOWN_RE = re.compile(r"([\\`*_\[\]<>|~])")


def markdown_escape(text: str) -> str:
    """Text markdown shows as written, on one line (a table cell): markup characters escaped, line
    breaks kept as <br>."""
    return _MARKDOWN_RE.sub(r"\\\1", str(text)).replace("\r", "").replace("\n", "<br>")


def terminal_escape(text: str) -> str:
    """A cell of a table printed to the terminal (and written as the .md beside a CSV, which GitHub
    renders): only what would break the row, a pipe and a line break; names and numbers stay as typed."""
    return re.sub(r"\s*[\r\n]+\s*", " ", str(text)).replace("|", r"\|")


LATEX_SPECIAL = {
    "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
    # In LaTeX's default OT1 encoding these three print as other glyphs (¡, ¿, —), and it has no Greek.
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "Δ": r"$\Delta$",
}
_LATEX_RE = re.compile("|".join(re.escape(c) for c in LATEX_SPECIAL))


def latex_escape(text: str) -> str:
    """Text that LaTeX prints as written. One pass, so the backslashes it adds are not escaped again."""
    escaped = _LATEX_RE.sub(lambda match: LATEX_SPECIAL[match.group(0)], str(text))
    return re.sub(r"\s*\n\s*", r"\\newline ", escaped.strip())


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------

# kind -> (digits, signed); a kind without digits formats its own way
KINDS = {"estimate": (4, True), "effect size": (3, True), "interval": (4, True), "se": (4, False),
         "number": (4, False), "share": (2, False), "p": (None, False), "count": (None, False), "text": (None, False)}
_NUMERIC = re.compile(r"^[<+\-−]?\d[\d.,%e+\-]*$|^\[.*\]$")


@dataclass(frozen=True)
class Column:
    """A table's column: its header and the kind of value its cells hold, which formats each value and
    right-aligns numbers. A text column is right-aligned when every cell reads as a number (or is
    empty), so a column of settings that mixes words and numbers stays left-aligned. The rest are a
    table's exceptions: `digits` (the kind's by default), `align` ("left" or "right"), `nan` (how a NaN
    prints: the run tables keep Python's "+nan"), `percent` (a share as 12.5%), `short_from` (magnitudes
    from it in 3 significant digits), and `latex` (the header as LaTeX source, where it is a symbol)."""
    name: str
    kind: str = "text"
    digits: int | None = None
    align: str | None = None
    nan: str = "nan"
    percent: bool = False
    short_from: float | None = None
    latex: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.align not in (None, "left", "right"):
            raise ValueError(f"column {self.name!r}: align is left or right, not {self.align!r}")

    def format(self, value) -> str:
        """A cell's text: an interval is a (low, high) pair; None is an empty cell."""
        default, signed = KINDS[self.kind]
        digits = default if self.digits is None else self.digits
        if value is None:
            return ""
        if self.kind == "text":
            return str(value)
        if self.kind == "p":
            return p_value(value)
        if self.kind == "count":
            return f"{value:g}" if isinstance(value, float) else str(value)
        if self.kind == "interval":
            return interval(*value, digits, nan=self.nan)
        if self.kind == "share" and self.percent:
            return number(100 * value, 1 if self.digits is None else self.digits, sign=False, nan=self.nan) + "%"
        if self.short_from is not None and abs(value) >= self.short_from:
            return f"{value:.3g}"
        return number(value, digits, sign=signed, nan=self.nan)


@dataclass(frozen=True)
class Cell:
    """A value and what some targets show with it: an HTML class (the audit card's colours), a link,
    bold, an id that links reach (HTML), and smaller lines under it (HTML; "; " after it elsewhere)."""
    value: object
    cls: str = ""
    href: str | None = None
    strong: bool = False
    anchor: str | None = None
    notes: tuple[str, ...] = ()


class Table:
    """Columns (a Column, or a header for a text column) and rows of one value or Cell per column."""

    def __init__(self, columns, rows):
        self.columns = [column if isinstance(column, Column) else Column(column) for column in columns]
        self.rows = [[value if isinstance(value, Cell) else Cell(value) for value in row] for row in rows]
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"a row of {len(row)} cells in a table of {len(self.columns)} columns")

    def _layout(self) -> tuple[list[list[tuple[str, Cell]]], list[bool]]:
        """Each cell's text beside the cell, and which columns are right-aligned."""
        cells = [[(column.format(cell.value), cell) for column, cell in zip(self.columns, row)] for row in self.rows]

        def right(i: int, column: Column) -> bool:
            if column.align:
                return column.align == "right"
            return column.kind != "text" or (bool(cells) and all(
                row[i][0].strip() == "" or (_NUMERIC.match(row[i][0].strip()) and len(row[i][0]) < 40) for row in cells))

        return cells, [right(i, column) for i, column in enumerate(self.columns)]

    def _marked(self, escape) -> tuple[list[list[str]], list[bool]]:
        """The cells as the terminal and markdown write them: escaped, linked and bold in markdown's way."""
        cells, right = self._layout()

        def mark(text: str, cell: Cell) -> str:
            text = escape(text)
            text = f"[{text}]({escape(cell.href)})" if cell.href else text
            text = f"**{text}**" if cell.strong else text
            return text + "".join(f"; {escape(note)}" for note in cell.notes)

        return [[mark(text, cell) for text, cell in row] for row in cells], right

    def to_terminal(self) -> str:
        """The pipe table a script prints, which the .md beside a CSV holds too: markdown's layout with
        no padding, and nothing escaped but what breaks a row."""
        rows, right = self._marked(terminal_escape)
        lines = ["| " + " | ".join(terminal_escape(c.name) for c in self.columns) + " |",
                 "|" + "|".join("---:" if r else "---" for r in right) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])

    def to_markdown(self) -> str:
        """Columns padded to one width, so the raw text reads as a table too; numbers right-aligned."""
        rows, right = self._marked(markdown_escape)
        rows = [[markdown_escape(c.name) for c in self.columns]] + rows
        widths = [max(3, *(len(row[i]) for row in rows)) for i in range(len(self.columns))]

        def line(values) -> str:
            return "| " + " | ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)) + " |"

        rule = "|" + "|".join("-" * (w + 1) + ":" if r else "-" * (w + 2) for w, r in zip(widths, right)) + "|"
        return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])

    def to_html(self) -> str:
        cells, right = self._layout()
        head = "".join(f"<th>{html.escape(c.name)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(_html_cell(text, cell, r) for (text, cell), r in zip(row, right)) + "</tr>"
                       for row in cells)
        # a wide table scrolls inside its own box instead of pushing the page past the window
        return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'

    def to_latex(self, caption: str, *, label: str | None = None, fit: bool = False, math: bool = False) -> str:
        """A booktabs table (\\usepackage{booktabs}); `caption` is LaTeX source. `fit` scales it to
        \\linewidth (the page, or a column of a two-column paper; needs graphicx), else it is set \\small;
        `math` sets numbers in math mode, for true minus signs."""
        cells, right = self._layout()

        def tex(text: str, cell: Cell, column: Column) -> str:
            if math and text and column.kind != "text":
                text = "$" + text.replace("%", r"\%") + "$"  # a number's one special character: a share's %
            else:
                text = latex_escape(text)
            text = rf"\textbf{{{text}}}" if cell.strong else text
            return text + "".join(f"; {latex_escape(note)}" for note in cell.notes)

        head = " & ".join(c.latex or latex_escape(c.name) for c in self.columns) + r" \\"
        body = [" & ".join(tex(text, cell, column) for (text, cell), column in zip(row, self.columns)) + r" \\"
                for row in cells]
        return "\n".join([r"\begin{table}[t]", r"\centering", r"\resizebox{\linewidth}{!}{%" if fit else r"\small",
                          r"\begin{tabular}{" + "".join("r" if r else "l" for r in right) + "}", r"\toprule", head,
                          r"\midrule", *body, r"\bottomrule", r"\end{tabular}" + ("}" if fit else ""),
                          rf"\caption{{{caption}}}", *([rf"\label{{{label}}}"] if label else []), r"\end{table}", ""])

    def to_csv(self, handle) -> None:
        """The values as they are (a spreadsheet's to format), under the column names; None is empty."""
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([c.name for c in self.columns])
        writer.writerows([_raw(cell.value) for cell in row] for row in self.rows)


def _html_cell(text: str, cell: Cell, right: bool) -> str:
    classes = " ".join(filter(None, (cell.cls, "num" if right else "")))
    attributes = f' id="{html.escape(cell.anchor)}"' if cell.anchor else ""
    attributes += f' class="{classes}"' if classes else ""
    body = html.escape(text).replace("\n", "<br>")
    body = f"<b>{body}</b>" if cell.strong else body
    body = f'<a href="{html.escape(cell.href)}">{body}</a>' if cell.href else body
    return f"<td{attributes}>{body}" + "".join(f"<small>{html.escape(note)}</small>" for note in cell.notes) + "</td>"


def _raw(value):
    if isinstance(value, tuple):  # an interval, its bounds as they are
        return "" if None in value else f"[{value[0]}, {value[1]}]"
    return "" if value is None else value


# ---------------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------------

def to_markdown(blocks: list[tuple], where: Path) -> str:
    """Markdown whose image links are relative to the folder `where` the file is written in."""
    out = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append(f"{'#' * int(kind[1])} {markdown_escape(block[1])}")
        elif kind == "p":
            out.append(markdown_escape(block[1]))
        elif kind == "warning":
            out.append(f"> **Warning:** {markdown_escape(block[1])}")
        elif kind in ("summary", "note"):
            out.append("\n".join(f"> {markdown_escape(line)}" for line in block[1]))
        elif kind == "list":
            out.append("\n".join(f"- {markdown_escape(item)}" for item in block[1]))
        elif kind == "table":
            out.append(block[1].to_markdown())
        elif kind == "image":
            link = Path(os.path.relpath(block[1], where)).as_posix()
            alt = re.sub(r"[\[\]]", "", block[2])
            out.append(f"![{alt}]({link})\n\n*{markdown_escape(block[2])}*")
        elif kind == "code":
            out.append(f"{block[2]}:\n\n```\n{block[1].rstrip()}\n```")
    return "\n\n".join(out) + "\n"


CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 62rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd; margin-top: 2.2rem; }
h3 { font-size: 1rem; margin-bottom: .3rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .88rem; }
th, td { border: 1px solid #ddd; padding: .25rem .55rem; vertical-align: top; text-align: left; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1rem 0; } img { max-width: 100%; } figcaption { font-size: .85rem; color: #555; }
pre { background: #f7f7f7; padding: .6rem; overflow-x: auto; font-size: .8rem; }
.warning { border: 2px solid #b00020; background: #fdecee; color: #7a0016; padding: .6rem .9rem; margin: 1rem 0;
           font-weight: 600; }
.summary { border: 2px solid #2166ac; background: #eef4fa; padding: .3rem .9rem; margin: 1rem 0; }
.note { border: 2px solid #b8860b; background: #fdf6e3; padding: .3rem .9rem; margin: 1rem 0; }
.summary p, .note p { margin: .35rem 0; }
td, li, p, pre { overflow-wrap: anywhere; }
div.table { overflow-x: auto; max-width: 100%; }
"""


def to_html(blocks: list[tuple], title: str) -> str:
    """One HTML page with every image inlined as base64, so the file stands alone."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            anchor = re.sub(r"[^a-z0-9]+", "-", block[1].lower()).strip("-")
            out.append(f'<{kind} id="{anchor}">{html.escape(block[1])}</{kind}>')
        elif kind == "p":
            out.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "warning":
            out.append(f'<div class="warning" role="alert">Warning: {html.escape(block[1])}</div>')
        elif kind in ("summary", "note"):
            out.append(f'<div class="{kind}">' + "".join(f"<p>{html.escape(line)}</p>" for line in block[1]) + "</div>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{html.escape(str(item))}</li>" for item in block[1]) + "</ul>")
        elif kind == "table":
            out.append(block[1].to_html())
        elif kind == "image":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode("ascii")
            out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block[2])}">'
                       f"<figcaption>{html.escape(block[2])}</figcaption></figure>")
        elif kind == "code":
            out.append(f"<details><summary>{html.escape(block[2])}</summary><pre>{html.escape(block[1])}</pre></details>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
