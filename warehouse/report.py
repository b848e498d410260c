"""The report: an offline HTML page with charts, plus CSV and Parquet extracts of every view.

``write_report(engine, out_dir)`` writes::

    out_dir/index.html            the page (inline CSS, no network needed)
    out_dir/charts/<name>.png     each chart as PNG ...
    out_dir/charts/<name>.svg     ... and SVG (the page shows the SVGs)
    out_dir/data/<view>.csv       each view as CSV ...
    out_dir/data/<view>.parquet   ... and Parquet (freshness in the file metadata)

Every chart and extract carries a freshness line from ``etl_runs``: "as of run <run_id>
finished <time>, sources: ...". Chinese labels are drawn in the charts when a CJK font is
installed (``fonts-noto-cjk`` on Debian); without one the charts fall back to English and the
page keeps the bilingual labels as text. :func:`screenshot_report` takes a picture of the page
with headless Chromium (not needed by the tests).
"""

from __future__ import annotations

import html
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import matplotlib
import polars as pl
from matplotlib.figure import Figure
from sqlalchemy import Connection, Engine, select

from warehouse.bursts import method_name
from warehouse.charts import (
    ChartStyle,
    emerging_topics_chart,
    find_cjk_font,
    journal_share_chart,
    publication_lag_chart,
    topic_label,
    topic_trends_chart,
    year_span,
    yearly_chart,
)
from warehouse.schema import etl_runs, metadata, topics
from warehouse.views import CURRENT_VIEWS, refresh_derived_tables

#: Views and stored tables extracted to CSV/Parquet, with their ORDER BY.
EXTRACTS: dict[str, str] = {
    "yearly_trends": "year",
    "topic_trends": "topic, year",
    "topic_trends_monthly": "topic, year, month",
    "journal_trends": "journal_issn, year",
    "publication_lag": "journal_issn, year",
    "emerging_topics": "topic, year",
    "topic_bursts": "topic, year",
    "keyword_cooccurrence": "publications DESC, keyword_id_a, keyword_id_b",
}

SUCCEEDED = "succeeded"


class ReportError(RuntimeError):
    """The report could not be written."""


@dataclass(frozen=True)
class ChartFiles:
    """One chart: its title and its PNG and SVG files."""

    name: str
    title: str
    png: Path
    svg: Path


@dataclass(frozen=True)
class ExtractFiles:
    """One view extract: CSV and Parquet files and the number of rows."""

    name: str
    csv: Path
    parquet: Path
    rows: int


@dataclass(frozen=True)
class ReportFiles:
    """Everything :func:`write_report` wrote."""

    html: Path
    charts: dict[str, ChartFiles] = field(default_factory=dict)
    extracts: dict[str, ExtractFiles] = field(default_factory=dict)
    freshness: str = ""
    cjk_font: str | None = None

    def all_files(self) -> list[Path]:
        """Every file written, the page first."""
        files = [self.html]
        for chart in self.charts.values():
            files += [chart.png, chart.svg]
        for extract in self.extracts.values():
            files += [extract.csv, extract.parquet]
        return files


# --- reading -----------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _fmt(value: datetime | None) -> str:
    stamp = _utc(value)
    return stamp.strftime("%Y-%m-%d %H:%M UTC") if stamp else "unknown time"


def freshness_line(conn: Connection) -> str:
    """Describe the data's freshness from ``etl_runs``.

    Returns:
        ``as of run <run_id> finished <time>, sources: <source> <date>, ...`` for the newest
        successful run and each source's newest successful run, or a line saying that no
        run has succeeded yet.
    """
    rows = conn.execute(
        select(etl_runs.c.run_id, etl_runs.c.source, etl_runs.c.finished_at)
        .where(etl_runs.c.status == SUCCEEDED, etl_runs.c.finished_at.is_not(None))
    ).all()
    if not rows:
        return "as of no successful ETL run (etl_runs has none), sources: none"
    ordered = sorted(rows, key=lambda r: (_utc(r.finished_at), r.run_id))
    newest = ordered[-1]
    per_source: dict[str, datetime] = {}
    for row in ordered:
        per_source[row.source or "unknown"] = _utc(row.finished_at)  # type: ignore[assignment]
    sources = ", ".join(
        f"{name} {stamp:%Y-%m-%d}" for name, stamp in sorted(per_source.items())
    )
    return f"as of run {newest.run_id} finished {_fmt(newest.finished_at)}, sources: {sources}"


