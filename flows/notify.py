"""Make a failure visible: post an event to a chat webhook, or log it as an ERROR.

Deployed as ``aied-notify/notify-quality-failed`` (triggered by ``aied.quality.failed``).
``AIED_NOTIFY_WEBHOOK_URL`` (a secret: it usually embeds a token) turns posting on; it is off
by default, and then the failure is only logged. The body is Slack-compatible
(``{"text": ...}``), which Slack, Mattermost, Rocket.Chat and Discord's ``/slack`` endpoint
accept.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.settings import get_settings
from sources.http import redact_text

WEBHOOK_TIMEOUT_SECONDS = 10.0
MAX_PAYLOAD_CHARS = 1500


class NotifyError(RuntimeError):
    """The webhook did not accept the notification."""


def format_message(event_name: str, resource_id: str, payload: dict[str, Any],
                   occurred: str = "") -> str:
    """A short human-readable text for a chat channel."""
    lines = [f":rotating_light: *{event_name}* on `{resource_id}`"]
    if occurred:
        lines.append(f"at {occurred}")
    failures = payload.get("failures")
    if isinstance(failures, list) and failures:
        lines.extend(f"• {item}" for item in failures[:10])
        if len(failures) > 10:
            lines.append(f"… and {len(failures) - 10} more")
    details = {k: v for k, v in payload.items() if k != "failures"}
    if details:
        text = json.dumps(details, ensure_ascii=False, default=str, sort_keys=True)
        lines.append(text[:MAX_PAYLOAD_CHARS])
    return "\n".join(lines)


@task(name="post-webhook", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def post_webhook(url: str, text: str, *, secrets: tuple[str, ...] = ()) -> int:
    """POST ``{"text": text}``; returns the HTTP status.

    Raises:
        NotifyError: Network failure or a non-2xx answer (the URL is never in the message).
    """
    try:
        response = requests.post(url, json={"text": text}, timeout=WEBHOOK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        msg = f"notification webhook unreachable: {redact_text(str(exc), (url, *secrets))}"
        # not `from exc`: the original exception's text carries the webhook URL (a secret)
        raise NotifyError(msg) from None
    if not 200 <= response.status_code < 300:
        msg = (f"notification webhook answered HTTP {response.status_code}: "
               f"{redact_text(response.text[:200], (url, *secrets))}")
        raise NotifyError(msg)
    return response.status_code


@flow(name="aied-notify", flow_run_name="notify-{event_name}")
def notify_flow(event_name: str, resource_id: str = "", payload: dict[str, Any] | None = None,
                occurred: str = "", event_id: str = "") -> dict[str, Any]:
    """Log the event as an ERROR and post it to ``AIED_NOTIFY_WEBHOOK_URL`` when that is set."""
    logger = get_run_logger()
    settings = get_settings()
    text = format_message(event_name, resource_id, payload or {}, occurred)
    logger.error("%s (event %s)", text, event_id or "?")
    url = settings.secret("notify_webhook_url")
    if not url:
        logger.info("AIED_NOTIFY_WEBHOOK_URL is not set: logged only")
        return {"posted": False, "text": text}
    status = post_webhook(url, text, secrets=settings.secrets)
    logger.info("notification posted (HTTP %d)", status)
    return {"posted": True, "status": status, "text": text}
