"""Rendering a report's blocks: markdown that reads as raw text too, and one self-contained HTML page;
the one format of numbers and p-values that every table, report and card uses.

Blocks: ("h1"|"h2"|"h3"|"p", text), ("warning", text), ("summary"|"note", [lines]), ("table", headers,
rows), ("image", path, caption), ("code", text, summary), ("list", items).
"""

from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# Text for each target
# ---------------------------------------------------------------------------------------------

_MARKDOWN_RE = re.compile(r"([\\`*_\[\]<>|~])")


def markdown_escape(text: str) -> str:
    """Text markdown shows as written, on one line (a table cell): markup characters escaped, line
    breaks kept as <br>."""
    return _MARKDOWN_RE.sub(r"\\\1", str(text)).replace("\r", "").replace("\n", "<br>")


def number(value, digits: int = 4, sign: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value != value:
        return "nan"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


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
# Rendering
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
            out.append(_markdown_table(block[1], block[2]))
        elif kind == "image":
            link = Path(os.path.relpath(block[1], where)).as_posix()
            alt = re.sub(r"[\[\]]", "", block[2])
            out.append(f"![{alt}]({link})\n\n*{markdown_escape(block[2])}*")
        elif kind == "code":
            out.append(f"{block[2]}:\n\n```\n{block[1].rstrip()}\n```")
    return "\n\n".join(out) + "\n"


def _markdown_table(headers, rows) -> str:
    """Columns padded to one width, so the raw text reads as a table too; numeric columns right-aligned."""
    cells = [[markdown_escape(h) for h in headers]] + [[markdown_escape(c) for c in row] for row in rows]
    numeric = _numeric_columns(headers, rows)
    widths = [max(3, *(len(line[i]) for line in cells)) for i in range(len(headers))]

    def line(values) -> str:
        return "| " + " | ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if num else "-" * (w + 2) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


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
_NUMERIC = re.compile(r"^[<+\-−]?\d[\d.,%e+\-]*$|^\[.*\]$")


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
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in block[1])
            columns = _numeric_columns(block[1], block[2])
            body = "".join("<tr>" + "".join(_cell(cell, num) for cell, num in zip(row, columns)) + "</tr>"
                           for row in block[2])
            # a wide table scrolls inside its own box instead of pushing the page past the window
            out.append(f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')
        elif kind == "image":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode("ascii")
            out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block[2])}">'
                       f"<figcaption>{html.escape(block[2])}</figcaption></figure>")
        elif kind == "code":
            out.append(f"<details><summary>{html.escape(block[2])}</summary><pre>{html.escape(block[1])}</pre></details>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _numeric_columns(headers, rows) -> list[bool]:
    """A column is right-aligned when every cell holds a number or an interval (or nothing): a column of
    settings that mixes words and numbers stays left-aligned, so it reads down evenly."""
    return [bool(rows) and all(str(row[i]).strip() == "" or (_NUMERIC.match(str(row[i]).strip()) and len(str(row[i])) < 40)
                               for row in rows) for i in range(len(headers))]


def _cell(value, numeric: bool) -> str:
    escaped = html.escape(str(value)).replace("\n", "<br>")
    return f'<td class="num">{escaped}</td>' if numeric else f"<td>{escaped}</td>"
