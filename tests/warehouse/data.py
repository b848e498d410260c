"""A small hand-made warehouse dataset, inserted with SQLAlchemy Core, and its expected views.

The numbers in the ``EXPECTED_*`` constants were worked out by hand from the rows below (see
the comments next to each publication).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert

from warehouse import schema as s

CJME = "1673-677X"  # Chinese Journal of Medical Education
ACADMED = "1040-2446"  # Academic Medicine

JOURNALS = [
    {"issn": CJME, "title": "Chinese Journal of Medical Education", "title_zh": "中华医学教育杂志",
     "platform": "magtech"},
    {"issn": ACADMED, "title": "Academic Medicine", "title_zh": None, "platform": "crossref"},
]

TOPICS = [
    {"topic": "genai-llm", "taxonomy_version": "1",
     "label_en": "Generative AI and large language models",
     "label_zh": "生成式人工智能与大语言模型"},
    {"topic": "adaptive-learning", "taxonomy_version": "1",
     "label_en": "Intelligent tutoring and adaptive learning", "label_zh": "智能导学与个性化学习"},
    {"topic": "assessment", "taxonomy_version": "1",
     "label_en": "AI for assessment and evaluation", "label_zh": "智能评价与考核"},
    # An older taxonomy version that no publication uses any more: its label must not show.
    {"topic": "genai-llm", "taxonomy_version": "0", "label_en": "OLD LABEL", "label_zh": "旧"},
]


def _pub(pub_id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {c.name: None for c in s.publications.columns}
    row.update(pub_id=pub_id, title=f"Title of {pub_id}", taxonomy_version="1")
    row.update(fields)
    return row


PUBLICATIONS = [
    # CJME 2023: three publications, two AI; lags 90, 120, 40 days.
    _pub("p1", journal_issn=CJME, pub_year=2023, pub_month=3, is_ai_education=True,
         language="zh", date_precision="month", published_date=date(2023, 3, 1),
         received_date=date(2022, 12, 1)),
    _pub("p2", journal_issn=CJME, pub_year=2023, pub_month=5, is_ai_education=True,
         language="zh", date_precision="day", published_date=date(2023, 5, 15),
         received_date=date(2023, 1, 15)),
    _pub("p3", journal_issn=CJME, pub_year=2023, pub_month=None, is_ai_education=False,
         language="zh", date_precision="day", published_date=date(2023, 2, 10),
         received_date=date(2023, 1, 1)),
    # CJME 2024: one AI publication without dates.
    _pub("p4", journal_issn=CJME, pub_year=2024, pub_month=1, is_ai_education=True,
         language="zh", date_precision="month", published_date=date(2024, 1, 1)),
    # Academic Medicine 2024: one AI, one not, one unclassified; lags 30, 20, and one
    # published before it was received (left out of publication_lag).
    _pub("p5", journal_issn=ACADMED, journal_title="Acad Med", pub_year=2024, pub_month=6,
         is_ai_education=True, language="en", date_precision="day",
         published_date=date(2024, 6, 30), received_date=date(2024, 5, 31)),
    _pub("p6", journal_issn=ACADMED, pub_year=2024, pub_month=3, is_ai_education=False,
         language="en",
         date_precision="day", published_date=date(2024, 3, 21),
         received_date=date(2024, 3, 1)),
    _pub("p8", journal_issn=ACADMED, pub_year=2024, is_ai_education=None, language="en",
         date_precision="day", published_date=date(2024, 2, 1),
         received_date=date(2024, 5, 1)),
    # A preprint without journal (AI, 2024, February) and a record without a year.
    _pub("p7", pub_year=2024, pub_month=2, is_ai_education=True, language="en",
         date_precision="day", published_date=date(2024, 2, 2)),
    _pub("p9", journal_issn=ACADMED, pub_year=None, is_ai_education=True, language="en"),
]

PUBLICATION_TOPICS = [
    ("p1", "genai-llm", "1"),
    ("p2", "genai-llm", "1"),
    ("p2", "assessment", "1"),
    ("p4", "adaptive-learning", "1"),
    ("p4", "genai-llm", "0"),  # old version: ignored
    ("p5", "genai-llm", "1"),
    ("p7", "genai-llm", "1"),
    ("p9", "genai-llm", "1"),  # no year: ignored
    ("p3", "assessment", "1"),  # not AI-in-education: ignored
]

KEYWORDS = [
    ("kw1", "large language model"),
    ("kw2", "chatgpt"),
    ("kw3", "medical education"),
    ("kw4", "assessment"),
]

PUBLICATION_KEYWORDS = [
    ("p1", "kw1"), ("p1", "kw2"), ("p1", "kw3"),
    ("p2", "kw1"), ("p2", "kw3"), ("p2", "kw4"),
    ("p5", "kw1"), ("p5", "kw2"),
    ("p3", "kw2"), ("p3", "kw3"),  # not AI-in-education: ignored
]

ETL_RUNS = [
    {"run_id": "run-crossref-1", "source": "crossref", "status": "succeeded",
     "started_at": datetime(2026, 5, 1, 8, 0, tzinfo=UTC),
     "finished_at": datetime(2026, 5, 1, 8, 5, tzinfo=UTC), "fetched": 3, "loaded": 3,
     "quarantined": 0, "duplicates": 0},
    {"run_id": "run-magtech-7", "source": "magtech", "status": "succeeded",
     "started_at": datetime(2026, 5, 2, 9, 0, tzinfo=UTC),
     "finished_at": datetime(2026, 5, 2, 9, 30, tzinfo=UTC), "fetched": 4, "loaded": 4,
     "quarantined": 0, "duplicates": 0},
    {"run_id": "run-pubmed-2", "source": "pubmed", "status": "failed",
     "started_at": datetime(2026, 5, 3, 9, 0, tzinfo=UTC),
     "finished_at": datetime(2026, 5, 3, 9, 1, tzinfo=UTC), "fetched": 2, "loaded": 0,
     "quarantined": 2, "duplicates": 0},
]

# (topic, label_en, label_zh, year, publications, ai_publications, share)
EXPECTED_TOPIC_TRENDS = [
    ("adaptive-learning", "Intelligent tutoring and adaptive learning", "智能导学与个性化学习",
     2024, 1, 3, 1 / 3),
    ("assessment", "AI for assessment and evaluation", "智能评价与考核", 2023, 1, 2, 0.5),
    ("genai-llm", "Generative AI and large language models", "生成式人工智能与大语言模型",
     2023, 2, 2, 1.0),
    ("genai-llm", "Generative AI and large language models", "生成式人工智能与大语言模型",
     2024, 2, 3, 2 / 3),
]

# (topic, year, month, publications, ai_publications, share)
EXPECTED_TOPIC_TRENDS_MONTHLY = [
    ("adaptive-learning", 2024, 1, 1, 1, 1.0),
    ("assessment", 2023, 5, 1, 1, 1.0),
    ("genai-llm", 2023, 3, 1, 1, 1.0),
    ("genai-llm", 2023, 5, 1, 1, 1.0),
    ("genai-llm", 2024, 2, 1, 1, 1.0),
    ("genai-llm", 2024, 6, 1, 1, 1.0),
]

# (year, publications, ai_publications, ai_share, ai_publications_zh, ai_publications_other)
EXPECTED_YEARLY_TRENDS = [
    (2023, 3, 2, 2 / 3, 2, 0),
    (2024, 5, 3, 3 / 5, 1, 2),
]

# (journal_issn, journal_title, journal_title_zh, year, publications, ai_publications, ai_share)
EXPECTED_JOURNAL_TRENDS = [
    (ACADMED, "Academic Medicine", None, 2024, 3, 1, 1 / 3),
    (CJME, "Chinese Journal of Medical Education", "中华医学教育杂志", 2023, 3, 2, 2 / 3),
    (CJME, "Chinese Journal of Medical Education", "中华医学教育杂志", 2024, 1, 1, 1.0),
]

# (journal_issn, journal_title, year, publications, mean, median, min, max)
EXPECTED_PUBLICATION_LAG = [
    (ACADMED, "Academic Medicine", 2024, 2, 25.0, 25.0, 20, 30),
    (CJME, "Chinese Journal of Medical Education", 2023, 3, 250 / 3, 90.0, 40, 120),
]

# (keyword_a, keyword_b, publications, publications_a, publications_b, jaccard) for top 3
EXPECTED_COOCCURRENCE_TOP3 = [
    ("large language model", "chatgpt", 2, 3, 2, 2 / 3),
    ("large language model", "medical education", 2, 3, 2, 2 / 3),
    ("chatgpt", "medical education", 1, 2, 2, 1 / 3),
]


def insert_dataset(bind: Engine | Connection) -> None:
    """Insert the dataset above (into an empty, migrated warehouse)."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            insert_dataset(conn)
        return
    conn = bind
    conn.execute(insert(s.journals), JOURNALS)
    conn.execute(insert(s.topics), TOPICS)
    conn.execute(insert(s.publications), PUBLICATIONS)
    conn.execute(
        insert(s.publication_topics),
        [{"pub_id": p, "topic": t, "taxonomy_version": v, "score": 1.0}
         for p, t, v in PUBLICATION_TOPICS],
    )
    conn.execute(
        insert(s.keywords), [{"keyword_id": k, "keyword": w, "language": "en"} for k, w in KEYWORDS]
    )
    conn.execute(
        insert(s.publication_keywords),
        [{"pub_id": p, "keyword_id": k} for p, k in PUBLICATION_KEYWORDS],
    )
    conn.execute(insert(s.etl_runs), ETL_RUNS)


