"""The ``aied`` command line: what a person runs by hand.

Every command's help ends with an example. Prefect runs without a server unless
``PREFECT_API_URL`` points at one (then runs show up in its UI).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")

SOURCES = ("magtech", "crossref", "openalex", "pubmed", "arxiv", "oai")


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@click.group()
@click.version_option(package_name="aied-trends")
def main() -> None:
    """aied-trends: publication trends in AI in (medical) education.

    \b
    Example:
      aied run --source magtech --journal 1673-677X
    """


@main.command()
@click.option("--source", type=click.Choice(SOURCES), required=True, help="Provider to fetch.")
@click.option("--journal", "scope", help="Journal ISSN (magtech, crossref) or scope name.")
@click.option("--base-url", help="Provider base URL (mirror, replay server).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Fetch from this date.")
@click.option("--full", is_flag=True, help="Ignore the watermark and fetch everything.")
@click.option("--max-pages", type=int, help="Stop after this many pages (API sources).")
@click.option("--report-dir", type=click.Path(path_type=Path), help="Where the report goes.")
@click.option("--validation-engine", type=click.Choice(["hybrid", "gx", "polars"]),
              default="hybrid", show_default=True,
              help="hybrid: polars on every row, GX on a sample, both must agree; gx: GX on "
                   "every row; polars: natively only.")
def run(source: str, scope: str | None, base_url: str | None, since: object, full: bool,
        max_pages: int | None, report_dir: Path | None, validation_engine: str) -> None:
    """Run the chain for one source: fetch, land, process, load, report.

    \b
    Example:
      aied run --source magtech --journal 1673-677X --base-url http://127.0.0.1:8765
    """
    from flows.pipeline import run_pipeline_flow

    result = run_pipeline_flow(
        source, scope=scope, base_url=base_url,
        since=since.date() if since else None, full=full, max_pages=max_pages,
        report_dir=str(report_dir) if report_dir else None,
        validation_engine=validation_engine)
    _echo_json({"ingest": result["ingest"],
                "process": {k: v for k, v in result["process"].items() if k != "quality"},
                "report": result["report"]})


@main.command()
@click.argument("batch_path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Process even if the batch was processed before.")
def process(batch_path: Path, force: bool) -> None:
    """Process one landed batch again (no network): parse, classify, validate, load.

    \b
    Example:
      aied process data/landing/magtech/2026-11-25/20261125T080000Z-1a2b3c4d --force
    """
    from flows.process import process_flow

    summary = process_flow(str(batch_path), force=force)
    _echo_json({k: v for k, v in summary.items() if k != "quality"})


@main.command(name="import")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", default="auto", show_default=True,
              help="ris, bibtex, nbib, wos, scopus_csv, cnki_refworks, cnki_endnote or auto.")
def import_files(paths: tuple[Path, ...], fmt: str) -> None:
    """Import exported files (RIS, BibTeX, MEDLINE, WoS, Scopus CSV, CNKI) into the warehouse.

    \b
    Example:
      aied import exports/cnki_2025.txt exports/scopus.csv
    """
    from flows.inbox import import_files_flow

    _echo_json(import_files_flow([str(p) for p in paths], fmt=fmt))


@main.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("report"),
              show_default=True, help="Output folder.")
def report(out_dir: Path) -> None:
    """Write the trend report: HTML page, PNG/SVG charts, CSV/Parquet extracts.

    \b
    Example:
      aied report --out report/ && xdg-open report/index.html
    """
    from flows.report import report_flow

    _echo_json(report_flow(str(out_dir)))


@main.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
def sql(query: str, fmt: str) -> None:
    """Run a read-only SQL query against the warehouse and print the result.

    \b
    Example:
      aied sql "SELECT topic, year, publications FROM topic_trends ORDER BY year"
    """
    from flows.settings import get_settings
    from warehouse.readonly import ReadOnlyQueryError, run_read_only

    try:
        frame = run_read_only(get_settings().warehouse_url, query)
    except ReadOnlyQueryError as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "csv":
        click.echo(frame.write_csv(), nl=False)
    elif fmt == "json":
        click.echo(frame.write_json())
    else:
        import polars as pl

        with pl.Config(tbl_rows=200, tbl_cols=30, fmt_str_lengths=60, tbl_width_chars=200):
            click.echo(frame)


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write JSON lines here instead of standard output.")
def classify(path: Path, out: Path | None) -> None:
    """Classify records from a JSON-lines file (shaped like the gold set) and print evidence.

    \b
    Example:
      aied classify ../shared/gold/dev.jsonl --out labels.jsonl
    """
    from transforms.classify import classify_topics, load_taxonomy
    from transforms.evaluate import read_gold_jsonl

    frame = classify_topics(read_gold_jsonl(path.read_bytes()), load_taxonomy())
    lines = [json.dumps({
        "id": row["id"], "is_ai_education": row["is_ai_education"],
        "score": round(row["ai_score"], 4),
        "topics": [t["topic"] for t in row["topics"]],
        "topic_scores": {t["topic"]: round(t["score"], 4) for t in row["topics"]},
        "evidence": {"relevance": row["ai_evidence"],
                     **{t["topic"]: t["evidence"] for t in row["topics"]}},
        "taxonomy_version": row["taxonomy_version"],
    }, ensure_ascii=False) for row in frame.iter_rows(named=True)]
    text = "\n".join(lines) + "\n"
    if out:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(lines)} records to {out}", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def evaluate(path: Path) -> None:
    """Score the classifier on labelled records: P/R/F1 for relevance and per topic.

    \b
    Example:
      aied evaluate ../shared/gold/dev.jsonl
    """
    from transforms.classify import classify_topics, load_taxonomy
    from transforms.evaluate import evaluate_predictions, format_report, read_gold_jsonl

    gold = read_gold_jsonl(path.read_bytes())
    taxonomy = load_taxonomy()
    predicted = classify_topics(gold, taxonomy)
    click.echo(format_report(evaluate_predictions(gold, predicted, topics=taxonomy.slugs)))


@main.command()
@click.option("--taxonomy", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A taxonomy file (default: the packaged current version).")
def reclassify(taxonomy: Path | None) -> None:
    """Reclassify every publication in the warehouse from stored fields (no refetch).

    \b
    Example:
      aied reclassify --taxonomy transforms/taxonomy/v2.json
    """
    from flows.reclassify import reclassify_flow

    _echo_json(reclassify_flow(str(taxonomy) if taxonomy else None))


@main.command()
@click.option("--inbox/--no-inbox", default=True, help="Also watch the inbox folder.")
def serve(inbox: bool) -> None:
    """Serve every deployment (schedules and event triggers) against a Prefect server.

    Needs PREFECT_API_URL (start one with: prefect server start --host 127.0.0.1).

    \b
    Example:
      PREFECT_API_URL=http://127.0.0.1:4200/api aied serve
    """
    os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
    if not os.environ.get("PREFECT_API_URL"):
        raise click.ClickException(
            "PREFECT_API_URL is not set: start `prefect server start --host 127.0.0.1` and "
            "export PREFECT_API_URL=http://127.0.0.1:4200/api")
    from flows.deploy import serve_all

    serve_all(watch_inbox=inbox)


@main.command()
def setup() -> None:
    """Migrate the warehouse and create the Prefect rate and concurrency limits.

    \b
    Example:
      PREFECT_API_URL=http://127.0.0.1:4200/api aied setup
    """
    from flows import runtime as rt
    from flows.steps import topic_rows
    from transforms.classify import load_taxonomy
    from warehouse.load import upsert_topics

    env = rt.open_runtime()
    taxonomy = load_taxonomy()
    upsert_topics(env.engine, topic_rows(taxonomy.version, taxonomy.topics))
    _echo_json({"warehouse": "migrated", "limits": rt.ensure_limits(env.config)})


@main.command()
@click.option("--fixtures", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("tests/fixtures"), show_default=True,
              help="Recorded responses to replay.")
@click.option("--port", type=int, default=0, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--report-dir", type=click.Path(path_type=Path), default=Path("data/report"),
              show_default=True)
def demo(fixtures: Path, port: int, report_dir: Path) -> None:
    """Offline demo: replay recorded responses on 127.0.0.1 and run the whole pipeline.

    \b
    Example:
      aied demo && aied sql "SELECT * FROM topic_trends"
    """
    from flows.demo import run_demo

    _echo_json(run_demo(fixtures, port=port, report_dir=report_dir))


@main.group()
def db() -> None:
    """Warehouse administration.

    \b
    Example:
      aied db upgrade
    """


@db.command()
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Apply the Alembic migrations to AIED_WAREHOUSE_URL.

    \b
    Example:
      AIED_WAREHOUSE_URL=postgresql://aied@127.0.0.1/aied aied db upgrade
    """
    from flows.settings import get_settings
    from warehouse.db import upgrade_warehouse

    url = get_settings().warehouse_url
    upgrade_warehouse(url, revision)
    click.echo(f"warehouse at revision {revision}")


