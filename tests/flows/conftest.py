"""Fixtures for the flow and event tests.

* ``aied_env``: AIED_* settings in a temporary directory (data dir, SQLite warehouse, a small
  aied.toml whose Magtech journal lives on a local test site) for this process and every
  process it starts, while this package's tests run.
* ``prefect_api``: the URL of the session's ONE Prefect test server (``prefect_harness`` in
  ``tests/conftest.py``: ``prefect_test_harness`` takes 10-12 s to start); flows run in this
  process report to it.
* ``site``: a local HTTP server on 127.0.0.1 playing the journal site and the chat webhook.
* ``Served``: ``serve_all()`` (what ``aied serve`` runs) in a subprocess against the test
  server, polling every second; stopped with SIGTERM like a service manager would.
* helpers to land fixture batches and to wait for flow runs of a deployment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

# A run that waits for a deployment concurrency slot (process-batch allows one at a time) is
# retried after this many seconds (Prefect's default, 30 s, would dominate the test time). Read
# by the test server, which starts after collection.
os.environ.setdefault("PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS", "1")

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
ISSN = "1673-677X"
WEBHOOK_PATH = "/hooks/T000/B000/secret-token"
SERVE_START_TIMEOUT = 60.0
RUN_TIMEOUT = 120.0  # generous: a loaded 2-CPU machine starts flow subprocesses slowly

# Hand-made: a Magtech current-issue page reduced to what the issue reader looks at (the
# "2026, 46(1):" citation lines and the issue header); no article links, so a crawl stops here.
CURRENT_ISSUE_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Chinese Journal of Medical Education</title></head>
<body><h2>{year}, Vol. {volume} Issue {issue}</h2>
<ul><li>Applications of artificial intelligence in medical education<br/>
{year}, {volume}({issue}): 1-7.</li>
<li>Large language models as tutors<br/>{year}, {volume}({issue}): 8-13.</li></ul>
</body></html>
"""

TEST_CONFIG = """
[[journals]]
name = "Chinese Journal of Medical Education"
name_zh = "中华医学教育杂志"
issn = "{issn}"
platform = "magtech"
site_url = "{site_url}"

[[journals]]
name = "Medical Teacher"
issn = "0142-159X"
platform = "crossref"

[sources.magtech]
schedule = "0 7 * * 1"
timezone = "Asia/Shanghai"
rate_per_second = 50.0

[sources.crossref]
schedule = "0 5 * * *"
timezone = "UTC"
rate_per_second = 3.0
"""


@dataclass
class Site:
    """The local journal site and webhook: what it serves and what it was sent."""

    server: HTTPServer
    issue: tuple[int, int, int] = (2026, 46, 1)
    webhook_posts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    @property
    def webhook_url(self) -> str:
        return self.server.url_for(WEBHOOK_PATH)

    def current_issue(self, _request: Request) -> Response:
        year, volume, issue = self.issue
        page = CURRENT_ISSUE_PAGE.format(year=year, volume=volume, issue=issue)
        return Response(page.encode("utf-8"), content_type="text/html; charset=utf-8")

    def webhook(self, request: Request) -> Response:
        self.webhook_posts.append(json.loads(request.get_data()))
        return Response("ok", content_type="text/plain")


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    state = Site(server=server)
    server.expect_request("/robots.txt").respond_with_data("", status=404)
    server.expect_request(f"/EN/{ISSN}/current.shtml").respond_with_handler(state.current_issue)
    server.expect_request(WEBHOOK_PATH, method="POST").respond_with_handler(state.webhook)
    yield state
    server.clear()
    server.stop()