def insert_burst_series(
    bind: Engine | Connection, *, topic: str, counts: dict[int, int], totals: dict[int, int]
) -> None:
    """Insert AI-in-education publications so that ``topic_trends`` shows ``counts``.

    Each year gets ``totals[year]`` AI-in-education publications, ``counts[year]`` of which
    carry ``topic`` (taxonomy version 1).
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            insert_burst_series(conn, topic=topic, counts=counts, totals=totals)
        return
    pubs, labels = [], []
    for year, total in totals.items():
        for i in range(total):
            pub_id = f"b{year}_{i:03d}"
            pubs.append(_pub(pub_id, pub_year=year, is_ai_education=True, language="en"))
            if i < counts.get(year, 0):
                labels.append({"pub_id": pub_id, "topic": topic, "taxonomy_version": "1"})
    bind.execute(insert(s.publications), pubs)
    if labels:
        bind.execute(insert(s.publication_topics), labels)


# --- a larger, synthetic but plausible dataset for the report ----------------------------

DEMO_JOURNALS = [
    (CJME, "Chinese Journal of Medical Education", "中华医学教育杂志", "zh", 45),
    ("1003-2800", "Chinese Journal of Higher Medical Education", "中国高等医学教育", "zh", 60),
    (ACADMED, "Academic Medicine", None, "en", 70),
    ("0142-159X", "Medical Teacher", None, "en", 55),
    ("1472-6920", "BMC Medical Education", None, "en", 90),
    ("0360-1315", "Computers & Education", None, "en", 40),
]

DEMO_TOPICS = {
    "genai-llm": ("Generative AI and large language models", "生成式人工智能与大语言模型"),
    "adaptive-learning": ("Intelligent tutoring and adaptive learning", "智能导学与个性化学习"),
    "assessment": ("AI for assessment and evaluation", "智能评价与考核"),
    "simulation-vr": ("AI simulation, virtual patients and XR skills training",
                      "智能虚拟仿真与技能训练"),
    "learning-analytics": ("Learning analytics and educational data mining",
                           "学习分析与教育数据挖掘"),
    "curriculum-literacy": ("AI curriculum, literacy and attitudes", "人工智能课程与素养"),
    "teaching-transformation": ("Teacher roles and teaching transformation", "教师角色与教学变革"),
    "ethics-policy": ("Ethics, integrity and governance", "伦理、诚信与治理"),
    "research-synthesis": ("Bibliometrics, reviews and overviews of the field",
                           "文献计量与研究综述"),
}


def _demo_topic_weights(year: int) -> dict[str, float]:
    genai = 0.03 if year < 2023 else {2023: 0.45, 2024: 0.6, 2025: 0.65}.get(year, 0.65)
    return {
        "genai-llm": genai,
        "adaptive-learning": 0.35 - 0.015 * (year - 2016),
        "assessment": 0.22,
        "simulation-vr": 0.18 + (0.2 if year in (2020, 2021) else 0.0),
        "learning-analytics": 0.2,
        "curriculum-literacy": 0.08 + 0.03 * max(0, year - 2019),
        "teaching-transformation": 0.12,
        "ethics-policy": 0.04 + (0.16 if year >= 2023 else 0.0),
        "research-synthesis": 0.1,
    }


def insert_demo_dataset(bind: Engine | Connection, *, seed: int = 7, scale: float = 1.0) -> None:
    """Insert a plausible multi-journal dataset 2016-2025 (deterministic for a seed)."""
    import random

    if isinstance(bind, Engine):
        with bind.begin() as conn:
            insert_demo_dataset(conn, seed=seed, scale=scale)
        return
    rng = random.Random(seed)
    conn = bind
    conn.execute(insert(s.journals), [
        {"issn": i, "title": t, "title_zh": z, "platform": "magtech" if lang == "zh" else None}
        for i, t, z, lang, _ in DEMO_JOURNALS
    ])
    conn.execute(insert(s.topics), [
        {"topic": k, "taxonomy_version": "1", "label_en": en, "label_zh": zh}
        for k, (en, zh) in DEMO_TOPICS.items()
    ])
    keywords = ["chatgpt", "large language model", "medical education", "deep learning",
                "virtual patient", "assessment", "learning analytics", "ethics",
                "machine learning", "nursing education", "人工智能", "医学教育"]
    conn.execute(insert(s.keywords), [
        {"keyword_id": f"k{i:02d}", "keyword": k, "language": "zh" if ord(k[0]) > 127 else "en"}
        for i, k in enumerate(keywords)
    ])
    pubs, labels, kws = [], [], []
    for issn, title, _zh, lang, volume in DEMO_JOURNALS:
        for year in range(2016, 2026):
            n = max(3, int(volume * scale * (1 + 0.04 * (year - 2016))))
            ai_rate = 0.02 + 0.012 * (year - 2016) + (0.08 if year >= 2023 else 0.0)
            lag_base = 150 if lang == "zh" else 110
            for i in range(n):
                pub_id = f"d{issn[:4]}{year}{i:03d}"
                is_ai = rng.random() < ai_rate
                month = rng.randint(1, 12)
                published = date(year, month, rng.randint(1, 28))
                received = date.fromordinal(
                    published.toordinal() - int(rng.gauss(lag_base - 4 * (year - 2016), 25)))
                pubs.append(_pub(
                    pub_id, journal_issn=issn, journal_title=title, pub_year=year,
                    pub_month=month, is_ai_education=is_ai, language=lang,
                    date_precision="day", published_date=published, received_date=received,
                ))
                if not is_ai:
                    continue
                chosen = [t for t, w in _demo_topic_weights(year).items() if rng.random() < w]
                labels += [{"pub_id": pub_id, "topic": t, "taxonomy_version": "1"}
                           for t in (chosen or ["teaching-transformation"])]
                picks = rng.sample(range(len(keywords)), 3)
                if "genai-llm" in chosen:
                    picks = [0, 1, *picks[:1]] if 0 not in picks[:1] else [0, 1]
                kws += [{"pub_id": pub_id, "keyword_id": f"k{k:02d}"} for k in sorted(set(picks))]
    conn.execute(insert(s.publications), pubs)
    conn.execute(insert(s.publication_topics), labels)
    conn.execute(insert(s.publication_keywords), kws)
    conn.execute(insert(s.etl_runs), ETL_RUNS)
