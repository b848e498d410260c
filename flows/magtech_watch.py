"""The weekly new-issue check for a Magtech journal site.

A journal's RSS feed can be years stale; its current-issue page is the signal. The check
fetches that one page, compares the issue it shows with the last issue seen (kept in
``source_state`` under source ``magtech-watch`` and the journal's ISSN, state
``{"last_issue": [year, volume, issue]}``) and, when the issue is new, emits
``aied.magtech.issue.detected`` for the journal; that event starts the journal's
``aied-ingest/ingest-magtech-<ISSN>`` deployment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import runtime as rt
from flows.settings import http_limits
from sources.http import build_session
from warehouse.state import get_watermark, set_watermark

#: The source_state key of the check (the ingest keeps its own watermark under "magtech").
WATCH_STATE_SOURCE = "magtech-watch"

Issue = tuple[int, int, int]


class IssueNotFoundError(RuntimeError):
    """The current-issue page answered, but no year/volume/issue could be read from it."""


def stored_issue(state: dict[str, Any]) -> Issue | None:
    """The last seen issue from the stored state, or None."""
    value = state.get("last_issue")
    if not value:
        return None
    year, volume, issue = (int(v) for v in value)
    return year, volume, issue


def is_new_issue(current: Issue, last: Issue | None) -> bool:
    """True when the site shows an issue after the last one seen (or none was seen)."""
    return last is None or current > last


@task(name="fetch-current-issue", retries=0, cache_policy=NO_CACHE)
def fetch_current_issue_task(base_url: str, issn: str, contact_email: str | None,
                             limits: dict[str, Any] | None = None
                             ) -> tuple[str, int, Issue | None]:
    """Fetch the journal's current-issue page politely; (url, status, issue or None).

    ``limits``: :func:`flows.settings.http_limits` of the magtech source.
    """
    from sources.magtech import fetch_current_issue

    session = build_session(contact_email=contact_email, **(limits or {}))
    response, issue = fetch_current_issue(session, base_url=base_url, issn=issn,
                                          throttle=rt.prefect_throttle("magtech"))
    return response.url, response.status, (tuple(issue) if issue is not None else None)


@flow(name="aied-magtech-watch", flow_run_name="watch-{issn}")
def magtech_watch_flow(issn: str, base_url: str | None = None,
                       emit_event: bool = True) -> dict[str, Any]:
    """Check one journal's current issue; emit ``aied.magtech.issue.detected`` when it is new.

    Raises:
        IssueNotFoundError: The page shows no readable year/volume/issue (the site changed?);
            the stored state is left alone so the next check tries again.
    """
    from flows.extract import DEFAULT_BASE_URLS

    logger = get_run_logger()
    env = rt.open_runtime()
    journal = env.config.journal(issn)
    base = base_url or journal.site_url or DEFAULT_BASE_URLS["magtech"]
    rt.ensure_limits(env.config, ["magtech"])
    url, status, current = fetch_current_issue_task(
        base, journal.issn, env.settings.secret("contact_email"),
        http_limits(env.config.source("magtech")))
    if current is None:
        msg = (f"{journal.issn}: no year/volume/issue found on the current-issue page {url} "
               f"(HTTP {status}); the page layout may have changed")
        raise IssueNotFoundError(msg)
    _, state = get_watermark(env.engine, WATCH_STATE_SOURCE, journal.issn)
    last = stored_issue(state)
    summary: dict[str, Any] = {
        "issn": journal.issn, "url": url, "current": list(current),
        "previous": list(last) if last else None, "new": is_new_issue(current, last),
    }
    if not summary["new"]:
        if last is not None and current < last:
            logger.warning("%s: the site shows %s, older than the last seen %s; nothing to do",
                           journal.issn, current, last)
        else:
            logger.info("%s: issue %d/%d/%d was already seen", journal.issn, *current)
        return summary
    logger.info("%s: new issue %d vol %d no %d (last seen %s)", journal.issn, *current, last)
    if emit_event:
        year, volume, number = current
        rt.emit(rt.EVENT_ISSUE_DETECTED, resource_id=issue_resource_id(journal.issn),
                payload={"issn": journal.issn, "year": year, "volume": volume,
                         "issue": number, "previous": summary["previous"], "url": url,
                         "base_url": base})
    now = datetime.now(UTC)
    set_watermark(env.engine, WATCH_STATE_SOURCE, journal.issn, now.date().isoformat(),
                  {"last_issue": list(current), "detected_at": now.isoformat()})
    return summary


def issue_resource_id(issn: str) -> str:
    """The event's resource: the journal (its ingest deployment's trigger matches it exactly)."""
    return f"aied.journal.{issn.upper()}"