@pytest.fixture(scope="package")
def aied_env(tmp_path_factory: pytest.TempPathFactory, site: Site) -> Iterator[dict[str, str]]:
    """AIED_* settings in a temporary directory, set while the tests of this package run."""
    root = tmp_path_factory.mktemp("aied")
    config = root / "aied.toml"
    config.write_text(TEST_CONFIG.format(issn=ISSN, site_url=site.base_url), encoding="utf-8")
    values = {
        "AIED_DATA_DIR": str(root / "data"),
        "AIED_WAREHOUSE_URL": f"sqlite:///{root / 'w.sqlite'}",
        "AIED_CONFIG": str(config),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    patch = pytest.MonkeyPatch()
    for key, value in values.items():
        patch.setenv(key, value)
    for key in ("AIED_NOTIFY_WEBHOOK_URL", "AIED_REPORT_DIR", "AIED_CONTACT_EMAIL"):
        patch.delenv(key, raising=False)
    yield values
    patch.undo()


@pytest.fixture(scope="package")
def prefect_api(prefect_harness: None, aied_env: dict[str, str]) -> str:
    """The API URL of the session's one Prefect test server (``tests/conftest.py``)."""
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


@dataclass
class Served:
    """``serve_all(watch_inbox=True)`` in a subprocess; restartable."""

    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"serve-{self.starts}.log"

    def log_tail(self, chars: int = 6000) -> str:
        texts = [p.read_text(encoding="utf-8", errors="replace")
                 for p in sorted(self.log_dir.glob("serve-*.log"))]
        return "\n".join(texts)[-chars:]

    def start(self) -> None:
        stale = self.trigger_ids()
        self.starts += 1
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c",
                 "from flows.deploy import serve_all; serve_all(watch_inbox=True)"],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready(stale=stale)

    def trigger_ids(self) -> set[Any]:
        """Ids of the automations (event triggers) the served deployments own now."""
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        ids: set[Any] = set()
        with get_client(sync_client=True) as client:
            for name in self.wanted_triggers():
                try:
                    dep = client.read_deployment_by_name(name)
                except ObjectNotFound:
                    continue
                ids |= {a.id for a in client.read_resource_related_automations(
                    f"prefect.deployment.{dep.id}")}
        return ids

    def wanted_triggers(self) -> dict[str, int]:
        """Each deployment declared in the repository and how many event triggers it has."""
        from flows.deploy import deployment_specs
        from flows.settings import get_settings, load_config

        specs = deployment_specs(load_config(get_settings().config_path))
        return {f"{s.flow_name}/{s.name}": len(s.triggers) for s in specs}

    def wait_ready(self, *, stale: set[Any]) -> None:
        """Wait until every deployment is registered, unpaused (a restart unpauses) and has
        its event triggers, created by this start (serve writes a deployment first and then
        replaces its automations, so an event emitted in between would start nothing)."""
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        wanted = self.wanted_triggers()
        deadline = time.monotonic() + SERVE_START_TIMEOUT
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    found = {n: client.read_deployment_by_name(n) for n in wanted}
                except ObjectNotFound:
                    found = {}
                if found and not any(d.paused for d in found.values()) and all(
                        len({a.id for a in client.read_resource_related_automations(
                            f"prefect.deployment.{found[n].id}")} - stale) >= count
                        for n, count in wanted.items() if count):
                    return
                time.sleep(0.25)
        msg = f"serve did not register {list(wanted)} in {SERVE_START_TIMEOUT}s:\n{self.log_tail()}"
        raise AssertionError(msg)

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            msg = f"serve exited with {self.process.returncode}:\n{self.log_tail()}"
            raise AssertionError(msg)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self.process.send_signal(signal.SIGTERM)  # graceful: the runner pauses and exits
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(scope="module")
def served(prefect_api: str, aied_env: dict[str, str], site: Site,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Every deployment served from a subprocess (what ``aied serve`` runs)."""
    env = {**os.environ, **aied_env,
           "PREFECT_API_URL": prefect_api,
           "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
           "PREFECT_RUNNER_POLL_FREQUENCY": "1",
           "AIED_NOTIFY_WEBHOOK_URL": site.webhook_url}
    runner = Served(env=env, log_dir=tmp_path_factory.mktemp("serve-logs"))
    try:
        runner.start()
        yield runner
    finally:
        runner.stop()


def land_fixture_batch(data_dir: Path | str, source: str, names: list[str],
                       *, kind: str = "works") -> tuple[str, Path]:
    """Land fixture files as one complete batch (what an ingest would have written)."""
    from sources.http import FetchedResponse
    from sources.landing import BatchWriter

    with BatchWriter(data_dir, source, params={"scope": "tests"}) as writer:
        for name in names:
            body = (FIXTURES / source / name).read_bytes()
            writer.add(FetchedResponse(
                url=f"http://127.0.0.1/{source}/{name}", status=200,
                headers={"Content-Type": "application/json"}, body=body,
                fetched_at=datetime.now(UTC), kind=kind))
    return writer.batch_id, writer.path


def emit_batch_landed(batch_id: str, batch_path: Path, source: str = "crossref") -> datetime:
    """Emit ``aied.batch.landed`` as an ingest does; returns when it was emitted."""
    from flows import runtime as rt

    emitted = datetime.now(UTC)
    rt.emit(rt.EVENT_BATCH_LANDED, resource_id=f"aied.batch.{batch_id}",
            payload={"source": source, "scope": "tests", "batch_id": batch_id,
                     "batch_path": str(batch_path), "count": 1})
    return emitted


def flow_runs_of(deployment: str, *, where: Callable[[Any], bool] = lambda run: True,
                 after: datetime | None = None) -> list[Any]:
    """Flow runs of a deployment (oldest first), optionally filtered."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(deployment)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])),
            sort=FlowRunSort.START_TIME_ASC, limit=200)
    runs = [r for r in runs if where(r) and (after is None or r.created >= after)]
    return sorted(runs, key=lambda r: r.created)


