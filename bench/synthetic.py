"""Realistic synthetic landing batches at any size, deterministic for a seed.

:func:`generate` lands Crossref ``work-list`` pages (1000 works), OpenAlex cursor pages (100
works) and PubMed ``efetch`` ``PubmedArticleSet`` bodies (500 articles) with
:class:`sources.landing.BatchWriter`, shaped like the providers' real payloads, so the real
parsers read them. What the field looks like, and what the pipeline must cope with:

* AI-in-education records next to education without AI, clinical AI and other clinical work
  (titles and structured abstracts assembled from phrase pools);
* Chinese records (Chinese titles and abstracts in Crossref/OpenAlex; in PubMed an English
  bracketed title with a Chinese ``VernacularTitle`` and a Chinese ``OtherAbstract``);
* missing abstracts, year- and month-precision dates, PubMed ``MedlineDate`` ranges;
* the same work in several sources (same DOI in Crossref and OpenAlex; PubMed records found
  by DOI, by PMID or by title alone), and records repeated inside a batch (cursor overlap);
* bad rows that must end in quarantine: malformed DOIs and PMIDs and missing titles (parser
  rejects) and publication dates two years ahead (rejected by the expectation suite).

Titles are unique by construction (a seeded bijection picks each title's phrase combination), so
the expected number of publications is known: :class:`Expected` says what a correct pipeline
must produce. Bodies are built with string templates from pre-escaped phrase pools: a million
records are generated in well under a minute.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from sources.http import FetchedResponse
from sources.landing import BatchWriter

SOURCES: tuple[str, ...] = ("crossref", "openalex", "pubmed")
#: Share of the records each source lands (renormalised over the chosen sources).
SOURCE_SHARES: dict[str, float] = {"crossref": 0.45, "openalex": 0.45, "pubmed": 0.10}
PAGE_SIZES: dict[str, int] = {"crossref": 1000, "openalex": 100, "pubmed": 500}
#: Records per landed batch (a backfill lands several batches per source).
DEFAULT_BATCH_RECORDS = 100_000
#: Of a source's records: repeated inside their batch, and bad rows.
REPEAT_SHARE = 0.005
BAD_SHARE = 0.01
#: Of OpenAlex's records, the works Crossref also has; of PubMed's, works already seen.
OPENALEX_OVERLAP = 0.35
PUBMED_OVERLAP = 0.40
#: Of the publications: kinds, and the Chinese share.
KIND_SHARES: tuple[float, ...] = (0.30, 0.30, 0.18, 0.22)  # ai-edu, edu, clinical AI, clinical
KINDS: tuple[str, ...] = ("ai_education", "education", "clinical_ai", "clinical")
ZH_SHARE = 0.15
CROSSREF_ABSTRACT = 0.55
OPENALEX_ABSTRACT = 0.70
PUBMED_ABSTRACT = 0.90
#: Distinct author lists (rendered once each, then reused).
AUTHOR_VARIANTS = 4_096
FETCHED_AT = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)

# Bad-row reasons per source (parse rejects first, then the validation one).
BAD_REASONS: dict[str, tuple[str, ...]] = {
    "crossref": ("malformed_doi", "missing_title", "future_date"),
    "openalex": ("missing_title", "missing_title", "future_date"),
    "pubmed": ("malformed_pmid", "missing_title", "future_date"),
}


class SyntheticSpecError(ValueError):
    """The generator was asked for something it cannot produce."""


# --------------------------------------------------------------------------- phrase pools

_PREFIX = ("", "Effect of ", "Evaluating ", "Use of ", "Perceptions of ", "Comparing ",
           "Impact of ", "Feasibility of ")
_AI = ("ChatGPT", "GPT-4", "large language models", "generative AI", "an AI chatbot",
       "machine learning", "deep learning", "natural language processing",
       "an intelligent tutoring system", "AI-driven adaptive learning",
       "predictive learning analytics", "computer vision", "artificial intelligence",
       "a retrieval-augmented LLM assistant")
_AI_TASK = ("feedback on clinical reasoning", "automated essay scoring", "OSCE assessment",
            "surgical skills assessment", "personalised learning pathways",
            "licensing exam preparation", "virtual patient simulation", "curriculum design",
            "identifying at-risk students", "academic writing support", "anatomy teaching",
            "question generation for formative assessment", "communication skills training",
            "grading of short-answer questions", "radiology education",
            "history-taking practice", "pharmacology tutoring", "lecture summarisation",
            "plagiarism and integrity checks", "bedside teaching")
_POP = ("undergraduate medical students", "nursing students", "surgical residents",
        "dental students", "pharmacy students", "medical educators", "K-12 pupils",
        "university students", "postgraduate trainees", "physician assistant students",
        "midwifery students", "continuing medical education learners",
        "standardised residency trainees", "public health students", "veterinary students",
        "preclinical students")
_SETTING = ("in China", "in the United States", "at a Canadian medical school",
            "in Germany", "in Saudi Arabia", "in Brazil", "in India", "in Australia",
            "at three Japanese universities", "in the United Kingdom", "in South Korea",
            "in Nigeria", "in Turkey", "in Iran", "at a Dutch academic hospital",
            "in Spain", "in Taiwan", "in Singapore", "in Egypt", "in Pakistan",
            "across European schools", "in a multinational cohort", "in Hong Kong",
            "in Mexico")
_DESIGN = ("a randomized controlled trial", "a cross-sectional survey", "a systematic review",
           "a mixed-methods study", "a scoping review", "a bibliometric analysis",
           "a pilot study", "a qualitative study", "a multicentre study",
           "a quasi-experimental study", "a validation study", "a Delphi study",
           "a meta-analysis", "a prospective cohort study")
_EDU_METHOD = ("the flipped classroom", "problem-based learning", "team-based learning",
               "virtual reality simulation", "high-fidelity simulation",
               "peer-assisted learning", "near-peer teaching", "case-based learning",
               "spaced repetition quizzes", "interprofessional workshops",
               "reflective portfolios", "serious games", "video-based feedback",
               "longitudinal integrated clerkships")
_EDU_TASK = ("clinical skills acquisition", "knowledge retention", "empathy development",
             "exam performance", "teamwork and communication", "procedural confidence",
             "professional identity formation", "burnout prevention",
             "evidence-based medicine skills", "patient safety culture",
             "ultrasound training", "electrocardiogram interpretation",
             "suturing skills", "ethics teaching", "research literacy",
             "handover quality", "leadership training", "cultural competence",
             "prescribing skills", "resuscitation training")
_CLIN_AI = ("deep learning", "machine learning", "a convolutional neural network",
            "natural language processing", "an artificial intelligence algorithm",
            "a gradient boosting model", "a radiomics model", "a transformer model",
            "large language models", "computer vision", "a random forest model",
            "automated image analysis", "a federated learning model", "reinforcement learning")
_CLIN_TASK = ("detection of diabetic retinopathy", "prediction of sepsis",
              "segmentation of lung nodules", "classification of skin lesions",
              "prediction of hospital readmission", "triage of chest radiographs",
              "screening for atrial fibrillation", "grading of prostate biopsies",
              "early warning of clinical deterioration", "diagnosis of pneumonia",
              "prediction of acute kidney injury", "detection of colorectal polyps",
              "staging of liver fibrosis", "risk stratification of heart failure",
              "analysis of discharge summaries", "detection of fractures",
              "prediction of postoperative complications", "classification of ECGs",
              "mammography screening", "stroke outcome prediction")
_PATIENTS = ("adult patients", "older adults", "children", "intensive care patients",
             "patients with type 2 diabetes", "emergency department patients",
             "outpatients", "cancer patients", "pregnant women", "surgical patients",
             "patients with heart failure", "primary care patients",
             "patients with chronic kidney disease", "neonates", "trauma patients",
             "patients with COVID-19")
_CLIN_INT = ("laparoscopic surgery", "early mobilisation", "a nurse-led intervention",
             "statin therapy", "enhanced recovery after surgery", "telemonitoring",
             "vitamin D supplementation", "a fall prevention programme",
             "antibiotic stewardship", "cognitive behavioural therapy", "home-based rehabilitation",
             "smoking cessation counselling", "intensive blood pressure control",
             "pharmacist-led medication review")
_CLIN_COND = ("hip fracture recovery", "hospital-acquired infections", "glycaemic control",
              "postoperative pain", "depressive symptoms", "readmission rates",
              "pressure injuries", "medication adherence", "delirium incidence",
              "quality of life", "length of stay", "functional outcomes",
              "cardiovascular events", "surgical site infections", "anxiety",
              "sleep quality", "frailty", "polypharmacy", "malnutrition", "mortality")

#: Chinese title templates: m = method, g = group, t = task or outcome, d = design.
_ZH_FORMS = ("{m}在{g}{t}中{d}", "基于{m}的{t}在{g}中{d}", "{m}辅助{g}{t}{d}",
             "{m}应用于{g}{t}{d}", "{g}{t}中引入{m}{d}")
_ZH_AI = ("ChatGPT", "大语言模型", "生成式人工智能", "人工智能", "机器学习", "深度学习",
          "智能导学系统", "AI聊天机器人", "自然语言处理", "学习分析技术", "智能评价系统",
          "虚拟数字人")
_ZH_TASK = ("临床思维训练", "形成性评价", "医学影像教学", "虚拟仿真实验教学", "个性化学习",
            "解剖学教学", "病例讨论", "医患沟通训练", "技能考核", "科研写作辅导",
            "住院医师规范化培训", "护理操作训练", "药理学教学", "课程思政", "考试命题")
_ZH_POP = ("医学本科生", "护理专业学生", "住院医师", "研究生", "口腔医学生", "药学专业学生",
           "临床带教教师", "全科医生", "八年制医学生", "预防医学专业学生")
_ZH_DESIGN = ("的应用研究", "的实践与探索", "的效果评价", "的现状调查", "的随机对照研究",
              "的文献计量分析", "的质性研究", "的教学改革")
_ZH_EDU = ("翻转课堂", "以问题为基础的教学", "案例教学法", "情景模拟教学", "团队导向学习",
           "混合式教学", "标准化病人", "思维导图", "同伴互助学习", "线上线下混合教学",
           "导师制", "微课")
_ZH_CLIN = ("深度学习模型", "机器学习算法", "人工智能辅助诊断", "卷积神经网络", "影像组学模型",
            "随机森林模型", "风险预测模型", "自然语言处理")
_ZH_CLIN_TASK = ("糖尿病视网膜病变筛查", "脓毒症早期预警", "肺结节检出", "冠心病风险预测",
                 "骨折识别", "急性肾损伤预测", "皮肤病变分类", "术后并发症预测",
                 "脑卒中预后评估", "乳腺癌筛查")
_ZH_CLIN_INT = ("加速康复外科", "护士主导的干预", "早期活动", "远程监测", "营养支持",
                "多学科协作", "延续护理", "健康教育", "中西医结合治疗", "药学监护")
_ZH_OUTCOME = ("术后康复", "生活质量", "并发症发生率", "住院时间", "焦虑抑郁情绪", "用药依从性",
               "营养状况", "再入院率", "睡眠质量", "自我管理能力")
_ZH_CLIN_COND = ("老年髋部骨折患者", "2型糖尿病患者", "慢性心力衰竭患者", "维持性血液透析患者",
                 "重症监护患者", "早产儿", "脑卒中患者", "慢性阻塞性肺疾病患者",
                 "肿瘤化疗患者", "妊娠期高血压患者")

_ZH_AFFIL = ("北京大学医学部", "复旦大学上海医学院", "中山大学中山医学院",
             "四川大学华西临床医学院", "浙江大学医学院", "首都医科大学", "中国医科大学",
             "南方医科大学", "华中科技大学同济医学院", "中南大学湘雅医学院", "山东大学齐鲁医学院",
             "西安交通大学医学部")
_AFFIL = ("University of Toronto", "Harvard Medical School", "University College London",
          "Karolinska Institutet", "University of Melbourne",
          "Stanford University School of Medicine", "Maastricht University",
          "National University of Singapore", "King Saud University",
          "Charité Universitätsmedizin Berlin", "University of São Paulo",
          "All India Institute of Medical Sciences",
          "McMaster University", "University of Tokyo", "Seoul National University",
          "Peking University Health Science Center", "Fudan University", "Sun Yat-sen University",
          "University of Cape Town", "Monash University", "University of Michigan",
          "Mayo Clinic Alix School of Medicine", "Tehran University of Medical Sciences",
          "Aga Khan University")
_GIVEN = ("James", "Mary", "Wei", "Li", "Mohammed", "Fatima", "Anna", "Lukas", "Sofia",
          "Hiroshi", "Yuki", "Min-jun", "Ji-woo", "Carlos", "Ana", "Priya", "Rahul", "Olga",
          "Ahmed", "Sarah", "David", "Emma", "Jun", "Xiaoming", "Ling", "Hao", "Mei", "Ibrahim",
          "Chloe", "Thomas", "Elif", "Mehmet", "Amara", "Kwame", "Lucas", "Julia", "Noah",
          "Aisha", "Ravi", "Sven")
_FAMILY = ("Smith", "Zhang", "Wang", "Li", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu",
           "Müller", "Schmidt", "Garcia", "Rodriguez", "Kim", "Lee", "Park", "Tanaka",
           "Suzuki", "Singh", "Patel", "Khan", "Ali", "Hassan", "Rossi", "Silva", "Santos",
           "Nguyen", "Johnson", "Brown", "Williams", "Jones", "Martin", "Bernard", "Dubois",
           "Novak", "Kowalski", "Ivanova", "Yilmaz", "Okafor", "Mensah", "O'Brien", "Larsen",
           "Jansen", "de Vries", "Cohen", "Levi", "Gupta", "Sharma", "Ahmed")
_ZH_FAMILY = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱")
_ZH_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟",
             "涛", "明", "超", "秀英", "晓东", "海燕")
_PINYIN_FAMILY = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
                  "Xu", "Sun", "Ma", "Zhu")
_PINYIN_GIVEN = ("Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Yang", "Yan",
                 "Yong", "Jun", "Jie", "Juan", "Tao", "Ming", "Chao", "Xiuying", "Xiaodong",
                 "Haiyan")

_MED_ED_JOURNALS = (
    ("BMC Medical Education", "1472-6920", "10.1186", "Springer Science and Business Media LLC"),
    ("Medical Teacher", "0142-159X", "10.1080", "Informa UK Limited"),
    ("Academic Medicine", "1040-2446", "10.1097", "Ovid Technologies (Wolters Kluwer Health)"),
    ("Medical Education", "0308-0110", "10.1111", "Wiley"),
    ("JMIR Medical Education", "2369-3762", "10.2196", "JMIR Publications Inc."),
    ("Nurse Education Today", "0260-6917", "10.1016", "Elsevier BV"),
    ("Advances in Health Sciences Education", "1382-4996", "10.1007", "Springer"),
    ("Computers and Education", "0360-1315", "10.1016", "Elsevier BV"),
    ("Education and Information Technologies", "1360-2357", "10.1007", "Springer"),
    ("International Journal of Artificial Intelligence in Education", "1560-4292", "10.1007",
     "Springer"),
)
_ZH_JOURNALS = (
    ("Chinese Journal of Medical Education", "中华医学教育杂志", "1673-677X", "10.3760"),
    ("China Higher Medical Education", "中国高等医学教育", "1002-1701", "10.3969"),
    ("Chinese Journal of Medical Education Research", "中华医学教育探索杂志", "2095-1485",
     "10.3760"),
    ("Chinese Journal of Graduate Medical Education", "中国毕业后医学教育", "2096-4161",
     "10.12173"),
    ("Chinese Journal of Nursing Education", "中华护理教育", "1672-9234", "10.3761"),
    ("China Educational Technology", "中国电化教育", "1006-9860", "10.3969"),
)
_JOURNAL_WORDS = ("Medical", "Clinical", "Nursing", "Health Professions", "Surgical",
                  "Dental", "Pharmacy", "Digital", "Educational", "Biomedical", "Learning",
                  "Healthcare", "Simulation", "Informatics", "Technology")
_JOURNAL_FIELDS = ("Education", "Teaching", "Learning Sciences", "Informatics", "Research",
                   "Practice", "Innovation", "Training", "Assessment", "Medicine")
_PUBLISHERS = (("10.1016", "Elsevier BV"), ("10.1007", "Springer Science and Business Media LLC"),
               ("10.1111", "Wiley"), ("10.1080", "Informa UK Limited"),
               ("10.3389", "Frontiers Media SA"), ("10.1371", "Public Library of Science (PLoS)"),
               ("10.1136", "BMJ"), ("10.2196", "JMIR Publications Inc."),
               ("10.1097", "Ovid Technologies (Wolters Kluwer Health)"),
               ("10.1177", "SAGE Publications"))
_SUBJECTS_CR = (("Education", "General Medicine"), ("Education",), ("General Nursing",),
                ("Computer Science Applications", "Education"), ("General Medicine",),
                ("Health Informatics",))
_MESH_EDU = ("Education, Medical, Undergraduate", "Students, Medical", "Curriculum",
             "Educational Measurement", "Clinical Competence", "Education, Nursing",
             "Internship and Residency", "Simulation Training", "Learning", "Teaching")
_MESH_AI = ("Artificial Intelligence", "Machine Learning", "Natural Language Processing",
            "Deep Learning", "Generative Artificial Intelligence", "Neural Networks, Computer")
_MESH_CLIN = ("Humans", "Female", "Male", "Middle Aged", "Aged", "Retrospective Studies",
              "Prognosis", "Risk Factors", "Treatment Outcome", "Sensitivity and Specificity")
_OA_TOPICS = ("Artificial Intelligence in Healthcare and Education",
              "Innovations in Medical Education", "Simulation-Based Education in Healthcare",
              "Online Learning and Analytics", "AI in cancer detection",
              "Clinical Reasoning and Diagnostic Skills", "Nursing education and management",
              "Intelligent Tutoring Systems and Adaptive Learning")
_OA_CONCEPTS = ("Medicine", "Computer science", "Medical education", "Psychology",
                "Artificial intelligence", "Pedagogy", "Mathematics education", "Nursing",
                "Machine learning", "Surgery", "Internal medicine", "Radiology")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _check_pools() -> None:
    """Phrases go into JSON and XML unescaped: none may hold a character that needs it."""
    for name, pool in globals().items():
        if name.startswith("_") and isinstance(pool, tuple):
            for value in pool:
                for text in value if isinstance(value, tuple) else (value,):
                    if isinstance(text, str) and any(ch in text for ch in '"\\<>&'):
                        msg = f"phrase pool {name} has a character templates do not escape"
                        raise SyntheticSpecError(msg)


_check_pools()


# --------------------------------------------------------------------------- the plan


@dataclass
class Expected:
    """What a correct pipeline makes of the generated batches."""

    records: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    bad_rows: dict[str, int] = field(default_factory=dict)
    parse_rejects: int = 0
    validation_rejects: int = 0
    repeats: int = 0
    cross_source_duplicates: int = 0
    publications: int = 0
    ai_education_publications: int = 0
    chinese_records: int = 0
    records_without_abstract: int = 0
    year_precision_records: int = 0
    month_precision_records: int = 0

    @property
    def quarantined(self) -> int:
        return self.parse_rejects + self.validation_rejects

    @property
    def duplicates(self) -> int:
        return self.repeats + self.cross_source_duplicates

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["quarantined"] = self.quarantined
        out["duplicates"] = self.duplicates
        return out


@dataclass
class GeneratedSet:
    """The landed batches and what they hold."""

    data_dir: Path
    batches: list[Path]
    bodies: int
    bytes: int
    seconds: float
    expected: Expected


@dataclass
class _Pubs:
    """Publication-level truth, one numpy array per attribute."""

    kind: np.ndarray
    zh: np.ndarray
    year: np.ndarray
    month: np.ndarray
    day: np.ndarray
    journal: np.ndarray
    title_code: np.ndarray
    rand: np.ndarray  # per-publication random integers for everything else
    has_doi: np.ndarray


def _shares(records: int, sources: Sequence[str]) -> dict[str, int]:
    total = sum(SOURCE_SHARES[s] for s in sources)
    counts = {s: int(records * SOURCE_SHARES[s] / total) for s in sources}
    counts[sources[0]] += records - sum(counts.values())
    return counts


def _issn(rng: np.random.Generator, taken: set[str]) -> str:
    while True:
        digits = "".join(str(d) for d in rng.integers(0, 10, 7))
        total = sum(int(d) * w for d, w in zip(digits, range(8, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        issn = f"{digits[:4]}-{digits[4:]}{'X' if check == 10 else check}"
        if issn not in taken:
            taken.add(issn)
            return issn


@dataclass(frozen=True)
class _Journal:
    title: str
    title_zh: str | None
    issn: str
    prefix: str
    publisher: str
    abbrev: str


def _journals(rng: np.random.Generator, count: int) -> tuple[list[_Journal], int]:
    """Real-looking journals; the Chinese ones come first. Returns (journals, n_chinese)."""
    taken: set[str] = set()
    out = [_Journal(t, z, i, p, "Chinese Medical Association Publishing House", t[:20])
           for t, z, i, p in _ZH_JOURNALS]
    taken.update(j.issn for j in out)
    provinces = ("Guangdong", "Sichuan", "Hubei", "Hunan", "Shandong", "Jiangsu", "Zhejiang",
                 "Fujian", "Henan", "Hebei", "Anhui", "Yunnan", "Guangxi", "Shanxi")
    provinces_zh = ("广东", "四川", "湖北", "湖南", "山东", "江苏", "浙江", "福建", "河南",
                    "河北", "安徽", "云南", "广西", "山西")
    for en, zh in zip(provinces, provinces_zh, strict=True):
        for kind_en, kind_zh in (("Journal of {} Medical University", "{}医科大学学报"),
                                 ("{} Medical Education", "{}医学教育")):
            out.append(_Journal(kind_en.format(en), kind_zh.format(zh), _issn(rng, taken),
                                "10.13" + str(100 + len(out)), "Editorial Office", en[:10]))
    n_zh = len(out)
    for t, i, p, pub in _MED_ED_JOURNALS:
        out.append(_Journal(t, None, i, p, pub, t[:20]))
        taken.add(i)
    seen_titles = {j.title for j in out}
    while len(out) < count:
        a, b = rng.integers(0, len(_JOURNAL_WORDS), 2)
        f = rng.integers(0, len(_JOURNAL_FIELDS))
        form = int(rng.integers(0, 4))
        words = f"{_JOURNAL_WORDS[a]} {_JOURNAL_FIELDS[f]}"
        title = (f"Journal of {words}", f"International Journal of {words}",
                 f"{_JOURNAL_WORDS[b]} and {words}", f"Advances in {words}")[form]
        if title in seen_titles:
            title = f"{title} {('A', 'B', 'C', 'D', 'E', 'F')[len(out) % 6]}"
            if title in seen_titles:
                continue
        seen_titles.add(title)
        prefix, publisher = _PUBLISHERS[len(out) % len(_PUBLISHERS)]
        out.append(_Journal(title, None, _issn(rng, taken), prefix, publisher, title[:20]))
    return out, n_zh


class _Plan:
    """Which publication each source record describes, and which records are bad."""

    def __init__(self, records: int, sources: Sequence[str], seed: int,
                 batch_records: int, today: date) -> None:
        unknown = sorted(set(sources) - set(SOURCES))
        if unknown or not sources:
            msg = f"unknown sources {unknown or '(none)'}; known: {', '.join(SOURCES)}"
            raise SyntheticSpecError(msg)
        if records < 100:
            raise SyntheticSpecError(f"records must be at least 100, got {records}")
        self.sources = [s for s in SOURCES if s in sources]
        self.seed = seed
        self.today = today
        self.batch_records = batch_records
        self.rng = np.random.default_rng(seed)
        self.journals, self.n_zh_journals = _journals(self.rng, max(60, min(4000, records // 300)))
        self.counts = _shares(records, self.sources)
        self.expected = Expected(records=records, by_source=dict(self.counts))
        self._pub_count = 0
        self.plans: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._build()

    def _new_pubs(self, n: int) -> np.ndarray:
        ids = np.arange(self._pub_count, self._pub_count + n, dtype=np.int64)
        self._pub_count += n
        return ids

    def _build(self) -> None:
        rng = self.rng
        seen: list[np.ndarray] = []
        single: dict[str, np.ndarray] = {}
        for source in self.sources:
            n = self.counts[source]
            repeats = int(n * REPEAT_SHARE)
            unique = n - repeats
            overlap = {"openalex": OPENALEX_OVERLAP, "pubmed": PUBMED_OVERLAP}.get(source, 0.0)
            pool = np.unique(np.concatenate(seen)) if seen else np.empty(0, dtype=np.int64)
            if source == "openalex" and "crossref" in self.sources:
                pool = seen[0]
            reused_n = min(int(unique * overlap), pool.size)
            reused = rng.choice(pool, reused_n, replace=False) if reused_n else pool[:0]
            pubs = np.concatenate([reused, self._new_pubs(unique - reused_n)])
            rng.shuffle(pubs)
            single[source] = np.isin(pubs, reused, invert=True)
            seen.append(pubs)
            self.plans[source] = (pubs, np.zeros(unique, dtype=np.int8), np.empty(0))
        # Bad rows only on publications a single source has, never repeated: exact counts.
        multi = np.zeros(self._pub_count, dtype=bool)
        for source in self.sources:
            pubs = self.plans[source][0]
            multi[pubs[~single[source]]] = True
        for source in self.sources:
            pubs, bad, _ = self.plans[source]
            candidates = np.flatnonzero(~multi[pubs])
            n_bad = min(int(self.counts[source] * BAD_SHARE), candidates.size)
            chosen = rng.choice(candidates, n_bad, replace=False)
            reasons = BAD_REASONS[source]
            bad[chosen] = 1 + (np.arange(n_bad) % len(reasons))
            good = np.flatnonzero(bad == 0)
            repeats = self.counts[source] - pubs.size
            repeated = rng.choice(good, repeats, replace=False) if repeats else good[:0]
            self.plans[source] = (pubs, bad, repeated)
            for code, reason in enumerate(reasons, start=1):
                count = int((bad == code).sum())
                self.expected.bad_rows[f"{source}:{reason}"] = (
                    self.expected.bad_rows.get(f"{source}:{reason}", 0) + count)
                if reason == "future_date":
                    self.expected.validation_rejects += count
                else:
                    self.expected.parse_rejects += count
            self.expected.repeats += repeats
        self.pubs = self._pub_attributes(self._pub_count)
        good_pubs = np.concatenate([p[b == 0] for p, b, _ in self.plans.values()])
        distinct = np.unique(good_pubs)
        self.expected.publications = int(distinct.size)
        self.expected.cross_source_duplicates = int(good_pubs.size - distinct.size)
        self.expected.ai_education_publications = int((self.pubs.kind[distinct] == 0).sum())

    def _pub_attributes(self, n: int) -> _Pubs:
        rng = self.rng
        kind = rng.choice(len(KINDS), n, p=KIND_SHARES).astype(np.int8)
        zh = rng.random(n) < ZH_SHARE
        # Publication years skew recent; AI-in-education mostly after 2018.
        base_year = self.today.year - np.minimum(rng.geometric(0.22, n) - 1, 25)
        ai_year = self.today.year - np.minimum(rng.geometric(0.45, n) - 1, 12)
        year = np.where(kind == 0, ai_year, base_year).astype(np.int32)
        month = rng.integers(1, 13, n).astype(np.int32)
        this_year = year == self.today.year
        month = np.where(this_year, np.minimum(month, self.today.month), month)
        day = rng.integers(1, 29, n).astype(np.int32)
        n_j = len(self.journals)
        zh_journal = rng.integers(0, self.n_zh_journals, n)
        other = rng.integers(self.n_zh_journals, n_j, n)
        journal = np.where(zh, zh_journal, other).astype(np.int32)
        title_code = np.empty(n, dtype=np.int64)
        for k in range(len(KINDS)):
            for is_zh in (False, True):
                members = np.flatnonzero((kind == k) & (zh == is_zh))
                size = _title_space(k, is_zh)
                if members.size > size:
                    msg = f"more than {size} titles of one kind requested; add phrases"
                    raise SyntheticSpecError(msg)
                mult = _coprime_multiplier(size, int(rng.integers(1, size)))
                offset = int(rng.integers(0, size))
                title_code[members] = (np.arange(members.size, dtype=np.int64) * mult
                                       + offset) % size
        rand = rng.integers(0, 2**31 - 1, n, dtype=np.int64)
        has_doi = rng.random(n) < 0.93
        return _Pubs(kind, zh, year, month, day, journal, title_code, rand, has_doi)


def _title_space(kind: int, is_zh: bool) -> int:
    pools = _zh_pools(kind) if is_zh else _EN_POOLS[kind]
    return math.prod(len(p) for p in pools)


_EN_POOLS = (
    (_PREFIX, _AI, _AI_TASK, _POP, _SETTING, _DESIGN),
    (_PREFIX, _EDU_METHOD, _EDU_TASK, _POP, _SETTING, _DESIGN),
    (_PREFIX, _CLIN_AI, _CLIN_TASK, _PATIENTS, _SETTING, _DESIGN),
    (_PREFIX, _CLIN_INT, _CLIN_COND, _PATIENTS, _SETTING, _DESIGN),
)


def _coprime_multiplier(size: int, start: int) -> int:
    mult = max(start, 2)
    while math.gcd(mult, size) != 1:
        mult += 1
    return mult


def _digits(code: int, pools: Sequence[Sequence[str]]) -> list[int]:
    out = []
    for pool in pools:
        code, d = divmod(code, len(pool))
        out.append(d)
    return out


# --------------------------------------------------------------------------- text


@dataclass
class _Text:
    """The text of one publication (shared by every source that has it)."""

    title: str  # English, or Chinese for Chinese-only titles
    title_en: str  # English title (PubMed's translation for Chinese records)
    title_zh: str | None
    abstract_parts: list[tuple[str, str]]  # (label, text) in English
    abstract_zh: str | None
    keywords: list[str]
    terms: tuple[str, str, str]  # method, task, population (English)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _text_of(kind: int, zh: bool, code: int, r: int, year: int) -> _Text:
    pools = _EN_POOLS[kind]
    p, m, t, pop, s, d = _digits(code, pools)
    method, task, group = pools[1][m], pools[2][t], pools[3][pop]
    setting, design = pools[4][s], pools[5][d]
    connector = {0: "for", 1: "for", 2: "for", 3: "and"}[kind]
    where = "among" if kind < 2 else "in"
    title_en = _cap(f"{_PREFIX[p]}{method} {connector} {task} {where} {group} {setting}: {design}")
    n = 40 + r % 900
    a = 55 + r % 30
    b = a + 3 + (r >> 5) % 12
    pv = ("0.001", "0.01", "0.03", "0.04")[(r >> 9) % 4]
    if kind == 0:
        parts = [
            ("Background", f"{_cap(method)} is increasingly used for {task}, yet evidence "
                           f"among {group} remains limited."),
            ("Objective", f"To evaluate whether {method} improves {task} and learner "
                          f"satisfaction {setting}."),
            ("Methods", f"We conducted {design} with {n} {group}; learners used {method} "
                        "for formative feedback over one semester and were compared with "
                        "conventional teaching."),
            ("Results", f"Mean scores rose from {a}.{r % 10} to {b}.{(r >> 3) % 10} "
                        f"(p < {pv}); most participants rated the feedback as useful, "
                        "although concerns about accuracy and academic integrity remained."),
            ("Conclusions", f"{_cap(method)} can support {task} in medical education when "
                            "educators verify its output and teach responsible use."),
        ]
    elif kind == 1:
        parts = [
            ("Background", f"{_cap(method)} is widely adopted in health professions "
                           f"education to improve {task}."),
            ("Methods", f"In {design}, {n} {group} {setting} took part in {method}; "
                        "outcomes were measured with validated questionnaires and "
                        "objective structured clinical examinations."),
            ("Results", f"Scores improved from {a}.{r % 10} to {b}.{(r >> 3) % 10} "
                        f"(p < {pv}) and students reported higher engagement."),
            ("Conclusions", f"{_cap(method)} is a feasible approach for {task}; curriculum "
                            "committees should consider it alongside faculty development."),
        ]
    elif kind == 2:
        parts = [
            ("Background", f"Accurate {task} remains a clinical challenge in {group}."),
            ("Methods", f"We developed {method} on {n * 12} retrospective cases {setting} "
                        "and validated it on an external cohort."),
            ("Results", f"The model reached an area under the curve of 0.{b} with a "
                        f"sensitivity of {a}.{r % 10}% (p < {pv})."),
            ("Conclusions", f"{_cap(method)} may support clinicians in {task}; prospective "
                            "trials are needed before deployment."),
        ]
    else:
        parts = [
            ("Background", f"The effect of {method} on {task} in {group} is uncertain."),
            ("Methods", f"This was {design} of {n} {group} {setting}."),
            ("Results", f"{_cap(method)} was associated with improved {task} "
                        f"(odds ratio 0.{a}, p < {pv})."),
            ("Conclusions", f"{_cap(method)} should be considered for {group}."),
        ]
    keywords = [method, task, group.split()[-1]]
    if not zh:
        return _Text(title_en, title_en, None, parts, None, keywords, (method, task, group))
    zpools = _zh_pools(kind)
    zf, zm, zt, zg, zd = _digits(code, zpools)
    zmethod, ztask, zgroup, zdesign = zpools[1][zm], zpools[2][zt], zpools[3][zg], zpools[4][zd]
    title_zh = _ZH_FORMS[zf].format(m=zmethod, g=zgroup, t=ztask, d=zdesign)
    if kind in (0, 1):
        abstract_zh = (
            f"目的：探讨{zmethod}在{zgroup}{ztask}中的应用效果。"
            f"方法：选取{year - 1}年{n}名{zgroup}，随机分为试验组和对照组，"
            f"试验组采用{zmethod}开展{ztask}。"
            f"结果：试验组考核成绩（{b}.{r % 10}±{3 + r % 5}.{r % 7}）分高于对照组"
            f"（{a}.{(r >> 3) % 10}±{4 + r % 4}.{r % 9}）分，差异有统计学意义（P＜{pv}）。"
            f"结论：{zmethod}有助于提升{zgroup}的{ztask}效果，值得在医学教育中推广。"
        )
        keywords_zh = [zmethod, ztask, "医学教育"]
    else:
        abstract_zh = (
            f"目的：分析{zmethod}对{zgroup}{ztask}的价值。方法：回顾性分析{year - 1}年收治的"
            f"{n}例{zgroup}的临床资料。结果：曲线下面积为0.{b}，灵敏度为{a}.{r % 10}%（P＜{pv}）。"
            f"结论：{zmethod}可为{ztask}提供参考。"
        )
        keywords_zh = [zmethod, ztask]
    return _Text(title_zh, title_en, title_zh, parts, abstract_zh, keywords_zh,
                 (method, task, group))


def _zh_pools(kind: int) -> tuple[tuple[str, ...], ...]:
    """Chinese pools in the order form, method, task, group, design."""
    return ((_ZH_FORMS, _ZH_AI, _ZH_TASK, _ZH_POP, _ZH_DESIGN),
            (_ZH_FORMS, _ZH_EDU, _ZH_TASK, _ZH_POP, _ZH_DESIGN),
            (_ZH_FORMS, _ZH_CLIN, _ZH_CLIN_TASK, _ZH_CLIN_COND, _ZH_DESIGN),
            (_ZH_FORMS, _ZH_CLIN_INT, _ZH_OUTCOME, _ZH_CLIN_COND, _ZH_DESIGN))[kind]


def _authors(zh: bool, key: int) -> list[tuple[str, str, str | None, str | None]]:
    """(given, family, affiliation, orcid) for 1-7 authors."""
    count = 1 + (key * 5 + key // 7) % 7
    out = []
    for i in range(count):
        x = (key * 40503 >> (i * 3)) + i * 7919
        if zh:
            given, family = _PINYIN_GIVEN[x % 20], _PINYIN_FAMILY[(x >> 4) % 14]
            affil = _ZH_AFFIL[(x >> 7) % len(_ZH_AFFIL)] if i < 3 else None
        else:
            given, family = _GIVEN[x % len(_GIVEN)], _FAMILY[(x >> 5) % len(_FAMILY)]
            affil = _AFFIL[(x >> 9) % len(_AFFIL)] if (x >> 2) % 5 else None
        orcid = None
        if x % 3 == 0:
            digits = f"{(x * 2654435761) % 10**15:015d}"
            orcid = _orcid(digits)
        out.append((given, family, affil, orcid))
    return out


def _orcid(base15: str) -> str:
    total = 0
    for ch in base15:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    digits = base15 + ("X" if check == 10 else str(check))
    return f"{digits[:4]}-{digits[4:8]}-{digits[8:12]}-{digits[12:]}"


@functools.cache
def _crossref_authors(zh: bool, key: int) -> str:
    return ",".join(
        '{"given":"' + g + '","family":"' + f + '","sequence":"'
        + ("first" if i == 0 else "additional") + '","affiliation":['
        + ('{"name":"' + a + '"}' if a else "") + "]"
        + (',"ORCID":"https://orcid.org/' + o + '","authenticated-orcid":false' if o else "")
        + "}"
        for i, (g, f, a, o) in enumerate(_authors(zh, key))
    )


@functools.cache
def _openalex_authors(zh: bool, key: int) -> str:
    return ",".join(
        '{"author_position":"' + ("first" if i == 0 else "middle")
        + '","author":{"id":"https://openalex.org/A5' + f"{(key * 7 + i * 131) % 10**9:09d}"
        + '","display_name":"' + g + " " + f + '","orcid":'
        + ('"https://orcid.org/' + o + '"' if o else "null") + '},"institutions":['
        + ('{"id":"https://openalex.org/I' + str(1000 + len(a)) + '","display_name":"'
           + a + '","ror":null,"country_code":null,"type":"education"}' if a else "")
        + '],"countries":[],"is_corresponding":' + ("true" if i == 0 else "false")
        + ',"raw_author_name":"' + g + " " + f + '","raw_affiliation_strings":['
        + ('"' + a + '"' if a else "") + "]}"
        for i, (g, f, a, o) in enumerate(_authors(zh, key))
    )


@functools.cache
def _pubmed_authors(zh: bool, key: int) -> str:
    return "".join(
        f'<Author ValidYN="Y"><LastName>{f}</LastName><ForeName>{g}</ForeName>'
        f"<Initials>{g[0]}</Initials>"
        + (f"<Identifier Source=\"ORCID\">{o}</Identifier>" if o else "")
        + (f"<AffiliationInfo><Affiliation>{a}</Affiliation></AffiliationInfo>" if a else "")
        + "</Author>"
        for g, f, a, o in _authors(zh, key)
    )


# --------------------------------------------------------------------------- generation


def generate(data_dir: Path | str, *, records: int, seed: int = 42,
             sources: Sequence[str] = SOURCES, batch_records: int = DEFAULT_BATCH_RECORDS,
             today: date | None = None, processes: int | None = None) -> GeneratedSet:
    """Land ``records`` synthetic source records as complete landing batches.

    Args:
        data_dir: The ``AIED_DATA_DIR`` to land into (``landing/<source>/...``).
        records: Source records in total, bad rows and repeats included (at least 100).
        seed: Everything (bodies, counts, batch ids) follows from it.
        sources: Any of ``crossref``, ``openalex``, ``pubmed``.
        batch_records: At most this many records per landed batch.
        today: The run date bad "future" dates are relative to (default: today).
        processes: Worker processes rendering bodies (default: one per CPU); bodies are
            written by the calling process, in order, so the result does not depend on it.

    Returns:
        The batches, their size, the time taken and the :class:`Expected` outcome.

    Raises:
        SyntheticSpecError: Unknown sources, or fewer than 100 records.
    """
    started = time.perf_counter()
    today = today or date.today()
    plan = _Plan(records, list(sources), seed, batch_records, today)
    renderer = _Renderer(plan)
    tasks = []
    for source in plan.sources:
        for index, (items, page_size) in enumerate(renderer.batches(source)):
            tasks += [(source, index, page_no, items[start:start + page_size], len(items))
                      for page_no, start in enumerate(range(0, len(items), page_size))]
    workers = max(1, min(processes or os.cpu_count() or 1, len(tasks) // 8))
    if workers == 1:
        _init_worker(plan)
        rendered: Iterator[_Page] = map(_render_page, tasks)
        return _land(data_dir, plan, rendered, started)
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(plan,)) as pool:
        return _land(data_dir, plan, pool.imap(_render_page, tasks, chunksize=2), started)


#: What a worker sends back for one page: source, batch index, body, url, kind,
#: content type, (chinese, without abstract, year precision, month precision) counts.
_Page = tuple[str, int, bytes, str, str, str, tuple[int, int, int, int]]
_WORKER: dict[str, _Renderer] = {}


def _init_worker(plan: _Plan) -> None:
    _WORKER["renderer"] = _Renderer(plan)


def _render_page(task: tuple[str, int, int, list[tuple[int, int, bool]], int]) -> _Page:
    source, index, page_no, items, total = task
    renderer = _WORKER["renderer"]
    renderer.reset_counts()
    body, url, kind, ctype = renderer.page(source, items, page_no, total)
    counts = (renderer.chinese_records, renderer.without_abstract,
              renderer.precision["year"], renderer.precision["month"])
    return source, index, body, url, kind, ctype, counts


def _land(data_dir: Path | str, plan: _Plan, pages: Iterator[_Page],
          started: float) -> GeneratedSet:
    """Write rendered pages, in order, one landing batch per (source, batch index)."""
    batches: list[Path] = []
    bodies = size = 0
    totals = [0, 0, 0, 0]
    current: tuple[str, int] | None = None
    writer: BatchWriter | None = None
    try:
        for source, index, body, url, kind, ctype, counts in pages:
            if (source, index) != current:
                if writer is not None:
                    writer.__exit__(None, None, None)
                    batches.append(writer.path)
                tag = hashlib.sha1(f"{source}:{plan.seed}:{index}".encode()).hexdigest()[:8]
                landed_at = FETCHED_AT + timedelta(minutes=index)  # ids sort in landing order
                writer = BatchWriter(data_dir, source, batch_id=f"{landed_at:%Y%m%dT%H%M%SZ}-{tag}",
                                     now=FETCHED_AT, params={"synthetic": True, "seed": plan.seed})
                writer.__enter__()
                current = (source, index)
            writer.add(FetchedResponse(url=url, status=200, body=body,
                                       headers={"Content-Type": ctype}, fetched_at=FETCHED_AT,
                                       kind=kind))
            bodies += 1
            size += len(body)
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
        if writer is not None:
            writer.__exit__(None, None, None)
            batches.append(writer.path)
    except BaseException as exc:  # no manifest: the half-written batch stays incomplete
        if writer is not None:
            writer.__exit__(type(exc), exc, None)
        raise
    expected = plan.expected
    (expected.chinese_records, expected.records_without_abstract,
     expected.year_precision_records, expected.month_precision_records) = totals
    return GeneratedSet(data_dir=Path(data_dir), batches=batches, bodies=bodies, bytes=size,
                        seconds=time.perf_counter() - started, expected=expected)


class _Renderer:
    """Renders records of the plan into provider bodies."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.p = plan.pubs
        self.kind = plan.pubs.kind.tolist()
        self.zh = plan.pubs.zh.tolist()
        self.year = plan.pubs.year.tolist()
        self.month = plan.pubs.month.tolist()
        self.day = plan.pubs.day.tolist()
        self.journal = plan.pubs.journal.tolist()
        self.code = plan.pubs.title_code.tolist()
        self.rand = plan.pubs.rand.tolist()
        self.has_doi = plan.pubs.has_doi.tolist()
        self.reset_counts()
        self.future_year = plan.today.year + 2
        self._pmid_base = 30_000_000 + plan.seed % 1000 * 10_000

    def reset_counts(self) -> None:
        self.chinese_records = 0
        self.without_abstract = 0
        self.precision = {"day": 0, "month": 0, "year": 0}

    def batches(self, source: str) -> Iterator[tuple[list[tuple[int, int, bool]], int]]:
        """Per batch: (pub, bad, repeat) records in landing order, and the page size."""
        pubs, bad, repeated = self.plan.plans[source]
        per_batch = self.plan.batch_records
        pubs_l, bad_l = pubs.tolist(), bad.tolist()
        repeat_set = set(repeated.tolist())
        n = len(pubs_l)
        unique_per_batch = max(1, int(per_batch * (1 - REPEAT_SHARE)))
        for start in range(0, n, unique_per_batch):
            stop = min(n, start + unique_per_batch)
            items = [(pubs_l[i], bad_l[i], False) for i in range(start, stop)]
            # The overlap of a cursor walk: records seen again on the batch's last page.
            items += [(pubs_l[i], 0, True) for i in range(start, stop) if i in repeat_set]
            yield items, PAGE_SIZES[source]

    def text(self, pub: int) -> _Text:
        return _text_of(self.kind[pub], self.zh[pub], self.code[pub], self.rand[pub],
                        self.year[pub])

    def doi(self, pub: int) -> str:
        j = self.plan.journals[self.journal[pub]]
        return f"{j.prefix}/{j.abbrev.split()[0].lower()}.{self.year[pub]}.{pub:07d}"

    def pmid(self, pub: int) -> str:
        return str(self._pmid_base + pub)

    def date_for(self, pub: int, bad: int, reason: str) -> tuple[int, int, int]:
        year = self.future_year if reason == "future_date" and bad else self.year[pub]
        return year, self.month[pub], self.day[pub]

    def page(self, source: str, items: list[tuple[int, int, bool]], page_no: int,
             total: int) -> tuple[bytes, str, str, str]:
        if source == "crossref":
            return self._crossref(items, page_no, total)
        if source == "openalex":
            return self._openalex(items, page_no, total)
        return self._pubmed(items, page_no)

    # ----------------------------------------------------------------- crossref

    def _count(self, zh: bool, has_abstract: bool, precision: str) -> None:
        self.chinese_records += zh
        self.without_abstract += not has_abstract
        self.precision[precision] += 1

    def _crossref(self, items: list[tuple[int, int, bool]], page_no: int,
                  total: int) -> tuple[bytes, str, str, str]:
        parts = [self._crossref_item(pub, bad, repeat) for pub, bad, repeat in items]
        cursor = f"DnF1ZXJ5VGhlbkZldGNo{page_no:08d}"
        body = ('{"status":"ok","message-type":"work-list","message-version":"1.0.0",'
                '"message":{"facets":{},"total-results":' + str(total) + ',"items":['
                + ",".join(parts) + '],"items-per-page":1000,"query":{"start-index":0,'
                '"search-terms":null},"next-cursor":"' + cursor + '"}}')
        url = (f"https://api.crossref.org/works?filter=from-index-date:2025-01-01"
               f"&rows=1000&cursor={'*' if page_no == 0 else cursor}")
        return body.encode("utf-8"), url, "works", "application/json;charset=utf-8"

    def _crossref_item(self, pub: int, bad: int, repeat: bool) -> str:
        reason = BAD_REASONS["crossref"][bad - 1] if bad else ""
        r = self.rand[pub]
        zh = self.zh[pub]
        j = self.plan.journals[self.journal[pub]]
        text = self.text(pub)
        doi = self.doi(pub)
        if reason == "malformed_doi":
            doi = f"10.{r % 100}/{pub}"  # a registrant code too short: no usable DOI
        title = "" if reason == "missing_title" else text.title
        year, month, day = self.date_for(pub, bad, reason)
        form = r % 20
        if form < 3:
            issued, precision = f"[[{year}]]", "year"
        elif form < 8:
            issued, precision = f"[[{year},{month}]]", "month"
        else:
            issued, precision = f"[[{year},{month},{day}]]", "day"
        has_abstract = (r >> 13) % 100 < CROSSREF_ABSTRACT * 100
        online = f',"published-online":{{"date-parts":[[{year},{month},{day}]]}}' \
            if form >= 3 and form % 2 else ""
        if precision == "day" and (month, day) == (1, 1) and not online:
            precision = "year"  # the parser reads a print-only 1 January as a padded year
        if not bad and not repeat:
            self._count(zh, has_abstract, precision)
        authors = _crossref_authors(zh, r % AUTHOR_VARIANTS)
        abstract = ""
        if has_abstract:
            if zh and text.abstract_zh:
                abstract = ',"abstract":"<jats:p>' + text.abstract_zh + '</jats:p>"'
            else:
                secs = "".join(f"<jats:sec><jats:title>{label}</jats:title><jats:p>"
                               f"{body.replace('<', '&lt;')}</jats:p></jats:sec>"
                               for label, body in text.abstract_parts)
                abstract = ',"abstract":"<jats:title>Abstract</jats:title>' + secs + '"'
        language = (',"language":"zh"' if zh else ',"language":"en"') if r % 5 else ""
        subjects = '","'.join(_SUBJECTS_CR[r % len(_SUBJECTS_CR)])
        volume = str(max(1, year - 1980))
        issue = str(month)
        first = 1 + r % 900
        return (
            '{"indexed":{"date-parts":[[2026,1,10]],"date-time":"2026-01-10T04:12:33Z",'
            '"timestamp":1768018353000},"reference-count":' + str(10 + r % 50)
            + ',"publisher":"' + j.publisher + '","issue":"' + issue + '",'
            '"content-domain":{"domain":[],"crossmark-restriction":false},'
            '"short-container-title":["' + j.abbrev + '"]' + abstract
            + ',"DOI":"' + doi + '","type":"journal-article","created":{"date-parts":[['
            + str(year) + "," + str(month) + "," + str(day) + ']]},"page":"' + str(first)
            + "-" + str(first + 4 + r % 12) + '","source":"Crossref","is-referenced-by-count":'
            + str(r % 40) + ',"title":[' + ('"' + title + '"' if title else "")
            + '],"prefix":"' + doi.split("/")[0] + '","volume":"' + volume
            + '","author":[' + authors + '],"member":"' + str(78 + r % 300)
            + '","container-title":["' + j.title + '"]' + language
            + ',"deposited":{"date-parts":[[2025,12,1]]},"score":1,"resource":{"primary":'
            '{"URL":"https://example.org/article/' + str(pub) + '"}},"issued":{"date-parts":'
            + issued + "}" + online + ',"references-count":' + str(10 + r % 50)
            + ',"journal-issue":{"issue":"' + issue + '"},"URL":"https://doi.org/' + doi
            + '","ISSN":["' + j.issn + '"],"issn-type":[{"type":"print","value":"' + j.issn
            + '"}],"subject":["' + subjects + '"],"published":{"date-parts":' + issued + "}}"
        )

    # ----------------------------------------------------------------- openalex

    def _openalex(self, items: list[tuple[int, int, bool]], page_no: int,
                  total: int) -> tuple[bytes, str, str, str]:
        parts = [self._openalex_item(pub, bad, repeat) for pub, bad, repeat in items]
        cursor = f"IlsnLUluZmluaXR5JywgMTQ0{page_no:08d}"
        body = ('{"meta":{"count":' + str(total) + ',"db_response_time_ms":41,"page":null,'
                '"per_page":100,"next_cursor":"' + cursor + '","groups_count":null},'
                '"results":[' + ",".join(parts) + '],"group_by":[]}')
        url = ("https://api.openalex.org/works?filter=from_updated_date:2025-01-01"
               f"&per-page=100&cursor={'*' if page_no == 0 else cursor}")
        return body.encode("utf-8"), url, "works", "application/json"

    def _openalex_item(self, pub: int, bad: int, repeat: bool) -> str:
        reason = BAD_REASONS["openalex"][bad - 1] if bad else ""
        r = self.rand[pub]
        zh = self.zh[pub]
        j = self.plan.journals[self.journal[pub]]
        text = self.text(pub)
        wid = f"W{4_000_000_000 + pub}"
        doi = self.doi(pub) if self.has_doi[pub] else None
        year, month, day = self.date_for(pub, bad, reason)
        form = r % 20
        pad_year = form < 3
        date_s = f"{year}-01-01" if pad_year else f"{year}-{month:02d}-{day:02d}"
        has_abstract = (r >> 14) % 100 < OPENALEX_ABSTRACT * 100
        if not bad and not repeat:
            precision = "year" if pad_year or (month == 1 and day == 1) else "day"
            self._count(zh, has_abstract, precision)
        if has_abstract:
            words = (text.abstract_zh if zh and text.abstract_zh else " ".join(
                b for _, b in text.abstract_parts)).split(" ")
            index: dict[str, list[int]] = {}
            for pos, word in enumerate(words):
                index.setdefault(word, []).append(pos)
            inverted = json.dumps(index, ensure_ascii=False, separators=(",", ":"))
        else:
            inverted = "null"
        title = "null" if reason == "missing_title" else '"' + text.title + '"'
        doi_json = f'"https://doi.org/{doi}"' if doi else "null"
        pmid = f',"pmid":"https://pubmed.ncbi.nlm.nih.gov/{self.pmid(pub)}"' \
            if self.kind[pub] != 1 and (r >> 23) % 4 == 0 else ""
        authorships = _openalex_authors(zh, r % AUTHOR_VARIANTS)
        topic = _OA_TOPICS[r % len(_OA_TOPICS)]
        topics = '{"id":"https://openalex.org/T1' + str(r % 9999) + '","display_name":"' \
            + topic + '","score":0.99}'
        concepts = ",".join(
            '{"id":"https://openalex.org/C' + str(71924100 + k) + '","display_name":"'
            + _OA_CONCEPTS[(r >> k) % len(_OA_CONCEPTS)] + '","level":1,"score":0.'
            + str(4 + (r >> (k + 2)) % 6) + "}"
            for k in range(3)
        )
        keywords = ",".join('{"id":"https://openalex.org/keywords/k' + str(k)
                            + '","display_name":"' + kw + '","score":0.6}'
                            for k, kw in enumerate(text.keywords))
        first = 1 + r % 900
        return (
            '{"id":"https://openalex.org/' + wid + '","doi":' + doi_json + ',"title":' + title
            + ',"display_name":' + title + ',"publication_year":' + str(year)
            + ',"publication_date":"' + date_s + '","ids":{"openalex":"https://openalex.org/'
            + wid + '"' + (',"doi":' + doi_json if doi else "") + pmid + '},"language":"'
            + ("zh" if zh else "en") + '","primary_location":{"is_oa":false,'
            '"landing_page_url":' + (doi_json if doi else "null") + ',"pdf_url":null,'
            '"source":{"id":"https://openalex.org/S' + str(100000 + self.journal[pub])
            + '","display_name":"' + j.title + '","issn_l":"' + j.issn + '","issn":["'
            + j.issn + '"],"is_oa":false,"host_organization_name":"' + j.publisher
            + '","type":"journal"},"version":"publishedVersion"},"type":"article",'
            '"authorships":[' + authorships + '],"cited_by_count":' + str(r % 60)
            + ',"biblio":{"volume":"' + str(max(1, year - 1980)) + '","issue":"'
            + str(month) + '","first_page":"' + str(first) + '","last_page":"'
            + str(first + 6) + '"},"is_retracted":false,"is_paratext":false,'
            '"primary_topic":' + topics + ',"topics":[' + topics + '],"keywords":['
            + keywords + '],"concepts":[' + concepts + '],"mesh":[],"locations_count":1,'
            '"referenced_works_count":' + str(r % 45) + ',"abstract_inverted_index":'
            + inverted + ',"updated_date":"2025-12-30T03:46:38.306776",'
            '"created_date":"2024-01-01T00:00:00"}'
        )

    # ----------------------------------------------------------------- pubmed

    def _pubmed(self, items: list[tuple[int, int, bool]],
                page_no: int) -> tuple[bytes, str, str, str]:
        parts = [self._pubmed_item(pub, bad, repeat) for pub, bad, repeat in items]
        body = ('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD '
                'PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/'
                'out/pubmed_250101.dtd">\n<PubmedArticleSet>\n' + "\n".join(parts)
                + "\n</PubmedArticleSet>\n")
        url = ("https://eutils.ncbi.nlm.nih.gov/entrez/eutils/efetch.fcgi?db=pubmed"
               f"&query_key=1&WebEnv=MCID_synthetic&retstart={page_no * 500}&retmax=500"
               "&retmode=xml")
        return body.encode("utf-8"), url, "efetch", "text/xml; charset=UTF-8"

    def _pubmed_item(self, pub: int, bad: int, repeat: bool) -> str:
        reason = BAD_REASONS["pubmed"][bad - 1] if bad else ""
        r = self.rand[pub]
        zh = self.zh[pub]
        j = self.plan.journals[self.journal[pub]]
        text = self.text(pub)
        pmid = "n/a" if reason == "malformed_pmid" else self.pmid(pub)
        year, month, day = self.date_for(pub, bad, reason)
        form = r % 20
        if form < 2:
            pubdate, precision = f"<Year>{year}</Year>", "year"
        elif form < 4:
            pubdate = f"<MedlineDate>{year} {_MONTHS[month - 1]}-{_MONTHS[min(month, 11)]}"\
                      "</MedlineDate>"
            precision = "month"
        elif form < 10:
            pubdate, precision = f"<Year>{year}</Year><Month>{_MONTHS[month - 1]}</Month>", \
                "month"
        else:
            pubdate = f"<Year>{year}</Year><Month>{_MONTHS[month - 1]}</Month><Day>{day}</Day>"
            precision = "day"
        has_abstract = (r >> 15) % 100 < PUBMED_ABSTRACT * 100
        if not bad and not repeat:
            self._count(zh, has_abstract, precision)
        if reason == "missing_title":
            title_xml = "<ArticleTitle></ArticleTitle>"
        elif zh:
            title_xml = f"<ArticleTitle>[{text.title_en}].</ArticleTitle>"
        else:
            title_xml = f"<ArticleTitle>{text.title_en}.</ArticleTitle>"
        abstract = ""
        if has_abstract:
            abstract = "<Abstract>" + "".join(
                f'<AbstractText Label="{label.upper()}" NlmCategory="{label.upper()}">'
                f"{body.replace('<', '&lt;')}</AbstractText>"
                for label, body in text.abstract_parts) + "</Abstract>"
        authors = _pubmed_authors(zh, r % AUTHOR_VARIANTS)
        doi_in_record = self.has_doi[pub] and (r >> 17) % 10 < 7
        doi = self.doi(pub)
        eloc = f'<ELocationID EIdType="doi" ValidYN="Y">{doi}</ELocationID>' \
            if doi_in_record else ""
        vernacular = f"<VernacularTitle>{text.title_zh}</VernacularTitle>" \
            if zh and reason != "missing_title" else ""
        other_abstract = (f'<OtherAbstract Type="Publisher" Language="chi"><AbstractText>'
                          f"{text.abstract_zh}</AbstractText></OtherAbstract>") \
            if zh and has_abstract and text.abstract_zh else ""
        mesh_pool = (_MESH_AI + _MESH_EDU, _MESH_EDU, _MESH_AI + _MESH_CLIN,
                     _MESH_CLIN)[self.kind[pub]]
        mesh = "".join(
            f'<MeshHeading><DescriptorName UI="D{k:06d}" MajorTopicYN="N">'
            f"{mesh_pool[(r >> k) % len(mesh_pool)]}</DescriptorName></MeshHeading>"
            for k in range(1, 4)
        )
        keywords = "".join(f'<Keyword MajorTopicYN="N">{kw}</Keyword>' for kw in text.keywords)
        received = f"{year - 1 if month < 4 else year}"
        rec_month = (month - 4) % 12 + 1
        first = 1 + r % 900
        article_ids = f'<ArticleId IdType="pubmed">{pmid}</ArticleId>' + (
            f'<ArticleId IdType="doi">{doi}</ArticleId>' if doi_in_record else "")
        return (
            '<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">'
            f'<PMID Version="1">{pmid}</PMID><DateCompleted><Year>{year}</Year><Month>12'
            '</Month><Day>30</Day></DateCompleted><Article PubModel="Print-Electronic">'
            f'<Journal><ISSN IssnType="Electronic">{j.issn}</ISSN><JournalIssue '
            f'CitedMedium="Internet"><Volume>{max(1, year - 1980)}</Volume><Issue>{month}'
            f"</Issue><PubDate>{pubdate}</PubDate></JournalIssue><Title>{j.title}</Title>"
            f"<ISOAbbreviation>{j.abbrev}</ISOAbbreviation></Journal>{title_xml}"
            f"<Pagination><StartPage>{first}</StartPage><EndPage>{first + 7}</EndPage>"
            f"<MedlinePgn>{first}-{first + 7}</MedlinePgn></Pagination>{eloc}{abstract}"
            f'<AuthorList CompleteYN="Y">{authors}</AuthorList>'
            f"<Language>{'chi' if zh else 'eng'}</Language><PublicationTypeList>"
            '<PublicationType UI="D016428">Journal Article</PublicationType>'
            f"</PublicationTypeList>{vernacular}</Article><MedlineJournalInfo>"
            f"<Country>{'China' if zh else 'England'}</Country><MedlineTA>{j.abbrev}"
            f"</MedlineTA><NlmUniqueID>{100000 + self.journal[pub]}</NlmUniqueID>"
            f"<ISSNLinking>{j.issn}</ISSNLinking></MedlineJournalInfo>"
            f'<CitationSubset>IM</CitationSubset><MeshHeadingList>{mesh}</MeshHeadingList>'
            f'{other_abstract}<KeywordList Owner="NOTNLM">{keywords}</KeywordList>'
            "</MedlineCitation><PubmedData><History>"
            f'<PubMedPubDate PubStatus="received"><Year>{received}</Year><Month>{rec_month}'
            f"</Month><Day>{day}</Day></PubMedPubDate>"
            f'<PubMedPubDate PubStatus="pubmed"><Year>{year}</Year><Month>{month}</Month>'
            f"<Day>{day}</Day></PubMedPubDate></History><PublicationStatus>ppublish"
            f"</PublicationStatus><ArticleIdList>{article_ids}</ArticleIdList></PubmedData>"
            "</PubmedArticle>"
        )