@db.command(name="docs")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("docs/data-dictionary.md"), show_default=True)
def docs_command(out: Path) -> None:
    """Render the data dictionary from the schema's comments.

    \b
    Example:
      aied db docs --out docs/data-dictionary.md
    """
    from warehouse.dictionary import render_data_dictionary
    from warehouse.schema import metadata

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_data_dictionary(metadata), encoding="utf-8")
    click.echo(f"wrote {out}")


@db.command(name="analyst-role")
@click.option("--role", default="aied_analyst", show_default=True)
@click.option("--password", envvar="AIED_ANALYST_PASSWORD", help="Or AIED_ANALYST_PASSWORD.")
def analyst_role(role: str, password: str | None) -> None:
    """Create a read-only analyst role on PostgreSQL (analyst tables and views only).

    \b
    Example:
      AIED_ANALYST_PASSWORD=... aied db analyst-role --role analyst
    """
    from flows.settings import get_settings
    from warehouse.db import create_warehouse_engine
    from warehouse.roles import create_analyst_role

    create_analyst_role(create_warehouse_engine(get_settings().warehouse_url), role, password)
    click.echo(f"role {role} can read the analyst tables and views")


@db.command()
def counts() -> None:
    """Print the row count of every warehouse table.

    \b
    Example:
      aied db counts
    """
    from flows.settings import get_settings
    from warehouse.db import create_warehouse_engine
    from warehouse.load import count_rows

    _echo_json(count_rows(create_warehouse_engine(get_settings().warehouse_url)))


if __name__ == "__main__":
    sys.exit(main())

