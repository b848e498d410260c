"""A spent OpenAlex budget: keep what came before, pause the source until the reset."""

from __future__ import annotations

import json
import time

from werkzeug import Request, Response

from tests.conftest import FIXTURES
from warehouse.db import create_warehouse_engine
from warehouse.state import get_watermark

PAGE = (FIXTURES / "openalex" / "works_list_filter_openalex_ids_cursor_page1.json").read_bytes()


def test_budget_exhausted_lands_the_pages_before_and_pauses_the_source(
        prefect_harness, fresh_aied_env, httpserver):
    from flows.ingest import ingest_flow
    from flows.process import process_flow

    calls: list[str] = []
    reset = int(time.time()) + 3600

    def works(request: Request) -> Response:
        calls.append(request.args.get("cursor", ""))
        if len(calls) == 1:
            return Response(PAGE, content_type="application/json")
        body = json.dumps({"error": "Daily budget exhausted", "message": "Daily budget spent"})
        return Response(body, status=429, content_type="application/json",
                        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})

    httpserver.expect_request("/works").respond_with_handler(works)
    base = httpserver.url_for("").rstrip("/")

    first = ingest_flow("openalex", scope="ai-med-ed", base_url=base, full=True,
                        emit_event=False)
    assert first["count"] == 1 and first["paused_until"] is not None
    assert len(calls) == 2, "the budget 429 is not retried"
    engine = create_warehouse_engine(str(fresh_aied_env["AIED_WAREHOUSE_URL"]))
    watermark, state = get_watermark(engine, "openalex", "ai-med-ed")
    assert watermark is None, "an incomplete harvest does not move the watermark"
    assert state["paused_until"] == first["paused_until"]

    processed = process_flow(first["batch_path"], batch_id=first["batch_id"], emit_event=False)
    assert processed["reconciled"] and processed["loaded"] > 0

    second = ingest_flow("openalex", scope="ai-med-ed", base_url=base, emit_event=False)
    assert second["skipped"] is True and len(calls) == 2, "paused: nothing is requested"