#: Columns whose type SQLite does not keep (booleans come back as 0/1, timestamps as text).
_BOOLEAN_COLUMNS = frozenset({"in_burst"})
_TIMESTAMP_COLUMNS = frozenset({"computed_at"})


def _normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """Give both backends' frames the same types (booleans, UTC timestamps)."""
    fixes = []
    for name, dtype in frame.schema.items():
        if name in _BOOLEAN_COLUMNS and dtype != pl.Boolean:
            fixes.append(pl.col(name).cast(pl.Boolean))
        elif name in _TIMESTAMP_COLUMNS:
            if dtype == pl.String:
                ts = pl.col(name).str.to_datetime(time_unit="us").dt.replace_time_zone("UTC")
            elif isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
                ts = pl.col(name).dt.replace_time_zone("UTC")
            elif isinstance(dtype, pl.Datetime):
                ts = pl.col(name).dt.convert_time_zone("UTC")
            else:
                ts = pl.col(name).cast(pl.Datetime("us", "UTC"))
            fixes.append(ts.dt.cast_time_unit("us").alias(name))
    return frame.with_columns(fixes) if fixes else frame


def read_frame(conn: Connection, name: str, order_by: str) -> pl.DataFrame:
    """Read a whole view or table into polars (``pl.read_database`` on the connection).

    Booleans and timestamps are given the same polars types on SQLite and PostgreSQL.
    """
    frame = pl.read_database(f"SELECT * FROM {name} ORDER BY {order_by}", connection=conn)
    return _normalise(frame)


def _labels(
    conn: Connection, overrides: Mapping[str, tuple[str, str]] | None
) -> dict[str, tuple[str | None, str | None]]:
    labels: dict[str, tuple[str | None, str | None]] = {}
    rows = conn.execute(
        select(topics.c.topic, topics.c.label_en, topics.c.label_zh)
        .order_by(topics.c.topic, topics.c.taxonomy_version)
    ).all()
    for topic, en, zh in rows:  # the last version wins
        labels[topic] = (en, zh)
    for topic, (en, zh) in (overrides or {}).items():
        labels[topic] = (en, zh)
    return labels


# --- writing -----------------------------------------------------------------------------


def _save(fig: Figure, style: ChartStyle, charts_dir: Path, name: str, title: str) -> ChartFiles:
    png, svg = charts_dir / f"{name}.png", charts_dir / f"{name}.svg"
    with matplotlib.rc_context(style.rc()):
        fig.savefig(png, dpi=130, metadata={"Software": None})
        fig.savefig(svg, metadata={"Date": None, "Creator": None})
    return ChartFiles(name=name, title=title, png=png, svg=svg)


def _write_extract(frame: pl.DataFrame, data_dir: Path, name: str, fresh: str) -> ExtractFiles:
    csv, parquet = data_dir / f"{name}.csv", data_dir / f"{name}.parquet"
    frame.write_csv(csv)
    frame.write_parquet(parquet, metadata={"aied.view": name, "aied.freshness": fresh})
    return ExtractFiles(name=name, csv=csv, parquet=parquet, rows=frame.height)


