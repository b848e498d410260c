"""Deployments declared in the repository: cron schedules, the event chain, ``aied serve``.

One list of declarations, :func:`deployment_specs`, read from ``aied.toml``, backs both ways
of running the pipeline against a Prefect server:

* ``aied serve`` calls :func:`serve_all`, which serves :func:`build_deployments` (Prefect
  ``RunnerDeployment`` objects) from this process;
* ``prefect --no-prompt deploy --all`` reads ``prefect.yaml``, which
  :func:`render_prefect_yaml` writes (``python -m flows.deploy --out prefect.yaml``; the
  tests check that the committed file matches ``aied.toml``), for a process work pool.

The chain (each arrow is an event that runs a deployment):

* ``aied.batch.landed`` -> ``aied-process/process-batch`` for that batch;
* ``aied.warehouse.loaded`` -> ``aied-report/report-refresh``;
* ``aied.taxonomy.changed`` -> ``aied-reclassify/reclassify``;
* ``aied.inbox.file.dropped`` -> ``aied-import/import-dropped-file`` for that file;
* ``aied.quality.failed`` -> ``aied-notify/notify-quality-failed`` (a webhook or an ERROR log);
* ``aied.magtech.issue.detected`` -> ``aied-ingest/ingest-magtech-<ISSN>`` for that journal.

Trigger parameters are Jinja templates rendered by the Prefect server. A template that is a
single expression is rendered through JSON, so every string value goes through ``| string``
(a UUID or datetime would otherwise fail and no run would be created, silently).
"""

from __future__ import annotations

import argparse
import copy
import functools
import logging
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows import runtime as rt
from flows.settings import ProjectConfig, get_settings, load_config

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

log = logging.getLogger(__name__)

#: Flow entrypoints as module paths: importable wherever the package is installed.
INGEST_ENTRYPOINT = "flows.ingest.ingest_flow"
PROCESS_ENTRYPOINT = "flows.process.process_flow"
REPORT_ENTRYPOINT = "flows.report.report_flow"
RECLASSIFY_ENTRYPOINT = "flows.reclassify.reclassify_flow"
IMPORT_ENTRYPOINT = "flows.inbox.import_files_flow"
NOTIFY_ENTRYPOINT = "flows.notify.notify_flow"
WATCH_ENTRYPOINT = "flows.magtech_watch.magtech_watch_flow"

PROCESS_DEPLOYMENT = "aied-process/process-batch"
REPORT_DEPLOYMENT = "aied-report/report-refresh"
RECLASSIFY_DEPLOYMENT = "aied-reclassify/reclassify"
IMPORT_DEPLOYMENT = "aied-import/import-dropped-file"
NOTIFY_DEPLOYMENT = "aied-notify/notify-quality-failed"

#: Sources that are fetched on a schedule (``files`` arrive through the inbox instead).
SCHEDULED_SOURCES = ("crossref", "openalex", "pubmed", "arxiv", "oai")
#: Sources whose scope is a journal: one deployment per configured journal.
JOURNAL_SOURCES = ("crossref",)
DEFAULT_TIMEZONE = "UTC"
WORK_POOL = "aied"
PROJECT_NAME = "aied-trends"
YAML_HEADER = (
    "# Generated from aied.toml by `python -m flows.deploy --out prefect.yaml`: do not edit by\n"
    "# hand (tests/flows/test_deploy.py fails when this file and aied.toml disagree).\n"
    "#\n"
    "#   prefect work-pool create aied --type process\n"
    "#   prefect --no-prompt deploy --all\n"
    "#   prefect worker start --pool aied\n"
    "#\n"
    "# Entrypoints are module paths: install the package on every worker machine\n"
    "# (pip install -e .) and give workers the AIED_* environment (see docs/operating.md).\n"
)


class DeployError(RuntimeError):
    """The deployments cannot be built or served (missing server URL, bad schedule)."""


@dataclass(frozen=True)
class CronSpec:
    """A cron schedule in a named IANA time zone."""

    cron: str
    timezone: str = DEFAULT_TIMEZONE


