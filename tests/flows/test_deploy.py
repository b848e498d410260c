"""The deployments declared in the repository: schedules, triggers, and prefect.yaml agreeing.

``build_deployments`` (what ``aied serve`` serves) and ``prefect.yaml`` (what ``prefect
deploy --all`` reads) are both checked against the packaged aied.toml; the trigger parameter
templates are rendered with the Prefect server's own template code against real events.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import yaml

from flows import runtime as rt
from flows.deploy import (
    IMPORT_DEPLOYMENT,
    NOTIFY_DEPLOYMENT,
    PROCESS_DEPLOYMENT,
    RECLASSIFY_DEPLOYMENT,
    REPORT_DEPLOYMENT,
    DeployError,
    build_deployment,
    build_deployments,
    deployment_specs,
    main,
    render_prefect_yaml,
    serve_all,
)
from flows.magtech_watch import issue_resource_id
from flows.settings import PACKAGED_CONFIG, Journal, ProjectConfig, load_config

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "prefect.yaml"
SEED_ISSN = "1673-677X"


@pytest.fixture(scope="module")
def packaged() -> ProjectConfig:
    return load_config(PACKAGED_CONFIG)


@pytest.fixture(scope="module")
def deployments(packaged: ProjectConfig) -> dict[str, Any]:
    """What ``aied serve`` serves, by full name ``flow/deployment``."""
    return {f"{d.flow_name}/{d.name}": d for d in build_deployments(packaged)}


@pytest.fixture(scope="module")
def declared() -> dict[str, Any]:
    """prefect.yaml parsed as plain YAML."""
    return yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))


def cron_of(deployment: Any) -> list[tuple[str, str]]:
    return [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules]


def test_one_scheduled_ingest_per_source_and_journal(deployments: dict[str, Any],
                                                     packaged: ProjectConfig) -> None:
    crossref = packaged.source("crossref")
    for journal in packaged.journals_on("crossref"):
        ingest = deployments[f"aied-ingest/ingest-crossref-{journal.issn}"]
        assert ingest.parameters == {"source": "crossref", "scope": journal.issn}
        assert cron_of(ingest) == [(crossref["schedule"], crossref["timezone"])]
        assert not ingest.triggers
    for source in ("openalex", "pubmed", "arxiv"):
        options = packaged.source(source)
        assert cron_of(deployments[f"aied-ingest/ingest-{source}"]) == [
            (options["schedule"], options["timezone"])]
    watch = deployments[f"aied-magtech-watch/watch-{SEED_ISSN}"]
    assert cron_of(watch) == [("0 7 * * 1", "Asia/Shanghai")]  # weekly, Beijing time
    assert watch.parameters == {"issn": SEED_ISSN, "base_url": "http://zhyxjy.magtechjournal.com"}
    ingests = [name for name in deployments if name.startswith("aied-ingest/")]
    assert len(ingests) == len(packaged.journals_on("crossref")) + 3 + 1  # + magtech


def test_every_deployment_has_a_module_entrypoint_and_one_way_to_start(
        deployments: dict[str, Any]) -> None:
    for name, deployment in deployments.items():
        assert deployment.entrypoint.startswith("flows."), name
        assert ":" not in deployment.entrypoint, name
        # the event chain is never scheduled; the scheduled ingests never wait for events
        assert bool(deployment.schedules) != bool(deployment.triggers), name


@pytest.mark.parametrize(("deployment", "event", "resource"), [
    (PROCESS_DEPLOYMENT, rt.EVENT_BATCH_LANDED, "aied.batch.20260101T050000Z-1a2b3c4d"),
    (REPORT_DEPLOYMENT, rt.EVENT_WAREHOUSE_LOADED, "aied.warehouse.5f0c2e"),
    (REPORT_DEPLOYMENT, rt.EVENT_WAREHOUSE_LOADED, "aied.warehouse.reclassified"),
    (RECLASSIFY_DEPLOYMENT, rt.EVENT_TAXONOMY_CHANGED, "aied.taxonomy.v2"),
    (IMPORT_DEPLOYMENT, rt.EVENT_FILE_DROPPED, "aied.inbox.20260101T050000-export.ris"),
    (NOTIFY_DEPLOYMENT, rt.EVENT_QUALITY_FAILED, "aied.batch.20260101T050000Z-1a2b3c4d"),
    (f"aied-ingest/ingest-magtech-{SEED_ISSN}", rt.EVENT_ISSUE_DETECTED,
     issue_resource_id(SEED_ISSN)),
])
def test_each_event_triggers_its_deployment(deployments: dict[str, Any], deployment: str,
                                            event: str, resource: str) -> None:
    from prefect.events.schemas.events import Resource

    (trigger,) = deployments[deployment].triggers
    assert trigger.expect == {event}
    assert trigger.match.matches(Resource({"prefect.resource.id": resource}))


def test_an_issue_of_another_journal_does_not_trigger_the_seed_ingest(
        deployments: dict[str, Any]) -> None:
    from prefect.events.schemas.events import Resource

    (trigger,) = deployments[f"aied-ingest/ingest-magtech-{SEED_ISSN}"].triggers
    assert not trigger.match.matches(Resource({"prefect.resource.id":
                                               issue_resource_id("1000-0000")}))


def test_process_runs_one_batch_at_a_time(deployments: dict[str, Any]) -> None:
    process = deployments[PROCESS_DEPLOYMENT]
    assert process.concurrency_limit == 1
    assert process.concurrency_options.collision_strategy.value == "ENQUEUE"


def render(parameters: dict[str, Any], event: str, payload: dict[str, Any],
           resource: str = "aied.batch.b1") -> dict[str, Any]:
    """Render trigger parameters exactly as the Prefect server does for a RunDeployment."""
    from prefect.server.events.actions import RunDeployment
    from prefect.server.events.schemas.events import ReceivedEvent
    from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

    received = ReceivedEvent(occurred=datetime.now(UTC), event=event, id=uuid4(),
                             resource={"prefect.resource.id": resource}, payload=payload)
    values = copy.deepcopy(parameters)
    RunDeployment._upgrade_v1_templates(values)  # plain strings become json+jinja templates
    return hydrate(values, HydrationContext(raise_on_error=True, render_jinja=True,
                                            jinja_context={"event": received}))


def test_process_parameters_render_from_the_landed_event(deployments: dict[str, Any]) -> None:
    (trigger,) = deployments[PROCESS_DEPLOYMENT].triggers
    payload = {"source": "crossref", "scope": "0142-159X", "batch_id": "b1", "count": 3,
               "batch_path": "/data/landing/crossref/2026-01-01/b1 (copy)"}
    assert render(trigger.parameters, rt.EVENT_BATCH_LANDED, payload) == {
        "batch_path": "/data/landing/crossref/2026-01-01/b1 (copy)", "batch_id": "b1"}
    assert render(trigger.parameters, rt.EVENT_BATCH_LANDED,
                  {"batch_path": "/data/x"})["batch_id"] == ""


def test_a_template_without_string_filter_would_create_no_run() -> None:
    from prefect.utilities.schema_tools.hydration import HydrationError

    with pytest.raises(HydrationError):
        render({"event_id": "{{ event.id }}"}, rt.EVENT_QUALITY_FAILED, {})


def test_chain_parameters_render_with_their_types(deployments: dict[str, Any]) -> None:
    def params(name: str) -> dict[str, Any]:
        (trigger,) = deployments[name].triggers
        return trigger.parameters

    assert render(params(RECLASSIFY_DEPLOYMENT), rt.EVENT_TAXONOMY_CHANGED, {}) == {
        "taxonomy_path": ""}
    assert render(params(RECLASSIFY_DEPLOYMENT), rt.EVENT_TAXONOMY_CHANGED,
                  {"taxonomy_path": None}) == {"taxonomy_path": ""}
    assert render(params(RECLASSIFY_DEPLOYMENT), rt.EVENT_TAXONOMY_CHANGED,
                  {"taxonomy_path": "tax/v2.toml"}) == {"taxonomy_path": "tax/v2.toml"}
    assert render(params(IMPORT_DEPLOYMENT), rt.EVENT_FILE_DROPPED,
                  {"path": "/data/inbox/claimed/x.ris"}) == {
        "paths": ["/data/inbox/claimed/x.ris"]}
    notify = render(params(NOTIFY_DEPLOYMENT), rt.EVENT_QUALITY_FAILED,
                    {"batch_id": "b1", "failures": ["doi pattern"]})
    assert notify["event_name"] == rt.EVENT_QUALITY_FAILED
    assert notify["resource_id"] == "aied.batch.b1"
    assert notify["payload"] == {"batch_id": "b1", "failures": ["doi pattern"]}
    assert isinstance(notify["event_id"], str) and isinstance(notify["occurred"], str)


def test_prefect_yaml_is_generated_from_the_packaged_aied_toml(packaged: ProjectConfig) -> None:
    assert PREFECT_YAML.read_text(encoding="utf-8") == render_prefect_yaml(packaged), (
        "prefect.yaml is out of date: run python -m flows.deploy --out prefect.yaml")
    assert main(["--config", str(PACKAGED_CONFIG), "--check", str(PREFECT_YAML)]) == 0


def test_prefect_yaml_declares_the_served_deployments(deployments: dict[str, Any],
                                                      declared: dict[str, Any]) -> None:
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.events import DeploymentTriggerTypes
    from prefect.utilities.importtools import import_object
    from pydantic import TypeAdapter

    triggers = TypeAdapter(DeploymentTriggerTypes)
    assert declared["pull"] == []  # module entrypoints: the installed package is the code
    by_name = {}
    for entry in declared["deployments"]:
        flow = import_object(entry["entrypoint"])  # the entrypoint really names a flow
        by_name[f"{flow.name}/{entry['name']}"] = entry
    assert set(by_name) == set(deployments)
    for name, entry in by_name.items():
        deployment = deployments[name]
        assert entry["work_pool"]["name"] == "aied", name
        assert entry["entrypoint"] == deployment.entrypoint, name
        assert entry["parameters"] == deployment.parameters, name
        schedules = [CronSchedule(cron=s["cron"], timezone=s["timezone"])
                     for s in entry.get("schedules", [])]
        assert [(s.cron, s.timezone) for s in schedules] == cron_of(deployment), name
        parsed = [triggers.validate_python(t) for t in entry.get("triggers", [])]
        assert [(t.name, t.expect, t.match, t.parameters) for t in parsed] == [
            (t.name, t.expect, t.match, t.parameters) for t in deployment.triggers], name
        limit = entry.get("concurrency_limit", {}).get("limit")
        assert limit == deployment.concurrency_limit, name


def test_deployments_follow_the_configuration() -> None:
    config = ProjectConfig(
        journals=(Journal(name="Journal A", issn="1111-1111", platform="crossref"),
                  Journal(name="Site B", issn="2222-2222", platform="magtech",
                          site_url="https://b.example.org/Jwk_b")),
        sources={"crossref": {"schedule": "15 2 * * *", "timezone": "Europe/Berlin"},
                 "pubmed": {},
                 "oai": {"schedule": "0 3 * * 0",
                         "endpoints": [{"name": "zenodo", "url": "https://zenodo.org/oai2d"}]}})
    specs = {f"{s.flow_name}/{s.name}": s for s in deployment_specs(config)}
    ingest = specs["aied-ingest/ingest-crossref-1111-1111"]
    assert [(c.cron, c.timezone) for c in ingest.schedules] == [("15 2 * * *", "Europe/Berlin")]
    assert specs["aied-ingest/ingest-pubmed"].schedules == ()  # configured, no schedule
    assert specs["aied-ingest/ingest-oai-zenodo"].parameters == {
        "source": "oai", "scope": "zenodo", "base_url": "https://zenodo.org/oai2d"}
    assert "aied-ingest/ingest-openalex" not in specs  # not configured: not deployed
    assert specs["aied-ingest/ingest-magtech-2222-2222"].parameters["base_url"] == (
        "https://b.example.org/Jwk_b")
    assert specs["aied-magtech-watch/watch-2222-2222"].schedules == ()  # no [sources.magtech]


def test_a_repeated_journal_is_refused() -> None:
    journal = Journal(name="A", issn="1111-1111", platform="crossref")
    config = ProjectConfig(journals=(journal, journal), sources={"crossref": {}})
    with pytest.raises(DeployError, match="ingest-crossref-1111-1111"):
        deployment_specs(config)


def test_an_invalid_cron_is_refused_with_the_deployment_named() -> None:
    config = ProjectConfig(journals=(), sources={"arxiv": {"schedule": "every monday"}})
    (spec,) = [s for s in deployment_specs(config) if s.name == "ingest-arxiv"]
    with pytest.raises(DeployError, match="ingest-arxiv"):
        build_deployment(spec)


def test_serving_needs_a_prefect_server(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}), \
            pytest.raises(DeployError, match="PREFECT_API_URL"):
        serve_all(watch_inbox=False)


@pytest.mark.events
def test_prefect_yaml_deploys_to_a_process_work_pool(prefect_api: str,
                                                     declared: dict[str, Any]) -> None:
    """``prefect --no-prompt deploy --all`` accepts prefect.yaml as committed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="aied", type="process"), overwrite=True)
    env = {**os.environ, "PREFECT_API_URL": prefect_api,
           "PREFECT_SERVER_EPHEMERAL_ENABLED": "false"}
    made: list[Any] = []
    try:
        result = subprocess.run(
            [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        with get_client(sync_client=True) as client:
            made = [d for d in client.read_deployments() if d.work_pool_name == "aied"]
            by_name = {d.name: d for d in made}
            assert set(by_name) == {e["name"] for e in declared["deployments"]}
            process = by_name["process-batch"]
            assert process.entrypoint == "flows.process.process_flow"
            assert process.global_concurrency_limit.limit == 1
            assert process.concurrency_options.collision_strategy.value == "ENQUEUE"
            watch = by_name[f"watch-{SEED_ISSN}"]
            assert [(s.schedule.cron, s.schedule.timezone) for s in watch.schedules] == [
                ("0 7 * * 1", "Asia/Shanghai")]
            automations = client.read_automations_by_name("aied: batch landed -> process")
            assert [a.actions[0].deployment_id for a in automations] == [process.id]
    finally:
        with get_client(sync_client=True) as client:
            for deployment in made:
                client.delete_resource_owned_automations(
                    f"prefect.deployment.{deployment.id}")
                client.delete_deployment(deployment.id)
            client.delete_work_pool("aied")
