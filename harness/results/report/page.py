"""The HTML scaffolding shared by run reports and leaderboards: one self-contained page.

Everything a page needs is inline (CSS, PNG images as data URIs), so a report can be mailed,
attached to a CI run or opened from an archive with no other file. Pages carry no scripts.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any, Iterable, Sequence

from matplotlib.figure import Figure

STATUS_COLOURS = {"scored": "#1b7f3b", "over_time": "#b36b00", "failed": "#b3261e"}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.5rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.subtitle { color: #555; margin-top: 0; }
.banner { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: center; padding: 1rem 1.25rem;
          border-radius: 10px; background: #f5f5f7; border-left: 8px solid var(--status); }
.banner .status { font-weight: 700; text-transform: uppercase; letter-spacing: .05em; color: var(--status); }
.banner .score { font-size: 2.6rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.banner .metric { display: flex; flex-direction: column; }
.banner .metric .label { font-size: .8rem; color: #555; }
.banner .metric .value { font-size: 1.2rem; font-variant-numeric: tabular-nums; }
.warning { background: #fff4e5; border: 1px solid #f0b35b; padding: .6rem .9rem; border-radius: 6px; }
.failure { background: #fdecea; border: 1px solid #e8a29c; padding: .6rem .9rem; border-radius: 6px; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: .9rem; }
table { border-collapse: collapse; font-size: .9rem; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .25rem .7rem; border-bottom: 1px solid #e5e5e5; vertical-align: top; }
th { background: #fafafa; }
td.num { text-align: right; white-space: nowrap; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .85rem; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; }
nav a { margin-right: 1rem; }
"""


def escape(value: Any) -> str:
    """Text for HTML: escaped, with None as an em dash."""
    return "\u2014" if value is None else html.escape(str(value))


def figure_data_uri(figure: Figure, *, dpi: int = 110) -> str:
    """Render a matplotlib figure to a PNG data URI (the Agg canvas; no pyplot, no display)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figure_block(figure: Figure, alt: str, caption: str) -> str:
    """A <figure> with the embedded PNG and a caption that says how to read it."""
    return (
        f'<figure><img src="{figure_data_uri(figure)}" alt="{escape(alt)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    """An HTML table; cells are escaped unless they are `Raw`."""
    numeric = numeric or [False] * len(headers)
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td{" class=num" if num else ""}>{_cell(cell)}</td>' for cell, num in zip(row, numeric))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Raw(str):
    """HTML that is already safe (built by this package) and must not be escaped again."""


def _cell(value: Any) -> str:
    return str(value) if isinstance(value, Raw) else escape(value)


def html_page(title: str, body: str) -> str:
    """A complete standalone HTML document."""
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def fmt(value: Any, digits: int = 4) -> str:
    """A number for people: fixed significant digits, None as an em dash."""
    if value is None:
        return "\u2014"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


def percent(value: float | None, digits: int = 1) -> str:
    return "\u2014" if value is None else f"{100 * value:.{digits}f}%"
