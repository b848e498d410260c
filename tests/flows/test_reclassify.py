"""A new taxonomy version relabels the warehouse from stored fields, keeping the old labels."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from flows.replay import ReplayServer, load_routes
from tests.conftest import FIXTURES
from transforms.classify import load_taxonomy
from warehouse import schema as s
from warehouse.db import create_warehouse_engine

V1 = FIXTURES.parent.parent / "transforms" / "taxonomy" / "v1.toml"


def test_new_taxonomy_version_reclassifies_without_refetching(prefect_harness, fresh_aied_env,
                                                              tmp_path):
    from flows.pipeline import run_pipeline_flow
    from flows.reclassify import reclassify_flow

    with ReplayServer(load_routes(FIXTURES, ["magtech"], mounts={"magtech": "/"})) as site:
        run_pipeline_flow("magtech", scope="1673-677X", base_url=site.url, full=True,
                          report_dir=str(tmp_path / "report"))
        requests_after_load = len(site.log.entries)
        # v2: same rules, new version; "ethics" is no longer a topic term of its own.
        text = V1.read_text(encoding="utf-8")
        v2 = tmp_path / "v2.toml"
        v2.write_text(re.sub(r'^version = "v1"', 'version = "v2"', text, flags=re.M),
                      encoding="utf-8")
        assert load_taxonomy(v2).version == "v2"
        result = reclassify_flow(str(v2), emit_event=False)
        assert len(site.log.entries) == requests_after_load, "reclassifying never refetches"

    engine = create_warehouse_engine(str(fresh_aied_env["AIED_WAREHOUSE_URL"]))
    with engine.connect() as conn:
        pubs = conn.execute(select(func.count()).select_from(s.publications)).scalar_one()
        assert result["reclassified"] == pubs and result["taxonomy_version"] == "v2"
        versions = dict(conn.execute(
            select(s.publication_classifications.c.taxonomy_version, func.count())
            .group_by(s.publication_classifications.c.taxonomy_version)).all())
        assert versions == {"v1": pubs, "v2": pubs}
        by_version = dict(conn.execute(
            select(s.publication_topics.c.taxonomy_version, func.count())
            .group_by(s.publication_topics.c.taxonomy_version)).all())
        assert by_version["v1"] == by_version["v2"] > 0
        current = conn.execute(select(s.publications.c.taxonomy_version).distinct()).scalars()
        assert list(current) == ["v2"]
        topics = conn.execute(select(s.topics.c.taxonomy_version).distinct()).scalars().all()
        assert sorted(topics) == ["v1", "v2"]
        trends = conn.exec_driver_sql("SELECT DISTINCT topic FROM topic_trends").all()
        assert trends, "trend views follow the current version"