def wait_for_runs(deployment: str, *, count: int = 1, final: bool = True,
                  where: Callable[[Any], bool] = lambda run: True,
                  after: datetime | None = None, served: Served | None = None,
                  timeout: float = RUN_TIMEOUT) -> list[Any]:
    """Wait until ``count`` runs of the deployment exist (and are final if asked)."""
    deadline = time.monotonic() + timeout
    runs: list[Any] = []
    while time.monotonic() < deadline:
        if served is not None:
            served.check_alive()
        runs = flow_runs_of(deployment, where=where, after=after)
        done = [r for r in runs if not final or (r.state and r.state.is_final())]
        if len(done) >= count:
            return runs
        time.sleep(0.2)
    states = [(r.name, r.state.name if r.state else None) for r in runs]
    log = served.log_tail() if served is not None else ""
    msg = f"{deployment}: wanted {count} runs, have {states} after {timeout}s\n{log}"
    raise AssertionError(msg)


def delays(run: Any, emitted: datetime) -> tuple[float, float | None]:
    """(seconds from emit to run created, seconds from emit to flow code starting)."""
    created = (run.created - emitted).total_seconds()
    started = (run.start_time - emitted).total_seconds() if run.start_time else None
    return created, started


def wait_until_idle(served: Served | None = None, *, deployment: str | None = None,
                    timeout: float = RUN_TIMEOUT) -> None:
    """Wait until no flow run (of the deployment, if named) is pending, running or due."""
    from datetime import timedelta

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    busy = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.SCHEDULED]
    deadline = time.monotonic() + timeout
    active: list[Any] = []
    with get_client(sync_client=True) as client:
        only = None
        if deployment is not None:
            only = DeploymentFilter(id=DeploymentFilterId(
                any_=[client.read_deployment_by_name(deployment).id]))
        while time.monotonic() < deadline:
            if served is not None:
                served.check_alive()
            soon = datetime.now(UTC) + timedelta(seconds=5)
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=busy))),
                deployment_filter=only, limit=200)
            active = [r for r in runs if not r.state.is_scheduled()
                      or (r.expected_start_time and r.expected_start_time <= soon)]
            if not active:
                return
            time.sleep(0.25)
    msg = f"flow runs still active after {timeout}s: {[(r.name, r.state.name) for r in active]}"
    raise AssertionError(msg)
