"""The method notes, published: the team's specification of the science (``catalogs/method_notes.md``, SDG 15.3.1,
and ``catalogs/method_notes_unccd.md``, the rest of the UNCCD report: drought, people, the LDN balance) as an HTML
page in every version and inside the report, so the "method notes section N" (and "UNCCD method notes section N")
that layers and tables cite can be read by anyone who has the outputs, not only by the team."""
from __future__ import annotations

import html

from tasks.constants import CATALOGS_DIR

__all__ = ["METHOD_TITLE", "method_markdown", "unccd_markdown", "method_html", "method_body"]

METHOD_TITLE = "ldn-pipeline method notes: what ldn-pipeline computes (SDG 15.3.1; UNCCD: the LDN balance)"
"""The title the method page is published under (what "method notes" in the metadata refers to)."""


def method_markdown() -> str:
    """The method notes as shipped with the package (the same text in a wheel and in a checkout)."""
    return (CATALOGS_DIR / "method_notes.md").read_text(encoding="utf-8")


def unccd_markdown() -> str:
    """The UNCCD method notes (SO2-3, SO3 and the LDN balance; what "UNCCD method notes section N" cites), as shipped."""
    return (CATALOGS_DIR / "method_notes_unccd.md").read_text(encoding="utf-8")


def method_body() -> str:
    """Both method notes as one HTML fragment (headings, tables, lists), for embedding in the report."""
    from markdown_it import MarkdownIt

    render = MarkdownIt("commonmark", {"html": False}).enable("table").render
    return render(method_markdown()) + "<hr>" + render(unccd_markdown())


def method_html() -> str:
    """The method notes as a standalone HTML page."""
    css = ("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222;line-height:1.45}"
           "table{border-collapse:collapse;font-size:.9em;margin:.6em 0}th,td{border:1px solid #ddd;padding:3px 8px;"
           "vertical-align:top}th{background:#f4f4f4}code{background:#f6f6f6;padding:0 3px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(METHOD_TITLE)}</title>"
            f"<style>{css}</style></head><body>{method_body()}</body></html>\n")
