"""The report: offline HTML, PNG/SVG charts, CSV/Parquet extracts that match the views."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, text

from tests.warehouse import data
from warehouse.charts import find_cjk_font
from warehouse.db import create_warehouse_engine, upgrade_warehouse
from warehouse.report import EXTRACTS, ReportFiles, write_report

FRESHNESS = (
    "as of run run-magtech-7 finished 2026-05-02 09:30 UTC, "
    "sources: crossref 2026-05-01, magtech 2026-05-02"
)
CHARTS = {"ai_per_year", "topic_trends", "emerging_topics", "journal_ai_share", "publication_lag"}


def _write(engine: Engine, out: Path, **kwargs: object) -> ReportFiles:
    with warnings.catch_warnings():
        # A glyph missing from the chart fonts would draw boxes: fail instead.
        warnings.filterwarnings("error", message=".*missing from font.*")
        return write_report(engine, out, **kwargs)  # type: ignore[arg-type]


def _glyph_fonts(svg: str) -> set[str]:
    """Fonts whose glyphs an SVG written with svg.fonttype=path draws (ids are font-glyph)."""
    return {m.group(1) for m in re.finditer(r'<path id="([A-Za-z][\w-]*)-[0-9a-f]+"', svg)}


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9)
    return a == b


def test_report_files_and_extracts_match_the_views(
    warehouse_engine: Engine, tmp_path: Path
) -> None:
    data.insert_dataset(warehouse_engine)
    files = _write(warehouse_engine, tmp_path / "report")

    assert files.html == tmp_path / "report" / "index.html"
    assert set(files.charts) == CHARTS
    for chart in files.charts.values():
        assert chart.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = chart.svg.read_text(encoding="utf-8")
        assert "<svg" in svg
        assert FRESHNESS.split(",")[0] in svg or "<path" in svg
    assert set(files.extracts) == set(EXTRACTS)

    with warehouse_engine.connect() as conn:
        for name, order in EXTRACTS.items():
            extract = files.extracts[name]
            result = conn.execute(text(f"SELECT * FROM {name} ORDER BY {order}"))
            columns = list(result.keys())
            rows = [tuple(r) for r in result]
            csv = pl.read_csv(extract.csv, infer_schema_length=None)
            assert csv.columns == columns, name
            assert csv.height == len(rows) == extract.rows, name
            for got, want in zip(csv.iter_rows(), rows, strict=True):
                for column, g, w in zip(columns, got, want, strict=True):
                    if column in {"computed_at", "in_burst"}:
                        continue  # typed differently by the backends; checked below
                    assert _same(g, w), (name, column, g, w)
            parquet = pl.read_parquet(extract.parquet)
            assert parquet.columns == columns
            assert parquet.height == len(rows)
            metadata = pl.read_parquet_metadata(extract.parquet)
            assert metadata["aied.freshness"] == FRESHNESS
            assert metadata["aied.view"] == name

    bursts = pl.read_parquet(files.extracts["topic_bursts"].parquet)
    assert bursts.schema["in_burst"] == pl.Boolean
    assert bursts.schema["computed_at"] == pl.Datetime("us", "UTC")
    trends = pl.read_csv(files.extracts["topic_trends"].csv)
    assert trends.filter(pl.col("topic") == "genai-llm")["publications"].to_list() == [2, 2]


def test_report_page_is_offline_bilingual_and_fresh(
    warehouse_engine: Engine, tmp_path: Path
) -> None:
    data.insert_dataset(warehouse_engine)
    files = _write(warehouse_engine, tmp_path / "r")
    page = files.html.read_text(encoding="utf-8")
    assert not re.search(r"https?://", page)
    assert "<script" not in page
    assert "<link" not in page
    assert "<style>" in page
    for chart in files.charts.values():
        assert f'src="charts/{chart.svg.name}"' in page
        assert f'href="charts/{chart.png.name}"' in page
    for extract in files.extracts.values():
        assert f'href="data/{extract.csv.name}"' in page
        assert f'href="data/{extract.parquet.name}"' in page
    assert files.freshness == FRESHNESS
    assert page.count(FRESHNESS) >= 5
    assert "Generative AI and large language models" in page
    assert "生成式人工智能与大语言模型" in page
    assert "中华医学教育杂志" not in page or "Chinese Journal of Medical Education" in page


def test_charts_fall_back_to_english_without_a_cjk_font(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    upgrade_warehouse(url)
    engine = create_warehouse_engine(url)
    try:
        data.insert_dataset(engine)
        files = _write(engine, tmp_path / "r", cjk_font=None)
    finally:
        engine.dispose()
    page = files.html.read_text(encoding="utf-8")
    assert files.cjk_font is None
    assert "No CJK font was found" in page
    assert "fonts-noto-cjk" in page
    assert "生成式人工智能与大语言模型" in page  # kept in the HTML text
    for chart in files.charts.values():
        assert chart.png.stat().st_size > 5_000
        # English-only charts: every glyph comes from DejaVu.
        fonts = _glyph_fonts(chart.svg.read_text(encoding="utf-8"))
        assert fonts
        assert all(f.startswith("DejaVuSans") for f in fonts), fonts


def test_cjk_font_draws_chinese_when_present(tmp_path: Path) -> None:
    font = find_cjk_font()
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    upgrade_warehouse(url)
    engine = create_warehouse_engine(url)
    try:
        data.insert_dataset(engine)
        files = _write(engine, tmp_path / "r")
    finally:
        engine.dispose()
    assert files.cjk_font == font
    fonts = _glyph_fonts(files.charts["topic_trends"].svg.read_text(encoding="utf-8"))
    cjk_glyphs = {f for f in fonts if not f.startswith("DejaVuSans")}
    # Chinese labels are drawn with the CJK font when one exists, and not at all otherwise.
    assert bool(cjk_glyphs) is (font is not None), (font, fonts)


def test_empty_warehouse_report_does_not_crash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    upgrade_warehouse(url)
    engine = create_warehouse_engine(url)
    try:
        files = _write(engine, tmp_path / "r")
    finally:
        engine.dispose()
    page = files.html.read_text(encoding="utf-8")
    assert "as of no successful ETL run" in page
    for extract in files.extracts.values():
        assert extract.rows == 0
        assert pl.read_csv(extract.csv).height == 0
    assert set(files.charts) == CHARTS


def test_taxonomy_labels_override_the_topics_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    upgrade_warehouse(url)
    engine = create_warehouse_engine(url)
    try:
        data.insert_dataset(engine)
        files = _write(engine, tmp_path / "r",
                       taxonomy_labels={"assessment": ("Assessment (custom)", "评价")})
    finally:
        engine.dispose()
    page = files.html.read_text(encoding="utf-8")
    assert "Assessment (custom)" in page
    assert "AI for assessment and evaluation" not in page


def test_unwritable_output_directory_is_a_clear_error(tmp_path: Path) -> None:
    from warehouse.report import ReportError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    try:
        with pytest.raises(ReportError, match="cannot create the report directory"):
            write_report(engine, blocker / "out")
    finally:
        engine.dispose()