@dataclass(frozen=True)
class TriggerSpec:
    """An event trigger: ``expect`` one event for a matching resource, run with ``parameters``.

    ``parameters`` None means the deployment's own default parameters.
    """

    name: str
    expect: str
    resource_id: str
    parameters: dict[str, Any] | None = None


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment as declared in the repository."""

    name: str
    entrypoint: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: tuple[CronSpec, ...] = ()
    triggers: tuple[TriggerSpec, ...] = ()
    tags: tuple[str, ...] = ()
    #: At most this many runs of the deployment at once; more wait in line (ENQUEUE).
    concurrency_limit: int | None = None

    @property
    def flow_name(self) -> str:
        return _flow_name(self.entrypoint)


@functools.cache
def _flow_name(entrypoint: str) -> str:
    from prefect.utilities.importtools import import_object

    return import_object(entrypoint).name


def _schedule(config: ProjectConfig, source: str) -> tuple[CronSpec, ...]:
    options = config.source(source)
    cron = options.get("schedule")
    if not cron:
        return ()
    return (CronSpec(cron=str(cron), timezone=str(options.get("timezone", DEFAULT_TIMEZONE))),)


def ingest_specs(config: ProjectConfig) -> list[DeploymentSpec]:
    """Scheduled ingests: one per configured API source, one per journal for journal sources.

    A source appears only when aied.toml has a ``[sources.<name>]`` table; without a
    ``schedule`` key its deployment has no schedule (runs are started by hand).
    """
    specs: list[DeploymentSpec] = []
    for source in SCHEDULED_SOURCES:
        if source not in config.sources:
            continue
        schedules = _schedule(config, source)
        what = (f"cron {schedules[0].cron} {schedules[0].timezone}" if schedules
                else "no schedule")
        if source in JOURNAL_SOURCES:
            for journal in config.journals_on(source):
                specs.append(DeploymentSpec(
                    name=f"ingest-{source}-{journal.issn}", entrypoint=INGEST_ENTRYPOINT,
                    description=f"Fetch {journal.name} ({journal.issn}) from {source} "
                                f"incrementally ({what}); lands a batch and emits "
                                f"{rt.EVENT_BATCH_LANDED}.",
                    parameters={"source": source, "scope": journal.issn},
                    schedules=schedules, tags=("aied", "ingest", source)))
        elif source == "oai":
            for endpoint in config.source("oai").get("endpoints", []):
                specs.append(DeploymentSpec(
                    name=f"ingest-oai-{endpoint['name']}", entrypoint=INGEST_ENTRYPOINT,
                    description=f"Harvest the OAI-PMH endpoint {endpoint['name']} "
                                f"incrementally; lands a batch and emits "
                                f"{rt.EVENT_BATCH_LANDED}.",
                    parameters={"source": "oai", "scope": endpoint["name"],
                                "base_url": endpoint["url"]},
                    schedules=schedules, tags=("aied", "ingest", "oai")))
        else:
            specs.append(DeploymentSpec(
                name=f"ingest-{source}", entrypoint=INGEST_ENTRYPOINT,
                description=f"Fetch {source} incrementally ({what}); lands a batch and emits "
                            f"{rt.EVENT_BATCH_LANDED}.",
                parameters={"source": source}, schedules=schedules,
                tags=("aied", "ingest", source)))
    return specs


def magtech_specs(config: ProjectConfig) -> list[DeploymentSpec]:
    """Per Magtech journal: the scheduled new-issue check and the ingest it triggers."""
    from flows.extract import DEFAULT_BASE_URLS
    from flows.magtech_watch import issue_resource_id

    specs: list[DeploymentSpec] = []
    schedules = _schedule(config, "magtech")
    for journal in config.journals_on("magtech"):
        base_url = journal.site_url or DEFAULT_BASE_URLS["magtech"]
        specs.append(DeploymentSpec(
            name=f"watch-{journal.issn}", entrypoint=WATCH_ENTRYPOINT,
            description=f"Check {journal.name}'s current-issue page; a new issue emits "
                        f"{rt.EVENT_ISSUE_DETECTED}.",
            parameters={"issn": journal.issn, "base_url": base_url}, schedules=schedules,
            tags=("aied", "watch", "magtech")))
        specs.append(DeploymentSpec(
            name=f"ingest-magtech-{journal.issn}", entrypoint=INGEST_ENTRYPOINT,
            description=f"Crawl {journal.name} ({journal.issn}) when a new issue is detected.",
            parameters={"source": "magtech", "scope": journal.issn, "base_url": base_url,
                        "max_issues": 1},
            triggers=(TriggerSpec(
                name=f"aied: new issue of {journal.issn} -> ingest",
                expect=rt.EVENT_ISSUE_DETECTED, resource_id=issue_resource_id(journal.issn)),),
            tags=("aied", "ingest", "magtech")))
    return specs


def chain_specs() -> list[DeploymentSpec]:
    """The event-driven deployments (no schedules)."""
    return [
        DeploymentSpec(
            name="process-batch", entrypoint=PROCESS_ENTRYPOINT,
            description="Parse, classify, validate and load the batch named by an "
                        f"{rt.EVENT_BATCH_LANDED} event (a processed batch is skipped).",
            triggers=(TriggerSpec(
                name="aied: batch landed -> process", expect=rt.EVENT_BATCH_LANDED,
                resource_id="aied.batch.*",
                parameters={"batch_path": "{{ event.payload.batch_path | string }}",
                            "batch_id": '{{ event.payload.batch_id | default("") | string }}'}),),
            # One at a time: a batch announced twice at once must not be processed twice
            # (process_flow skips a processed batch, but only once the first run finished).
            concurrency_limit=1, tags=("aied", "process")),
        DeploymentSpec(
            name="report-refresh", entrypoint=REPORT_ENTRYPOINT,
            description="Refresh derived tables and rewrite the trend report after a load.",
            triggers=(TriggerSpec(
                name="aied: warehouse loaded -> report", expect=rt.EVENT_WAREHOUSE_LOADED,
                resource_id="aied.warehouse.*"),),
            tags=("aied", "report")),
        DeploymentSpec(
            name="reclassify", entrypoint=RECLASSIFY_ENTRYPOINT,
            description="Relabel the warehouse when the taxonomy changes.",
            triggers=(TriggerSpec(
                name="aied: taxonomy changed -> reclassify", expect=rt.EVENT_TAXONOMY_CHANGED,
                resource_id="aied.taxonomy*",
                parameters={"taxonomy_path":
                            '{{ (event.payload.taxonomy_path or "") | string }}'}),),
            tags=("aied", "reclassify")),
        DeploymentSpec(
            name="import-dropped-file", entrypoint=IMPORT_ENTRYPOINT,
            description="Import a file dropped into the inbox.",
            triggers=(TriggerSpec(
                name="aied: inbox file -> import", expect=rt.EVENT_FILE_DROPPED,
                resource_id="aied.inbox.*",
                parameters={"paths": ["{{ event.payload.path | string }}"]}),),
            tags=("aied", "import")),
        DeploymentSpec(
            name="notify-quality-failed", entrypoint=NOTIFY_ENTRYPOINT,
            description="Make a failed quality gate visible: post it to AIED_NOTIFY_WEBHOOK_URL "
                        "(Slack-compatible) when set, and log it as an ERROR.",
            triggers=(TriggerSpec(
                name="aied: quality failed -> notify", expect=rt.EVENT_QUALITY_FAILED,
                resource_id="aied.*",
                parameters={"event_name": "{{ event.event | string }}",
                            "resource_id": "{{ event.resource.id | string }}",
                            "event_id": "{{ event.id | string }}",
                            "occurred": "{{ event.occurred | string }}",
                            "payload": "{{ event.payload }}"}),),
            tags=("aied", "notify")),
    ]


def deployment_specs(config: ProjectConfig) -> list[DeploymentSpec]:
    """Every deployment of the project for this configuration, in a stable order.

    Raises:
        DeployError: Two deployments would have the same name.
    """
    specs = ingest_specs(config) + magtech_specs(config) + chain_specs()
    names = [f"{s.flow_name}/{s.name}" for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        msg = f"deployment names repeat: {', '.join(repeated)}; check aied.toml"
        raise DeployError(msg)
    return specs


def _trigger(spec: TriggerSpec) -> Any:
    from prefect.events import DeploymentEventTrigger

    return DeploymentEventTrigger(
        name=spec.name, expect={spec.expect}, match={"prefect.resource.id": spec.resource_id},
        parameters=copy.deepcopy(spec.parameters))


def build_deployment(spec: DeploymentSpec) -> RunnerDeployment:
    """One declaration as a Prefect ``RunnerDeployment`` (module-path entrypoint)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType
    from prefect.utilities.importtools import import_object

    flow = import_object(spec.entrypoint)
    try:
        schedules = [Cron(s.cron, timezone=s.timezone) for s in spec.schedules]
    except ValueError as exc:
        msg = f"deployment {spec.name}: invalid schedule {spec.schedules}: {exc}"
        raise DeployError(msg) from exc
    limit = (ConcurrencyLimitConfig(limit=spec.concurrency_limit,
                                    collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
             if spec.concurrency_limit else None)
    return flow.to_deployment(
        name=spec.name, description=spec.description, parameters=dict(spec.parameters),
        schedules=schedules or None, triggers=[_trigger(t) for t in spec.triggers],
        concurrency_limit=limit, tags=list(spec.tags),
        entrypoint_type=EntrypointType.MODULE_PATH)


def build_deployments(config: ProjectConfig) -> list[RunnerDeployment]:
    """Every deployment for ``serve(...)``: schedules from aied.toml and the event chain."""
    return [build_deployment(spec) for spec in deployment_specs(config)]


def _yaml_entry(spec: DeploymentSpec, work_pool: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": spec.name,
        "entrypoint": spec.entrypoint,
        "description": spec.description,
        "tags": list(spec.tags),
        "parameters": copy.deepcopy(spec.parameters),
    }
    # No key rather than []: `prefect deploy` treats an empty list ambiguously (deprecated).
    if spec.schedules:
        entry["schedules"] = [{"cron": s.cron, "timezone": s.timezone, "active": True}
                              for s in spec.schedules]
    if spec.triggers:
        entry["triggers"] = [_yaml_trigger(t) for t in spec.triggers]
    if spec.concurrency_limit:
        entry["concurrency_limit"] = {"limit": spec.concurrency_limit,
                                      "collision_strategy": "ENQUEUE"}
    entry["work_pool"] = {"name": work_pool, "work_queue_name": None, "job_variables": {}}
    return entry


def _yaml_trigger(trigger: TriggerSpec) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "event", "name": trigger.name, "enabled": True,
        "match": {"prefect.resource.id": trigger.resource_id},
        "expect": [trigger.expect],
    }
    if trigger.parameters is not None:
        item["parameters"] = copy.deepcopy(trigger.parameters)
    return item