def write_report(
    engine: Engine,
    out_dir: Path,
    *,
    taxonomy_labels: dict[str, tuple[str, str]] | None = None,
    refresh: bool = True,
    cjk_font: str | None | Literal["auto"] = "auto",
) -> ReportFiles:
    """Write the HTML report, its charts (PNG and SVG) and CSV/Parquet extracts.

    Args:
        engine: Warehouse engine.
        out_dir: Directory to write into (created; files of an earlier report are replaced).
        taxonomy_labels: Topic slug -> (English, Chinese) labels, overriding the ``topics``
            table (useful before the taxonomy is loaded).
        refresh: Recompute the stored derived tables first (needs write access; pass False
            with a read-only analyst connection).
        cjk_font: Font family for Chinese text in the charts; ``"auto"`` finds one, None
            draws English-only charts.

    Returns:
        The files written.

    Raises:
        ReportError: the output directory cannot be written.
    """
    charts_dir, data_dir = out_dir / "charts", out_dir / "data"
    try:
        charts_dir.mkdir(parents=True, exist_ok=True)
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create the report directory {out_dir}: {exc}"
        raise ReportError(msg) from exc
    if refresh:
        refresh_derived_tables(engine)
    with engine.connect() as conn:
        fresh = freshness_line(conn)
        labels = _labels(conn, taxonomy_labels)
        frames = {name: read_frame(conn, name, order) for name, order in EXTRACTS.items()}
    font = find_cjk_font() if cjk_font == "auto" else cjk_font
    style = ChartStyle(cjk_font=font, freshness=fresh)
    extracts = {
        name: _write_extract(frame, data_dir, name, fresh) for name, frame in frames.items()
    }
    methods = frames["topic_bursts"]["method"].unique().to_list() if frames[
        "topic_bursts"].height else []
    specs: list[tuple[str, str, Figure]] = []
    with matplotlib.rc_context(style.rc()):
        specs = [
            ("ai_per_year", "AI-in-education publications per year",
             yearly_chart(frames["yearly_trends"], style)),
            ("topic_trends", "Topics over time",
             topic_trends_chart(frames["topic_trends"], labels, style)),
            ("emerging_topics", "Emerging topics",
             emerging_topics_chart(frames["topic_bursts"], labels, style,
                                   method=methods[0] if methods else method_name())),
            ("journal_ai_share", "AI share per journal and year",
             journal_share_chart(frames["journal_trends"], style)),
            ("publication_lag", "Publication lag",
             publication_lag_chart(frames["publication_lag"], style)),
        ]
        charts = {name: _save(fig, style, charts_dir, name, title) for name, title, fig in specs}
    page = out_dir / "index.html"
    page.write_text(
        _render_html(frames, charts, extracts, labels, fresh, font, out_dir), encoding="utf-8"
    )
    return ReportFiles(html=page, charts=charts, extracts=extracts, freshness=fresh,
                       cjk_font=font)


# --- HTML --------------------------------------------------------------------------------

