"""Matplotlib charts of the analyst views (pure: frames in, figures out; no pyplot state).

Every builder takes polars frames shaped like the views and returns a
:class:`matplotlib.figure.Figure`; an empty frame gives a figure that says there is no data
yet. Text in Chinese is drawn only when a CJK font is available (:func:`find_cjk_font`);
otherwise the charts use the English labels and the HTML page carries the Chinese ones.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

#: Families tried first, in order, for Chinese text.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "Noto Serif CJK SC",
)
_PROBE = "生成式人工智能"

PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
)
BURST_RED = "#c0392b"
BASE_GREY = "#d5d8dc"


@dataclass(frozen=True)
class ChartStyle:
    """What every chart shares: the CJK font (None when missing) and the freshness line."""

    cjk_font: str | None
    freshness: str

    def rc(self) -> dict[str, object]:
        """Matplotlib rcParams for the charts (use with ``matplotlib.rc_context``)."""
        families = ["DejaVu Sans"] + ([self.cjk_font] if self.cjk_font else [])
        return {
            "font.family": families,
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#e5e7e9",
            "grid.linewidth": 0.8,
            "axes.axisbelow": True,
            "axes.titleweight": "bold",
            "svg.hashsalt": "aied-trends",
            "svg.fonttype": "path",
        }


def _covers_cjk(path: str) -> bool:
    try:
        font = FT2Font(path)
        return all(font.get_char_index(ord(ch)) for ch in _PROBE)
    except (OSError, RuntimeError, ValueError):
        return False


def find_cjk_font() -> str | None:
    """Return a font family that can draw Chinese, or None.

    Looks at the fonts matplotlib knows, then asks fontconfig (``fc-list :lang=zh``) for
    font files matplotlib has not indexed yet (fonts installed after its cache was built).
    """
    known: dict[str, str] = {}
    for entry in font_manager.fontManager.ttflist:
        known.setdefault(entry.name, entry.fname)
    for family in CJK_FAMILIES:
        if family in known and _covers_cjk(known[family]):
            return family
    for name, path in sorted(known.items()):
        tagged = any(tag in name for tag in ("CJK", "Han", "WenQuanYi", "Hei", "Song"))
        if tagged and _covers_cjk(path):
            return name
    if not shutil.which("fc-list"):
        return None
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in sorted(out.splitlines()):
        path = line.split(":")[0].strip()
        if path and _covers_cjk(path):
            try:
                font_manager.fontManager.addfont(path)
                return font_manager.FontProperties(fname=path).get_name()
            except (OSError, RuntimeError, ValueError):
                continue
    return None


def topic_label(
    topic: str, labels: Mapping[str, tuple[str | None, str | None]], *, cjk: bool
) -> str:
    """``English / 中文`` when both are known and drawable, else the English label or slug."""
    en, zh = labels.get(topic, (None, None))
    en = en or topic
    return f"{en} / {zh}" if (cjk and zh) else en


def year_span(start: int, end: int) -> str:
    """``2021–2023``, or ``2024`` for a one-year span."""
    return f"{start}" if start == end else f"{start}–{end}"


def _empty(fig: Figure, ax: object, message: str = "No data yet") -> None:
    ax.set_axis_off()  # type: ignore[attr-defined]
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=14,  # type: ignore[attr-defined]
            color="#7f8c8d", transform=ax.transAxes)  # type: ignore[attr-defined]


def _finish(fig: Figure, style: ChartStyle, title: str) -> Figure:
    fig.suptitle(title, x=0.01, ha="left", fontsize=14, fontweight="bold")
    fig.text(0.01, 0.008, style.freshness, fontsize=7.5, color="#566573", ha="left",
             va="bottom")
    return fig


def _years_axis(ax: object, first: int | None = None, last: int | None = None) -> None:
    if first is not None and last is not None and last - first <= 16:
        ax.set_xticks(range(first, last + 1))  # type: ignore[attr-defined]
    else:
        ax.xaxis.set_major_locator(  # type: ignore[attr-defined]
            MaxNLocator(nbins=5, integer=True)
        )


def _new_figure(width: float, height: float, *, top: float = 0.1,
                bottom: float = 0.3) -> Figure:
    """A constrained-layout figure leaving ``top``/``bottom`` inches for title and footer."""
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.get_layout_engine().set(  # type: ignore[union-attr]
        rect=(0, bottom / height, 1, 1 - (top + bottom) / height)
    )
    return fig


def yearly_chart(yearly: pl.DataFrame, style: ChartStyle) -> Figure:
    """AI-in-education publications per year (Chinese vs other) with the AI share."""
    fig = _new_figure(11, 5.2)
    ax = fig.add_subplot()
    title = "AI-in-education publications per year"
    if style.cjk_font:
        title += " / 人工智能教育研究年度发文量"
    if yearly.is_empty():
        _empty(fig, ax)
        return _finish(fig, style, title)
    data = yearly.sort("year")
    years = data["year"].to_numpy()
    zh = data["ai_publications_zh"].fill_null(0).to_numpy()
    other = data["ai_publications_other"].fill_null(0).to_numpy()
    zh_label = "Chinese-language / 中文" if style.cjk_font else "Chinese-language"
    ax.bar(years, zh, color=PALETTE[1], label=zh_label)
    ax.bar(years, other, bottom=zh, color=PALETTE[0], label="Other languages")
    ax.set_ylabel("AI-in-education publications")
    _years_axis(ax, int(years.min()), int(years.max()))
    share_ax = ax.twinx()
    share_ax.plot(years, data["ai_share"].fill_null(0).to_numpy(), color="#222222",
                  marker="o", linewidth=1.8, label="AI share of all publications")
    share_ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    share_ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    share_ax.set_ylim(bottom=0)
    share_ax.grid(False)
    share_ax.set_ylabel("Share of all publications in the warehouse")
    handles = ax.get_legend_handles_labels()[0] + share_ax.get_legend_handles_labels()[0]
    names = ax.get_legend_handles_labels()[1] + share_ax.get_legend_handles_labels()[1]
    ax.legend(handles, names, loc="upper left", frameon=False)
    return _finish(fig, style, title)


def _topic_matrix(trends: pl.DataFrame, value: str) -> tuple[np.ndarray, list[str], np.ndarray]:
    years = np.arange(int(trends["year"].min()), int(trends["year"].max()) + 1)  # type: ignore[arg-type]
    order = (
        trends.group_by("topic").agg(pl.col("publications").sum())
        .sort(["publications", "topic"], descending=[True, False])["topic"].to_list()
    )
    matrix = np.zeros((len(order), years.size))
    index = {y: i for i, y in enumerate(years.tolist())}
    row = {t: i for i, t in enumerate(order)}
    for topic, year, val in trends.select("topic", "year", value).iter_rows():
        matrix[row[topic], index[int(year)]] = float(val or 0)
    return years, order, matrix


def topic_trends_chart(
    trends: pl.DataFrame, labels: Mapping[str, tuple[str | None, str | None]],
    style: ChartStyle,
) -> Figure:
    """Small multiples: AI-in-education publications per year for each topic.

    Panels share their axes so sizes compare; each is titled with the bilingual label and
    notes the latest year's count and share of that year's AI-in-education publications.
    """
    title = "Topics over time: AI-in-education publications per topic"
    if style.cjk_font:
        title += " / 研究主题年度趋势"
    if trends.is_empty():
        fig = _new_figure(11, 4)
        _empty(fig, fig.add_subplot())
        return _finish(fig, style, title)
    years, order, counts = _topic_matrix(trends, "publications")
    _, _, shares = _topic_matrix(trends, "share")
    ncols = 3 if len(order) > 4 else max(1, len(order))
    nrows = -(-len(order) // ncols)
    fig = _new_figure(11, 0.9 + 2.45 * nrows)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for i, topic in enumerate(order):
        ax = axes[i]
        color = PALETTE[i % len(PALETTE)]
        en, zh = labels.get(topic, (None, None))
        heading = textwrap.fill(en or topic, 44)
        if style.cjk_font and zh:
            heading = f"{heading}\n{zh}"
        ax.bar(years, counts[i], color=color, width=0.75)
        ax.set_title(heading, fontsize=9, loc="left", fontweight="bold")
        ax.text(0.02, 0.93, f"{years[-1]}: {int(counts[i, -1])} · {shares[i, -1]:.0%} of AI papers",
                transform=ax.transAxes, fontsize=8, color="#424949", va="top")
        ax.grid(axis="x", visible=False)
        _years_axis(ax)
    for ax in axes[len(order):]:
        ax.set_axis_off()
    for row in range(nrows):
        axes[row * ncols].set_ylabel("publications")
    ymax = float(counts.max())
    axes[0].set_ylim(0, ymax * 1.22 if ymax else 1)
    return _finish(fig, style, title)


def journal_share_chart(journals: pl.DataFrame, style: ChartStyle, *, top: int = 12) -> Figure:
    """Heat map of the AI share per journal (rows) and year (columns), with counts."""
    title = "AI-in-education share per journal and year"
    if style.cjk_font:
        title += " / 各期刊人工智能教育论文占比"
    if journals.is_empty():
        fig = _new_figure(11, 4)
        _empty(fig, fig.add_subplot())
        return _finish(fig, style, title)
    ranked = (
        journals.group_by("journal_issn")
        .agg(pl.col("ai_publications").sum(), pl.col("publications").sum())
        .sort(["ai_publications", "publications", "journal_issn"],
              descending=[True, True, False])
        .head(top)["journal_issn"].to_list()
    )
    data = journals.filter(pl.col("journal_issn").is_in(ranked))
    years = np.arange(int(data["year"].min()), int(data["year"].max()) + 1)  # type: ignore[arg-type]
    share = np.full((len(ranked), years.size), np.nan)
    text = [["" for _ in years] for _ in ranked]
    names: dict[str, str] = {}
    for row in data.iter_rows(named=True):
        i, j = ranked.index(row["journal_issn"]), int(row["year"]) - int(years[0])
        share[i, j] = row["ai_share"]
        text[i][j] = f"{row['ai_share']:.0%}\n{row['ai_publications']}/{row['publications']}"
        title_en = row["journal_title"] or row["journal_issn"]
        zh = row.get("journal_title_zh")
        names[row["journal_issn"]] = (
            f"{title_en} / {zh}" if (style.cjk_font and zh) else title_en
        )
    height = 2.2 + 0.55 * len(ranked)
    fig = _new_figure(max(8.0, 3.5 + 0.9 * years.size), height)
    ax = fig.add_subplot()
    ax.grid(False)
    image = ax.imshow(np.ma.masked_invalid(share), cmap="YlOrRd", vmin=0,
                      vmax=max(0.05, float(np.nanmax(share))), aspect="auto")
    ax.set_xticks(range(years.size), [str(y) for y in years])
    ax.set_yticks(range(len(ranked)),
                  [f"{names[i][:60]} ({i})" for i in ranked])
    vmax = max(0.05, float(np.nanmax(share)))
    for i in range(len(ranked)):
        for j in range(years.size):
            if text[i][j]:
                dark = share[i, j] > 0.6 * vmax
                ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8,
                        color="white" if dark else "#17202a")
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01,
                       format=PercentFormatter(1.0, decimals=0))
    bar.set_label("AI-in-education share")
    for spine in ax.spines.values():
        spine.set_visible(False)
    return _finish(fig, style, title)


def emerging_topics_chart(
    bursts: pl.DataFrame, labels: Mapping[str, tuple[str | None, str | None]],
    style: ChartStyle, *, method: str | None = None,
) -> Figure:
    """CiteSpace-style burst chart: each topic's years in grey, burst years in red.

    Args:
        bursts: Rows of ``topic_bursts`` (every topic-year, with ``in_burst``).
        labels: Topic slug -> (English, Chinese) labels.
        style: Shared chart style.
        method: Method label for the subtitle.
    """
    title = "Emerging topics: bursts in a topic's share"
    if style.cjk_font:
        title += " / 突现主题"
    if bursts.is_empty():
        fig = _new_figure(11, 4)
        _empty(fig, fig.add_subplot(), "No topic data yet")
        return _finish(fig, style, title)
    first, last = int(bursts["year"].min()), int(bursts["year"].max())  # type: ignore[arg-type]
    per_topic = (
        bursts.group_by("topic")
        .agg(
            pl.col("burst_strength").max().alias("strength"),
            pl.col("year").filter(pl.col("in_burst")).min().alias("start"),
        )
        .sort(["start", "strength", "topic"], descending=[False, True, False],
              nulls_last=True)
    )
    topics = per_topic["topic"].to_list()
    height = 2.0 + 0.5 * len(topics)
    fig = _new_figure(11, height)
    ax = fig.add_subplot()
    ax.grid(False)
    cjk = style.cjk_font is not None
    for i, topic in enumerate(topics):
        y = len(topics) - 1 - i
        ax.barh(y, last - first + 1, left=first - 0.5, height=0.18, color=BASE_GREY)
        rows = bursts.filter((pl.col("topic") == topic) & pl.col("in_burst"))
        spans = rows.select("burst_start", "burst_end", "burst_strength").unique().sort(
            "burst_start")
        notes = []
        for start, end, strength in spans.iter_rows():
            ax.barh(y, end - start + 1, left=start - 0.5, height=0.5, color=BURST_RED)
            span = year_span(start, end)
            notes.append(f"{span}  strength {strength:.1f}")
        ax.text(last + 0.7, y, "; ".join(notes) if notes else "no burst", va="center",
                fontsize=8.5, color=BURST_RED if notes else "#7f8c8d")
    ax.set_yticks(range(len(topics)),
                  [topic_label(t, labels, cjk=cjk) for t in reversed(topics)])
    ax.set_xlim(first - 0.6, last + 0.6 + max(3.0, (last - first + 1) * 0.45))
    ax.set_xticks(range(first, last + 1))
    ax.tick_params(axis="x", labelrotation=45 if last - first > 12 else 0)
    for spine in ("left", "top", "right"):
        ax.spines[spine].set_visible(False)
    ax.legend(
        handles=[Patch(color=BURST_RED, label="burst years"),
                 Patch(color=BASE_GREY, label="years observed")],
        loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2, frameon=False, fontsize=8.5,
    )
    if method:
        ax.set_xlabel(f"Publication year · burst model: {method}", fontsize=8.5,
                      color="#566573", loc="left")
    ax.spines["bottom"].set_bounds(first - 0.5, last + 0.5)
    return _finish(fig, style, title)


def publication_lag_chart(lag: pl.DataFrame, style: ChartStyle, *, top: int = 8) -> Figure:
    """Median days from received to published per journal and year (lines)."""
    fig = _new_figure(11, 6.2)
    title = "Publication lag: days from received to published"
    if style.cjk_font:
        title += " / 发表周期"
    if lag.is_empty():
        _empty(fig, fig.add_subplot(), "No publications with both dates yet")
        return _finish(fig, style, title)
    ax = fig.add_subplot()
    ranked = (
        lag.group_by("journal_issn").agg(pl.col("publications").sum())
        .sort(["publications", "journal_issn"], descending=[True, False])
        .head(top)["journal_issn"].to_list()
    )
    for i, issn in enumerate(ranked):
        rows = lag.filter(pl.col("journal_issn") == issn).sort("year")
        name = rows["journal_title"].drop_nulls().first() or issn
        ax.plot(rows["year"].to_numpy(), rows["median_days"].to_numpy(), marker="o",
                linewidth=2, color=PALETTE[i % len(PALETTE)],
                label=f"{str(name)[:50]} ({issn}), n={int(rows['publications'].sum())}")
    ax.set_ylabel("Median days (received → published)")
    ax.set_ylim(bottom=0)
    _years_axis(ax, int(lag["year"].min()), int(lag["year"].max()))  # type: ignore[arg-type]
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncols=2, frameon=False,
              fontsize=8.5)
    return _finish(fig, style, title)