def prefect_yaml_document(config: ProjectConfig, *, work_pool: str = WORK_POOL) -> dict[str, Any]:
    """``prefect.yaml`` as data: the same deployments, for a process work pool."""
    from prefect import __version__ as prefect_version

    return {
        "name": PROJECT_NAME,
        "prefect-version": prefect_version,
        "build": None,
        "push": None,
        "pull": [],
        "deployments": [_yaml_entry(s, work_pool) for s in deployment_specs(config)],
    }


def render_prefect_yaml(config: ProjectConfig, *, work_pool: str = WORK_POOL) -> str:
    """The text of ``prefect.yaml`` for this configuration."""
    import yaml

    body = yaml.safe_dump(prefect_yaml_document(config, work_pool=work_pool),
                          sort_keys=False, allow_unicode=True, width=100)
    return YAML_HEADER + body


def _require_api_url() -> str:
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        msg = ("PREFECT_API_URL is not set: serving needs a Prefect server. Start one with "
               "`prefect server start --host 127.0.0.1` and export "
               "PREFECT_API_URL=http://127.0.0.1:4200/api")
        raise DeployError(msg)
    return url


def serve_all(*, watch_inbox: bool = True, limit: int | None = None) -> None:
    """Serve every deployment from this process until it is stopped (Ctrl-C or SIGTERM).

    Creates or updates the Prefect rate and concurrency limits first, then serves the
    schedules and triggers of :func:`build_deployments`; with ``watch_inbox`` a thread
    watches ``$AIED_DATA_DIR/inbox`` and announces each dropped file as an event.

    Args:
        watch_inbox: Also watch the inbox folder.
        limit: At most this many flow runs at once (None: Prefect's default).

    Raises:
        DeployError: PREFECT_API_URL is not set (no temporary server is started).
    """
    from prefect import serve

    from flows.inbox import watch_inbox as watch

    api_url = _require_api_url()
    env = rt.open_runtime()
    limits = rt.ensure_limits(env.config)
    deployments = build_deployments(env.config)
    log.info("serving %d deployments against %s (%d limits ensured)", len(deployments),
             api_url, len(limits))
    stop = threading.Event()
    watcher: threading.Thread | None = None
    if watch_inbox:
        inbox = env.settings.data_dir / "inbox"
        watcher = threading.Thread(target=watch, args=(inbox,), kwargs={"stop": stop},
                                   name="aied-inbox-watcher", daemon=True)
        watcher.start()
        log.info("watching %s for dropped files", inbox)
    try:
        serve(*deployments, limit=limit)
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=5)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.deploy``: print or write prefect.yaml, or check it is current."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.deploy",
        description="Render prefect.yaml from aied.toml. Example: "
                    "python -m flows.deploy --out prefect.yaml")
    parser.add_argument("--config", type=Path, help="aied.toml (default: AIED_CONFIG, "
                        "./aied.toml, then the packaged copy)")
    parser.add_argument("--out", type=Path, help="write here instead of standard output")
    parser.add_argument("--check", type=Path, metavar="PREFECT_YAML",
                        help="exit 1 if this file differs from what aied.toml gives")
    parser.add_argument("--work-pool", default=WORK_POOL, help="work pool name")
    args = parser.parse_args(argv)
    config = load_config(args.config or get_settings().config_path)
    text = render_prefect_yaml(config, work_pool=args.work_pool)
    if args.check:
        current = args.check.read_text(encoding="utf-8") if args.check.exists() else ""
        if current != text:
            print(f"{args.check} is out of date: run python -m flows.deploy --out "
                  f"{args.check}", file=sys.stderr)
            return 1
        return 0
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