_CSS = """
:root { --ink:#1c2833; --muted:#5d6d7e; --line:#e5e8e8; --accent:#c0392b; --bg:#fbfcfc; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 "Noto Sans CJK SC", "Noto Sans", "DejaVu Sans",
       "PingFang SC", "Microsoft YaHei", system-ui, sans-serif; color: var(--ink);
       background: var(--bg); }
header { padding: 28px 40px 18px; background: #17202a; color: #fdfefe; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header .zh { font-size: 18px; color: #d5dbdb; }
header .fresh { margin-top: 10px; font-size: 13px; color: #aab7b8; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 40px 48px; }
.cards { display: flex; flex-wrap: wrap; gap: 14px; margin: 22px 0 8px; }
.card { flex: 1 1 160px; background: #fff; border: 1px solid var(--line); border-radius: 8px;
        padding: 12px 16px; }
.card .n { font-size: 28px; font-weight: 700; }
.card .l { color: var(--muted); font-size: 13px; }
section { margin-top: 34px; }
h2 { font-size: 20px; margin: 0 0 2px; }
h2 .zh { font-weight: 400; color: var(--muted); font-size: 17px; }
p.note { color: var(--muted); margin: 4px 0 10px; font-size: 14px; }
figure { margin: 8px 0; background: #fff; border: 1px solid var(--line); border-radius: 8px;
         padding: 10px; }
figure img { width: 100%; height: auto; display: block; }
figcaption, .fresh-line { font-size: 12px; color: var(--muted); margin-top: 6px; }
a { color: #1f618d; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; background: #fff; }
th, td { text-align: left; padding: 5px 9px; border-bottom: 1px solid var(--line); }
th { background: #f4f6f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.burst { color: var(--accent); font-weight: 600; }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; }
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]],
           numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(chart: ChartFiles, root: Path, extracts: Sequence[ExtractFiles]) -> str:
    links = " · ".join(
        [f'<a href="{_rel(chart.png, root)}">PNG</a>', f'<a href="{_rel(chart.svg, root)}">SVG</a>']
        + [f'<a href="{_rel(x.csv, root)}">{_e(x.name)}.csv</a> '
           f'<a href="{_rel(x.parquet, root)}">.parquet</a>' for x in extracts]
    )
    return (
        f'<figure><img src="{_rel(chart.svg, root)}" alt="{_e(chart.title)}">'
        f"<figcaption>Download: {links}</figcaption></figure>"
    )


def _topic_rows(frames: Mapping[str, pl.DataFrame],
                labels: Mapping[str, tuple[str | None, str | None]]) -> list[list[object]]:
    trends = frames["topic_trends"]
    if trends.is_empty():
        return []
    last = int(trends["year"].max())  # type: ignore[arg-type]
    totals = (
        trends.group_by("topic")
        .agg(pl.col("publications").sum().alias("total"),
             pl.col("publications").filter(pl.col("year") == last).sum().alias("last"),
             pl.col("share").filter(pl.col("year") == last).sum().alias("share"))
        .sort(["total", "topic"], descending=[True, False])
    )
    rows = []
    for topic, total, latest, share in totals.iter_rows():
        en, zh = labels.get(topic, (None, None))
        rows.append([topic, en or topic, zh or "", total, latest, f"{share:.0%}"])
    return rows


def _burst_rows(frames: Mapping[str, pl.DataFrame],
                labels: Mapping[str, tuple[str | None, str | None]]) -> list[list[object]]:
    emerging = frames["emerging_topics"]
    if emerging.is_empty():
        return []
    spans = (
        emerging.group_by("topic", "burst_start", "burst_end")
        .agg(pl.col("burst_strength").first(), pl.col("publications").sum())
        .sort(["burst_end", "burst_strength"], descending=[True, True])
    )
    rows = []
    for topic, start, end, strength, pubs in spans.iter_rows():
        label = topic_label(topic, labels, cjk=True)
        rows.append([label, year_span(start, end), f"{strength:.2f}", pubs])
    return rows


def _render_html(
    frames: Mapping[str, pl.DataFrame],
    charts: Mapping[str, ChartFiles],
    extracts: Mapping[str, ExtractFiles],
    labels: Mapping[str, tuple[str | None, str | None]],
    fresh: str,
    font: str | None,
    root: Path,
) -> str:
    yearly = frames["yearly_trends"]
    total = int(yearly["publications"].sum()) if yearly.height else 0
    ai_total = int(yearly["ai_publications"].sum()) if yearly.height else 0
    journals = frames["journal_trends"]["journal_issn"].n_unique() if frames[
        "journal_trends"].height else 0
    years = (f"{yearly['year'].min()}–{yearly['year'].max()}" if yearly.height else "–")
    cards = "".join(
        f'<div class="card"><div class="n">{_e(n)}</div><div class="l">{_e(label)}</div></div>'
        for n, label in [
            (f"{ai_total:,}", "AI-in-education publications / 人工智能教育论文"),
            (f"{total:,}", "publications in the warehouse / 论文总数"),
            (journals, "journals / 期刊"),
            (years, "years covered / 年份"),
        ]
    )
    x = extracts
    font_note = (
        "" if font else
        '<p class="note">No CJK font was found when the charts were drawn, so they use the '
        "English labels; the Chinese labels are in the tables below. Install "
        "<code>fonts-noto-cjk</code> to draw them in the charts.</p>"
    )
    topic_table = _table(
        ["topic", "English", "中文", "publications (all years)", "latest year", "share latest"],
        _topic_rows(frames, labels), numeric=(3, 4),
    )
    burst_table = _table(["topic / 主题", "burst years", "strength", "publications in burst"],
                         _burst_rows(frames, labels), numeric=(2, 3))
    pairs = frames["keyword_cooccurrence"].head(20)
    pair_table = _table(
        ["keyword", "keyword", "publications with both", "Jaccard"],
        [[a, b, n, f"{j:.2f}"] for a, b, n, j in
         pairs.select("keyword_a", "keyword_b", "publications", "jaccard").iter_rows()],
        numeric=(2, 3),
    )
    view_docs = {name: t.comment or "" for name, t in metadata.tables.items()}
    view_docs.update({v.name: v.description for v in CURRENT_VIEWS})
    extract_rows = [
        [name, view_docs.get(name, "stored derived table"), e.rows,
         f"{_rel(e.csv, root)} | {_rel(e.parquet, root)}"]
        for name, e in extracts.items()
    ]
    extract_table = "".join(
        f"<tr><td><code>{_e(name)}</code></td><td>{_e(doc)}</td><td class=\"num\">{_e(n)}</td>"
        f'<td><a href="{_rel(extracts[name].csv, root)}">CSV</a> · '
        f'<a href="{_rel(extracts[name].parquet, root)}">Parquet</a></td></tr>'
        for name, doc, n, _ in extract_rows
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AI in (medical) education: publication trends</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>AI in (medical) education: publication trends</h1>
<div class="zh">人工智能在（医学）教育中的应用：研究趋势</div>
<div class="fresh">Data {_e(fresh)}</div>
</header>
<main>
<div class="cards">{cards}</div>
{font_note}
<section id="per-year">
<h2>AI-in-education publications per year <span class="zh">年度发文量</span></h2>
<p class="note">Bars: AI-in-education publications, Chinese-language and other. Line: their
share of everything the warehouse holds for that year.</p>
{_figure(charts["ai_per_year"], root, [x["yearly_trends"]])}
</section>
<section id="topics">
<h2>Topics over time <span class="zh">研究主题趋势</span></h2>
<p class="note">Each AI-in-education publication can carry several topics, so shares of one
year can add up to more than 100%.</p>
{_figure(charts["topic_trends"], root, [x["topic_trends"], x["topic_trends_monthly"]])}
{topic_table}
<p class="fresh-line">topic_trends {_e(fresh)}</p>
</section>
<section id="emerging">
<h2>Emerging topics <span class="zh">突现主题</span></h2>
<p class="note">Years where Kleinberg's two-state burst model (as in CiteSpace) finds a topic's
share of AI-in-education publications elevated; strength is the cost the burst state saves.</p>
{_figure(charts["emerging_topics"], root, [x["emerging_topics"], x["topic_bursts"]])}
{burst_table}
<p class="fresh-line">emerging_topics {_e(fresh)}</p>
</section>
<section id="journals">
<h2>AI share per journal and year <span class="zh">各期刊人工智能教育论文占比</span></h2>
<p class="note">Cells: share of the journal's publications that year that are about AI in
education, with the counts (AI / all).</p>
{_figure(charts["journal_ai_share"], root, [x["journal_trends"]])}
</section>
<section id="lag">
<h2>Publication lag <span class="zh">发表周期</span></h2>
<p class="note">Median days from manuscript received to published, per journal and year.</p>
{_figure(charts["publication_lag"], root, [x["publication_lag"]])}
</section>
<section id="keywords">
<h2>Keywords that appear together <span class="zh">关键词共现</span></h2>
<p class="note">Most frequent keyword pairs among AI-in-education publications.</p>
{pair_table}
<p class="fresh-line">keyword_cooccurrence {_e(fresh)}</p>
</section>
<section id="data">
<h2>Data extracts <span class="zh">数据下载</span></h2>
<p class="note">Every view as CSV and Parquet, {_e(fresh)}.</p>
<table><thead><tr><th>view</th><th>what a row is</th><th>rows</th><th>files</th></tr></thead>
<tbody>{extract_table}</tbody></table>
</section>
<footer>Generated {generated} by aied-trends. Chart font for Chinese:
{_e(font or "none found (English-only charts)")}.</footer>
</main>
</body>
</html>
"""


