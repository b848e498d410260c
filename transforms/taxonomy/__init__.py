"""The versioned topic taxonomy (DESIGN: "Classification (taxonomy v1)"): loading and validation.

The taxonomy is data (``v1.toml`` next to this module): topic labels, English and Chinese terms
with weights, education-context terms, negative evidence and lookalike patterns. This module
validates the file and compiles every term into a multi-pattern-matching pattern; the matching
itself is in :mod:`transforms.classify`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("v1.toml")

#: Record fields a term can be found in (canonical column names).
FIELDS: tuple[str, ...] = (
    "title", "title_zh", "abstract", "abstract_zh", "keywords", "section", "subjects",
)

#: Rule kinds. ``ai``: AI signal; ``context``: education context; ``negative``: lowers the AI
#: signal or the education context; ``lookalike``: cancels AI terms; ``topic``: topic evidence.
KINDS: tuple[str, ...] = ("ai", "context", "negative", "lookalike", "topic")

_SLUG = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_SPACES = re.compile(r"\s+")

# Punctuation and symbols that separate words. Text and patterns are normalised with the same
# table, so "GPT-3.5" in a term matches "GPT 3.5", "gpt-3.5" or "GPT‑3.5" in a record.
_ASCII_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_OTHER_PUNCT = (
    "\t\n\r\u00a0\u3000‘’‚“”„‐‑‒–—―…·•°±×÷≥≤≈≠→←↑↓⇒«»¿¡®™©§¶′″"
    "，。、；：？！（）【】《》〈〉「」『』〔〕～·︰︱"
)
#: Separators that, followed or preceded by a space, collapse to a single space (keeps
#: "knowledge, attitudes" matching the two-word term "knowledge attitudes").
_COLLAPSING = ",.;:!?'\"()[]’‘“”"


def _build_char_map() -> tuple[list[str], list[str]]:
    """The replacement table shared by text and pattern normalisation (leftmost-first order)."""
    patterns: list[str] = []
    replacements: list[str] = []
    for sep in ("-", "–", "—"):
        patterns.append(f" {sep} ")
        replacements.append(" ")
    for ch in _COLLAPSING:
        patterns.extend((f"{ch} ", f" {ch}"))
        replacements.extend((" ", " "))
    for ch in _ASCII_PUNCT + _OTHER_PUNCT:
        if ch not in patterns:
            patterns.append(ch)
            replacements.append(" ")
    # Full-width ASCII forms: letters and digits to ASCII, the rest to a space.
    for code in range(0xFF01, 0xFF5F):
        ascii_char = chr(code - 0xFEE0)
        patterns.append(chr(code))
        replacements.append(ascii_char if ascii_char.isalnum() else " ")
    return patterns, replacements


#: (patterns, replacements) for ``str.replace_many(..., leftmost=True)``.
CHAR_MAP: tuple[list[str], list[str]] = _build_char_map()


class TaxonomyError(ValueError):
    """The taxonomy file is missing, malformed or inconsistent; the message lists the values."""


@dataclass(frozen=True)
class TopicDef:
    """One topic of the taxonomy (a row of the warehouse ``topics`` table)."""

    slug: str
    label_en: str
    label_zh: str
    description: str


@dataclass(frozen=True)
class TermRule:
    """One compiled term.

    Attributes:
        term: The term as written in the taxonomy (shown as evidence).
        kind: One of :data:`KINDS`.
        weight: Evidence weight (negative for negative evidence and exclusions).
        pattern: The Aho–Corasick pattern matched against normalised text.
        case_sensitive: Whether the pattern is matched case-sensitively (acronyms).
        topic: The topic slug for ``topic`` rules.
        target: For ``negative`` rules, what they lower: ``ai`` or ``context``.
        cancels: For ``lookalike`` rules, the AI terms they cancel.
    """

    term: str
    kind: str
    weight: float
    pattern: str
    case_sensitive: bool
    topic: str | None = None
    target: str | None = None
    cancels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scoring:
    """Thresholds of the scoring model (see ``[scoring]`` in the taxonomy file)."""

    ai_half: float
    context_half: float
    relevance_threshold: float
    topic_half: float
    topic_relative: float
    max_topics: int
    min_topic_raw: float


@dataclass(frozen=True)
class Taxonomy:
    """A validated, compiled taxonomy.

    Attributes:
        version: The taxonomy version string stored with every classification (e.g. ``v1``).
        topics: The topic definitions, in file order.
        rules: Every compiled term of every kind.
        field_weights: Weight of a relevance match by the field it was found in.
        scoring: Thresholds.
        source: Where the taxonomy was loaded from.
        topic_field_weights: Weight of a topic match by field (a topic is what a paper is
            about, so abstracts count less than for relevance).
        containments: ``(shorter, longer)`` indexes into ``rules`` of two terms of the same
            kind and topic where the longer pattern contains the shorter one ("essay scoring"
            in "automated essay scoring"): when both match in a field, only the longer counts.
    """

    version: str
    topics: list[TopicDef]
    rules: tuple[TermRule, ...] = field(repr=False)
    field_weights: Mapping[str, float] = field(repr=False)
    scoring: Scoring = field(repr=False)
    source: str = ""
    topic_field_weights: Mapping[str, float] = field(default_factory=dict, repr=False)
    containments: tuple[tuple[int, int], ...] = field(default=(), repr=False)

    @property
    def slugs(self) -> tuple[str, ...]:
        """Topic slugs in file order."""
        return tuple(t.slug for t in self.topics)


def normalise_text(text: str) -> str:
    """Normalise one string exactly as :mod:`transforms.classify` normalises record text.

    Punctuation and symbols become spaces and full-width letters and digits become ASCII;
    case is kept. Used to compile patterns and in tests.
    """
    pats, reps = CHAR_MAP
    table = {p: r for p, r in zip(pats, reps, strict=True) if len(p) == 1}
    return "".join(table.get(ch, ch) for ch in text)


def compile_term(term: str) -> tuple[str, bool]:
    """Compile a taxonomy term into an Aho–Corasick pattern.

    Args:
        term: A term in the taxonomy syntax (see the header of ``v1.toml``).

    Returns:
        ``(pattern, case_sensitive)``. Latin-script patterns are padded with spaces for word
        boundaries (no trailing space for a ``*`` term); Chinese patterns are not padded.

    Raises:
        TaxonomyError: If the term is empty or mixes Chinese and Latin letters.
    """
    raw = term.strip()
    stem = raw.endswith("*")
    core = raw[:-1] if stem else raw
    core = _SPACES.sub(" ", normalise_text(core)).strip()
    if not core:
        raise TaxonomyError(f"empty term {term!r}")
    has_han = bool(_HAN.search(core))
    if has_han and _LATIN.search(core):
        raise TaxonomyError(f"term {term!r} mixes Chinese and Latin letters; split it in two")
    if has_han:
        return core, False
    letters = [c for c in core if c.isalpha()]
    case_sensitive = len(letters) >= 2 and all(c.isupper() for c in letters)
    pattern = core if case_sensitive else core.lower()
    return f" {pattern}" + ("" if stem else " "), case_sensitive


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load, validate and compile a taxonomy file.

    Args:
        path: A taxonomy TOML file; default: the packaged ``v1.toml``.

    Returns:
        The compiled :class:`Taxonomy`.

    Raises:
        TaxonomyError: If the file is missing or unreadable, or has unknown slugs or fields,
            missing keys, bad weights or terms; the message lists the offending values.
    """
    path = DEFAULT_TAXONOMY_PATH if path is None else Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TaxonomyError(f"taxonomy file not found: {path}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TaxonomyError(f"taxonomy file {path} is not valid TOML: {exc}") from exc
    try:
        return _build(data, source=str(path))
    except TaxonomyError as exc:
        raise TaxonomyError(f"{path}: {exc}") from exc


def _build(data: Mapping[str, Any], *, source: str) -> Taxonomy:
    _require_keys(
        data, ("version", "slugs", "fields", "topic_fields", "scoring", "relevance", "topics"),
        "file",
    )
    version = data["version"]
    if not isinstance(version, str) or not version.strip():
        raise TaxonomyError(f"version must be a non-empty string, got {version!r}")
    slugs = _slug_list(data["slugs"])
    field_weights = _field_weights(data["fields"], "[fields]")
    topic_field_weights = _field_weights(data["topic_fields"], "[topic_fields]")
    scoring = _scoring(data["scoring"])
    topics, topic_rules = _topics(data["topics"], slugs)
    relevance = data["relevance"]
    _require_keys(relevance, ("ai", "context"), "[relevance]")
    rules: list[TermRule] = []
    rules += _groups(relevance["ai"], kind="ai", where="relevance.ai")
    rules += _groups(relevance["context"], kind="context", where="relevance.context")
    rules += _neutral(relevance.get("neutral", []))
    rules += _groups(
        relevance.get("negative", []), kind="negative", where="relevance.negative", negative=True
    )
    ai_terms = {r.term for r in rules if r.kind == "ai"}
    rules += _lookalikes(data.get("lookalikes", []), ai_terms)
    rules += topic_rules
    _check_duplicates(rules)
    return Taxonomy(
        version=version.strip(),
        topics=topics,
        rules=tuple(rules),
        field_weights=field_weights,
        scoring=scoring,
        source=source,
        topic_field_weights=topic_field_weights,
        containments=_containments(rules),
    )


def _require_keys(table: Any, keys: Sequence[str], where: str) -> None:
    if not isinstance(table, Mapping):
        raise TaxonomyError(f"{where} must be a table, got {type(table).__name__}")
    missing = [k for k in keys if k not in table]
    if missing:
        raise TaxonomyError(f"{where} lacks required keys: {', '.join(missing)}")


def _slug_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise TaxonomyError("slugs must be a non-empty list of topic slugs")
    bad = [s for s in value if not isinstance(s, str) or not _SLUG.match(s)]
    if bad:
        raise TaxonomyError(f"malformed slugs: {', '.join(map(repr, bad))}")
    dupes = sorted({s for s in value if value.count(s) > 1})
    if dupes:
        raise TaxonomyError(f"duplicate slugs: {', '.join(dupes)}")
    return tuple(value)


def _field_weights(value: Any, where: str) -> dict[str, float]:
    _require_keys(value, (), where)
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise TaxonomyError(
            f"unknown fields in {where}: {', '.join(unknown)} (known: {', '.join(FIELDS)})"
        )
    missing = [f for f in FIELDS if f not in value]
    if missing:
        raise TaxonomyError(f"{where} lacks weights for: {', '.join(missing)}")
    bad = [f"{k}={v!r}" for k, v in value.items() if not _is_number(v) or not 0 <= v <= 1]
    if bad:
        raise TaxonomyError(f"{where} weights must be numbers in [0, 1]: {', '.join(bad)}")
    return {k: float(value[k]) for k in FIELDS}


def _scoring(value: Any) -> Scoring:
    names = [
        "ai_half", "context_half", "relevance_threshold", "topic_half", "topic_relative",
        "max_topics", "min_topic_raw",
    ]
    _require_keys(value, names, "[scoring]")
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise TaxonomyError(f"unknown keys in [scoring]: {', '.join(unknown)}")
    bad = [f"{k}={value[k]!r}" for k in names if not _is_number(value[k]) or value[k] < 0]
    if not isinstance(value["max_topics"], int) or value["max_topics"] < 1:
        bad.append(f"max_topics={value['max_topics']!r}")
    if bad:
        raise TaxonomyError(f"bad [scoring] values: {', '.join(bad)}")
    return Scoring(
        **{k: float(value[k]) for k in names if k != "max_topics"},
        max_topics=int(value["max_topics"]),
    )


def _topics(value: Any, slugs: tuple[str, ...]) -> tuple[list[TopicDef], list[TermRule]]:
    if not isinstance(value, list) or not value:
        raise TaxonomyError("[[topics]] must be a non-empty array of tables")
    topics: list[TopicDef] = []
    rules: list[TermRule] = []
    for i, entry in enumerate(value):
        _require_keys(entry, ("slug", "label_en", "label_zh", "description", "terms"),
                      f"[[topics]] #{i + 1}")
        slug = entry["slug"]
        for key in ("label_en", "label_zh", "description"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise TaxonomyError(f"topic {slug!r}: {key} must be a non-empty string")
        topics.append(TopicDef(
            slug=slug,
            label_en=entry["label_en"].strip(),
            label_zh=entry["label_zh"].strip(),
            description=" ".join(entry["description"].split()),
        ))
        where = f"topics.{slug}"
        rules += _groups(entry["terms"], kind="topic", where=f"{where}.terms", topic=slug)
        rules += _groups(entry.get("exclusions", []), kind="topic", where=f"{where}.exclusions",
                         topic=slug, negative=True)
    found = [t.slug for t in topics]
    unknown = sorted(set(found) - set(slugs))
    if unknown:
        raise TaxonomyError(
            f"unknown topic slugs: {', '.join(unknown)} (declared: {', '.join(slugs)})"
        )
    missing = [s for s in slugs if s not in found]
    if missing:
        raise TaxonomyError(f"declared slugs without a topic definition: {', '.join(missing)}")
    dupes = sorted({s for s in found if found.count(s) > 1})
    if dupes:
        raise TaxonomyError(f"topics defined twice: {', '.join(dupes)}")
    return topics, rules


def _groups(
    value: Any,
    *,
    kind: str,
    where: str,
    topic: str | None = None,
    negative: bool = False,
) -> list[TermRule]:
    """Compile ``[[...]]`` term groups: each ``{weight = w, terms = [...]}``."""
    if not isinstance(value, list):
        raise TaxonomyError(f"{where} must be an array of {{weight, terms}} tables")
    rules: list[TermRule] = []
    for group in value:
        _require_keys(group, ("weight", "terms"), where)
        weight = group["weight"]
        ok = _is_number(weight) and (-1 <= weight < 0 if negative else 0 < weight <= 1)
        if not ok:
            expected = "in [-1, 0)" if negative else "in (0, 1]"
            raise TaxonomyError(f"{where}: weight {weight!r} must be a number {expected}")
        target = None
        if kind == "negative":
            target = group.get("applies_to", "context")
            if target not in ("ai", "context"):
                raise TaxonomyError(f"{where}: applies_to must be 'ai' or 'context', "
                                    f"got {target!r}")
        rules += [
            TermRule(term=term, kind=kind, weight=float(weight), pattern=pattern,
                     case_sensitive=cs, topic=topic, target=target)
            for term, (pattern, cs) in _compile_terms(group["terms"], where)
        ]
    return rules


def _neutral(value: Any) -> list[TermRule]:
    """Neutral phrases: education-context rules of weight 0 that, by the longest-match rule,
    replace the education word they contain ("teaching hospital" is not "teaching")."""
    if not isinstance(value, list):
        raise TaxonomyError("relevance.neutral must be an array of {terms} tables")
    rules: list[TermRule] = []
    for group in value:
        _require_keys(group, ("terms",), "relevance.neutral")
        if "weight" in group:
            raise TaxonomyError("relevance.neutral terms have no weight (they count 0)")
        rules += [
            TermRule(term=term, kind="context", weight=0.0, pattern=pattern, case_sensitive=cs)
            for term, (pattern, cs) in _compile_terms(group["terms"], "relevance.neutral")
        ]
    return rules


def _lookalikes(value: Any, ai_terms: set[str]) -> list[TermRule]:
    if not isinstance(value, list):
        raise TaxonomyError("[[lookalikes]] must be an array of tables")
    rules: list[TermRule] = []
    for i, entry in enumerate(value):
        where = f"[[lookalikes]] #{i + 1}"
        _require_keys(entry, ("name", "patterns", "cancels"), where)
        cancels = entry["cancels"]
        if not isinstance(cancels, list) or not cancels:
            raise TaxonomyError(f"{where}: cancels must be a non-empty list of AI terms")
        unknown = [c for c in cancels if c not in ai_terms]
        if unknown:
            raise TaxonomyError(
                f"{where}: cancels terms that are not AI terms: {', '.join(map(repr, unknown))}"
            )
        rules += [
            TermRule(term=term, kind="lookalike", weight=0.0, pattern=pattern,
                     case_sensitive=cs, cancels=tuple(cancels))
            for term, (pattern, cs) in _compile_terms(entry["patterns"], where)
        ]
    return rules


def _compile_terms(terms: Any, where: str) -> list[tuple[str, tuple[str, bool]]]:
    if not isinstance(terms, list) or not terms:
        raise TaxonomyError(f"{where}: terms must be a non-empty list of strings")
    bad = [t for t in terms if not isinstance(t, str) or not t.strip()]
    if bad:
        raise TaxonomyError(f"{where}: bad terms: {', '.join(map(repr, bad))}")
    compiled = []
    errors = []
    for term in terms:
        try:
            compiled.append((term, compile_term(term)))
        except TaxonomyError as exc:
            errors.append(str(exc))
    if errors:
        raise TaxonomyError(f"{where}: {'; '.join(errors)}")
    return compiled


def _check_duplicates(rules: Sequence[TermRule]) -> None:
    """A pattern may appear once per kind and topic (two weights for one term is a typo)."""
    seen: dict[tuple[str, str, str | None, bool], str] = {}
    dupes = []
    for rule in rules:
        key = (rule.kind, rule.pattern, rule.topic, rule.case_sensitive)
        if key in seen and rule.kind != "lookalike":
            dupes.append(f"{rule.kind}{'/' + rule.topic if rule.topic else ''}: "
                         f"{seen[key]!r} and {rule.term!r}")
        seen.setdefault(key, rule.term)
    if dupes:
        raise TaxonomyError(f"terms listed twice: {'; '.join(dupes)}")


def _containments(rules: Sequence[TermRule]) -> tuple[tuple[int, int], ...]:
    """Pairs of same-group rules whose (lower-cased, padded) patterns contain one another."""
    groups: dict[tuple[str, str | None], list[int]] = {}
    for i, rule in enumerate(rules):
        if rule.kind != "lookalike":
            groups.setdefault((rule.kind, rule.topic), []).append(i)
    pairs = []
    for members in groups.values():
        keys = {i: rules[i].pattern.lower() for i in members}
        for short in members:
            for long in members:
                if short != long and keys[short] in keys[long] and keys[short] != keys[long]:
                    pairs.append((short, long))
    return tuple(pairs)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


__all__ = [
    "CHAR_MAP", "DEFAULT_TAXONOMY_PATH", "FIELDS", "KINDS", "Scoring", "TaxonomyError",
    "Taxonomy", "TermRule", "TopicDef", "compile_term", "load_taxonomy", "normalise_text",
]
