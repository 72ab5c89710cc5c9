"""`warmstart report`: one offline HTML page plus a PNG per panel, drawn from the lake.

    report = write_report(Lake("data/lake"), Path("reports/latest"))
    report.html  # reports/latest/index.html, images embedded; PNGs beside it

A panel whose table is missing or empty is replaced by a one-line note; the page always renders.
"""

import base64
import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from flows.report_panels import PANELS, PanelSpec
from flows.report_plots import NothingToPlot, png_bytes
from flows.report_queries import ReportData, fetch_report_data
from schemas.errors import InputError
from schemas.lake import Lake


@dataclass
class Panel:
    """One drawn section of the page: a figure (PNG bytes) and rows, or a note saying why not."""

    spec: PanelSpec
    png: bytes | None = None
    note: str | None = None
    rows: pa.Table | None = None


@dataclass
class Report:
    """What `write_report` wrote: the page, the PNGs, and the panels it skipped with why."""

    html: Path
    pngs: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def build_panels(data: ReportData) -> list[Panel]:
    """Draw every panel that has rows; the others carry their note."""
    panels = []
    for spec in PANELS:
        rows = data.panels.get(spec.key)
        if rows is None:
            panels.append(Panel(spec, note=data.missing.get(spec.key, "no data")))
            continue
        try:
            figure = spec.plot(rows)
        except NothingToPlot as exc:
            panels.append(Panel(spec, note=str(exc)))
            continue
        panels.append(Panel(spec, png=png_bytes(figure), rows=rows))
    return panels


def write_report(lake: Lake, out_dir: str | Path) -> Report:
    """Query the lake, draw the panels, write `index.html` and one PNG per drawn panel to `out_dir`."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("report output must be a directory, not a file", path=out)
    data = fetch_report_data(lake, PANELS)
    panels = build_panels(data)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out / "index.html")
    for panel in panels:
        png_path = out / f"{panel.spec.key}.png"
        if panel.png is None:
            png_path.unlink(missing_ok=True)  # a stale figure from an earlier run would mislead
            report.skipped[panel.spec.key] = panel.note
        else:
            png_path.write_bytes(panel.png)
            report.pngs.append(png_path)
    report.html.write_text(render_html(panels, data, str(lake.where.display)), encoding="utf-8")
    return report


def render_html(panels: list[Panel], data: ReportData, lake_name: str) -> str:
    """The whole page as one string: inline CSS, images as base64 data URIs, no external links."""
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    counts = pa.table({"table": list(data.counts), "rows": list(data.counts.values())})
    sections = "\n".join(_section(panel) for panel in panels)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>warmstart report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
section {{ margin: 2rem 0; }} img {{ max-width: 100%; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; font-size: 0.85rem; margin-top: 0.5rem; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
.note {{ color: #777; font-style: italic; }} .meta {{ color: #555; }}
</style></head><body>
<h1>warmstart report</h1>
<p class="meta">lake {html.escape(lake_name)} &middot; snapshot {data.version} &middot; made {made}</p>
<details><summary>Rows per table</summary>{html_table(counts, 100)}</details>
{sections}
</body></html>
"""


def _section(panel: Panel) -> str:
    spec = panel.spec
    head = f'<section id="{spec.key}"><h2>{html.escape(spec.title)}</h2><p>{html.escape(spec.text)}</p>'
    if panel.png is None:
        return f'{head}<p class="note">Skipped: {html.escape(panel.note or "no data")}.</p></section>'
    image = base64.b64encode(panel.png).decode("ascii")
    body = (f'<img src="data:image/png;base64,{image}" alt="{html.escape(spec.title)}">'
            f'<p class="meta"><a href="{spec.key}.png">{spec.key}.png</a></p>')
    if spec.table_rows and panel.rows is not None:
        body += html_table(panel.rows, spec.table_rows)
    return f"{head}{body}</section>"


def html_table(table: pa.Table, max_rows: int) -> str:
    """An escaped HTML table of the first `max_rows` rows (floats to 4 significant digits)."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in table.column_names)
    rows = []
    for row in table.slice(0, max_rows).to_pylist():
        cells = "".join(f"<td>{html.escape(_cell(value))}</td>" for value in row.values())
        rows.append(f"<tr>{cells}</tr>")
    more = (f'<p class="note">{table.num_rows - max_rows} more rows not shown.</p>'
            if table.num_rows > max_rows else "")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>{more}"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