# --- screenshot --------------------------------------------------------------------------


class ScreenshotError(RuntimeError):
    """Headless Chromium is missing or failed."""


def screenshot_report(
    page: Path, png: Path, *, width: int = 1280, height: int = 7200,
    chromium: str | None = None,
) -> Path:
    """Take a screenshot of the report page with headless Chromium.

    Args:
        page: The HTML file.
        png: Where to write the screenshot.
        width: Window width in CSS pixels.
        height: Window height (the page is cut there).
        chromium: Browser executable; found on PATH (chromium, chromium-browser,
            google-chrome) when None.

    Returns:
        The PNG path.

    Raises:
        ScreenshotError: no browser, or it failed.
    """
    exe = chromium or next(
        (p for p in ("chromium", "chromium-browser", "google-chrome") if shutil.which(p)), None
    )
    if exe is None:
        msg = "no Chromium found: apt-get install -y chromium"
        raise ScreenshotError(msg)
    cmd = [
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--allow-file-access-from-files", f"--window-size={width},{height}",
        f"--screenshot={png.resolve()}", page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0 or not png.exists():
        msg = f"chromium failed (exit {proc.returncode}): {proc.stderr[-2000:]}"
        raise ScreenshotError(msg)
    return png


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m warehouse.report URL OUT_DIR [--screenshot]``."""
    import sys

    from warehouse.db import create_warehouse_engine

    args = list(sys.argv[1:] if argv is None else argv)
    shot = "--screenshot" in args
    args = [a for a in args if a != "--screenshot"]
    if len(args) != 2:
        print("usage: python -m warehouse.report URL OUT_DIR [--screenshot]", file=sys.stderr)
        return 2
    engine = create_warehouse_engine(args[0])
    try:
        files = write_report(engine, Path(args[1]))
    finally:
        engine.dispose()
    print(files.html)
    if shot:
        print(screenshot_report(files.html, Path(args[1]) / "screenshot.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
