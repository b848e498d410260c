"""Magtech (玛格泰克) journal sites: article pages to canonical rows, listings to links.

Article pages carry Highwire/Dublin Core/PRISM ``<meta>`` tags, often twice (``xml:lang="zh"``
and ``"en"``); where a tag has no language the script tells Chinese from English. The visible
body adds what the tags lack: the column heading between bullets
(``• 人工智能在医学教育中的应用 •``) and the 收稿日期 / Received line. Listing pages differ
from site to site, so links are found by URL pattern only (never by CSS class):

- articles: ``/CN/<DOI>``, ``/EN/<DOI>``, ``/CN/abstract/abstract<N>.shtml``,
  ``/CN/Y<year>/V<vol>/I<issue>/<page>`` (CN or EN, optionally under a site prefix such as
  ``/Jwk3_xxx``);
- issues: ``/EN/volumn/volumn_<N>.shtml``, ``/EN/<ISSN>/current.shtml``, ``/CN/volumn/home.shtml``,
  ``/CN/volumn/current.shtml``, ``/CN/Y<year>/V<vol>/I<issue>``;
- past-issue lists: ``/CN/article/showOldVolumn.do`` and its variants.

One canonical URL per article: links that belong to one listing entry (found by document
structure, see :func:`parse_article_links`) collapse to the ``/CN/<DOI>`` form when a DOI link is
among them, else ``/CN/abstract/abstract<N>.shtml``, else ``/CN/Y…/V…/I…/<page>``. The CN page is
chosen because Magtech's Chinese article page carries both the Chinese and the English block.

Dates: Magtech labels the issue date (出版日期) "Online" and the web release (发布日期)
"Published" on the English side, so "Published" can precede "Online". ``published_date`` is the
issue date (``citation_publication_date``, else 出版日期/"Online"), ``online_date`` the web
release (``citation_online_date``, else 发布日期/"Published").

``title`` is the English title, or the Chinese one when the page has none (``title_zh`` is
always the Chinese title). Authors pair Chinese and English ``citation_author`` tags by
position; the affiliation is the English one when given.

Text is kept as published (entities decoded, tags stripped, whitespace collapsed; no NFKC), so
abstracts match the page verbatim; the pipeline's normalise step does the rest.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

from transforms.normalise import (
    normalise_doi,
    normalise_issn,
    normalise_orcid,
    parse_partial_date,
)
from transforms.parsing import ParsedPayload, Reject

SOURCE = "magtech"
KINDS: frozenset[str] = frozenset({"article", "listing", "robots"})

#: Charset labels Chinese sites declare, mapped to the superset codec that decodes them.
CHARSET_ALIASES: dict[str, str] = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "utf8": "utf-8",
}
_SNIFF_BYTES = 4096
_REJECT_PAYLOAD_CHARS = 500

# Body labels (Chinese block, then the English block of a Magtech article page).
_LABEL_RECEIVED = ("收稿日期", "Received")
_LABEL_ISSUE_DATE = ("出版日期", "Online")
_LABEL_RELEASE_DATE = ("发布日期", "Published")
_ABSTRACT_LABELS = {"zh": ("摘要",), "en": ("Abstract",)}
_KEYWORD_LABELS = {"zh": ("关键词",), "en": ("Key words", "Keywords")}
_STOP_LABELS = (
    "关键词", "Key words", "Keywords", "中图分类号", "CLC Number", "引用本文", "Cite this",
    "参考文献", "References", "基金资助", "Supported by", "通讯作者", "Contact",
    "摘要", "Abstract", "收稿日期", "Received",
)

_PREFIX = r"(?P<prefix>(?:/[^/]+)*?)"
_LANG = r"/(?P<lang>CN|EN|cn|en)"
_ARTICLE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("doi", re.compile(rf"^{_PREFIX}{_LANG}/(?P<doi>10\.\d{{4,9}}/.+)$")),
    ("abstract", re.compile(rf"^{_PREFIX}{_LANG}/abstract/abstract(?P<n>\d+)\.shtml$")),
    ("page", re.compile(
        rf"^{_PREFIX}{_LANG}/Y(?P<y>\d{{4}})/V(?P<v>[^/]+)/I(?P<i>[^/]+)/(?P<p>[^/]+)$")),
)
_ISSUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("volumn", re.compile(rf"^{_PREFIX}{_LANG}/volumn/volumn_(?P<n>\d+)(?:_abs)?\.shtml$")),
    ("current", re.compile(rf"^{_PREFIX}{_LANG}/(?:\d{{4}}-\d{{3}}[\dXx]/current\.shtml"
                           r"|volumn/current(?:\.shtml)?|volumn/home\.shtml)$")),
    ("yvi", re.compile(rf"^{_PREFIX}{_LANG}/Y(?P<y>\d{{4}})/V(?P<v>[^/]+)/I(?P<i>[^/]+)/?$")),
)
_ARCHIVE_PATTERN = re.compile(
    rf"^{_PREFIX}{_LANG}/article/(?P<name>showOldVolumn(?:List)?|showTenYearOldVolumn"
    r"|showTenYearVolumnDetail)\.do$"
)
_FORM_RANK = {"doi": 0, "abstract": 1, "page": 2}

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I
)
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
_TAG_LIKE = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_NON_TEXT_TAGS = ("script", "style", "noscript", "template", "iframe", "object")
_NON_TEXT_BLOCK = re.compile(
    r"<(script|style|noscript|template|iframe|object)\b[^>]*>.*?(?:</\1\s*>|$)", re.I | re.S)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_LATIN = re.compile(r"[A-Za-z]")
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SPACE = re.compile(r"\s+")
_BULLET = "•·・●◆"
_SECTION_LINE = re.compile(rf"^[{_BULLET}]\s*([^{_BULLET}]{{2,120}}?)\s*[{_BULLET}]")
_DATE_VALUE = r"(\d{4}[-/.]\d{1,2}(?:[-/.]\d{1,2})?)"
_DOI_IN_BODY = re.compile(r"\bDOI\s*[:：]?\s*(10\.\d{4,9}/[^\s\"'<>，。]+)", re.I)
_CMA_DOI_DATE = re.compile(r"\.cn\d{6}-(\d{8})-\d+$")
_BODY_VOL_ISSUE = re.compile(
    r"(\d{4})\s*,\s*Vol\.?\s*(\w+)\s*(?:››|>>|»|,)?\s*Issue\s*\(\s*(\w+)\s*\)\s*:\s*"
    r"([\dA-Za-z]+(?:\s*[-–]\s*[\dA-Za-z]+)?(?:\s*,\s*[\dA-Za-z]+(?:\s*[-–]\s*[\dA-Za-z]+)?)*)"
)
_CITATION_LINE = re.compile(r"(\d{4})\s*,\s*(\d+)\s*\(\s*(\d+)\s*\)\s*:")
_HEADER_EN = re.compile(
    r"(\d{4})\s*,\s*Vol(?:ume|\.)?\s*(\d+)\s*(?:››|>>|,)?\s*(?:Issue|No\.?)\s*\(?\s*(\d+)",
    re.I,
)
_HEADER_ZH = re.compile(r"(\d{4})\s*年\s*,?\s*第?\s*(\d+)\s*卷\s*,?\s*第\s*(\d+)\s*期")
_AFFILIATION_NUMBER = re.compile(r"^\s*\d+[.、．)\s]\s*")
_TERM_SPLIT_STRONG = re.compile(r"\s*[;；]\s*")
_TERM_SPLIT_WEAK = re.compile(r"\s*[,，、]\s*")
_BLOCK_TAGS = frozenset({
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "br", "h1", "h2", "h3",
    "h4", "h5", "h6", "section", "article", "header", "footer", "blockquote", "form", "hr",
})

LinkKind = Literal["article", "issue", "archive"]


class UnknownKindError(ValueError):
    """A body kind the Magtech parser does not know (a caller bug, not bad data)."""


@dataclass(frozen=True)
class LinkInfo:
    """What a Magtech URL is, by its pattern.

    Attributes:
        kind: ``article``, ``issue`` (a table of contents) or ``archive`` (past-issue list).
        form: The URL form (``doi``, ``abstract``, ``page``, ``volumn``, ``current``,
            ``yvi``, or the archive page name).
        key: Identity of the target, the same for CN/EN variants of one page.
        url: The canonical absolute URL (articles: rewritten to the CN side).
    """

    kind: LinkKind
    form: str
    key: tuple[str, ...]
    url: str


# --------------------------------------------------------------------------- decoding


def decode_html(body: bytes, *, content_type: str = "") -> tuple[str, bool]:
    """Decode an HTML body.

    Order: a BOM; then UTF-8 if the bytes are valid UTF-8 (GBK text practically never is,
    while UTF-8 bytes often decode as GB18030 garbage, so this survives mislabelled pages);
    then the charset declared in ``<meta>`` and in the HTTP ``Content-Type``; then GB18030
    (a superset of GB2312/GBK); last, UTF-8 with replacement characters.

    Args:
        body: The raw bytes.
        content_type: The HTTP Content-Type header, when known.

    Returns:
        The text and whether decoding was lossy (replacement characters inserted).
    """
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(codec, errors="replace"), False
    candidates = ["utf-8"]
    declared = _META_CHARSET.search(body[:_SNIFF_BYTES])
    if declared:
        candidates.append(declared.group(1).decode("ascii", "replace"))
    http = _HTTP_CHARSET.search(content_type or "")
    if http:
        candidates.append(http.group(1))
    candidates.append("gb18030")
    for label in candidates:
        codec = CHARSET_ALIASES.get(label.strip().lower(), label.strip().lower())
        try:
            return body.decode(codec), False
        except LookupError:
            continue
        except UnicodeDecodeError as exc:
            # A body cut inside a multi-byte character is still this codec: drop the stub
            # rather than fall through to GB18030, which would turn all of it into mojibake.
            if exc.reason == "unexpected end of data" and exc.end >= len(body):
                try:
                    return body[:exc.start].decode(codec), False
                except UnicodeDecodeError:
                    continue
            continue
    return body.decode("utf-8", errors="replace"), True


def _parse_tree(text: str) -> Any | None:
    text = _XML_DECL.sub("", text, count=1)
    if not text.strip():
        return None
    parser = lxml.html.HTMLParser(no_network=True, remove_comments=True, huge_tree=False)
    try:
        return lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError):
        return None


def _collapse(value: str | None) -> str | None:
    if value is None:
        return None
    text = _SPACE.sub(" ", value).strip()
    return text or None


def _strip_markup(value: str | None) -> str | None:
    """Collapse whitespace; strip tags when a meta value carries escaped HTML.

    Script, style and similar elements are dropped with their content: their text is code,
    never part of a title or an abstract.
    """
    if value is None:
        return None
    if _TAG_LIKE.search(value):
        try:
            fragment = lxml.html.fragment_fromstring(value, create_parent="div")
            for element in list(fragment.iter(*_NON_TEXT_TAGS)):
                element.drop_tree()
            value = fragment.text_content()
        except (etree.ParserError, ValueError):
            value = _TAG_LIKE.sub(" ", _NON_TEXT_BLOCK.sub(" ", value))
    return _collapse(value)


def _is_chinese(text: str) -> bool:
    """True when Chinese characters make up a real share of the letters (not one stray)."""
    cjk = len(_CJK_CHAR.findall(text))
    if cjk == 0:
        return False
    return cjk / (cjk + len(_LATIN.findall(text))) >= 0.2


def _lang_of(declared: str | None, text: str) -> str:
    """``zh`` or ``en``: the declared ``xml:lang``/``lang`` when it names one, else the script."""
    label = (declared or "").strip().lower().replace("_", "-")
    if label.startswith(("zh", "cn", "chi", "zho")):
        return "zh"
    if label.startswith(("en", "eng")):
        return "en"
    return "zh" if _is_chinese(text) else "en"


# --------------------------------------------------------------------------- meta tags


@dataclass(frozen=True)
class _Meta:
    name: str
    content: str
    lang: str  # "zh" or "en"


def _metas(tree: Any) -> list[_Meta]:
    out: list[_Meta] = []
    for el in tree.iter("meta"):
        name = (el.get("name") or el.get("property") or "").strip().lower()
        content = _strip_markup(el.get("content"))
        if not name or content is None:
            continue
        declared = el.get("xml:lang") or el.get("lang")
        out.append(_Meta(name=name, content=content, lang=_lang_of(declared, content)))
    return out


@dataclass
class _MetaIndex:
    metas: list[_Meta]
    by_name: dict[str, list[_Meta]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for meta in self.metas:
            self.by_name.setdefault(meta.name, []).append(meta)

    def first(self, *names: str, lang: str | None = None) -> str | None:
        for name in names:
            for meta in self.by_name.get(name, []):
                if lang is None or meta.lang == lang:
                    return meta.content
        return None

    def all(self, *names: str, lang: str | None = None) -> list[str]:
        return [m.content for n in names for m in self.by_name.get(n, [])
                if lang is None or m.lang == lang]

    def has_citation_tags(self) -> bool:
        return any(n.startswith("citation_") for n in self.by_name)


@dataclass
class _AuthorDraft:
    name: str
    orcid: str | None = None
    affiliations: list[str] = field(default_factory=list)


def _author_lists(index: _MetaIndex) -> dict[str, list[_AuthorDraft]]:
    """Authors per language in document order; an institution follows its author (Highwire)."""
    lists: dict[str, list[_AuthorDraft]] = {"zh": [], "en": []}
    last_lang = "en"
    for meta in index.metas:
        if meta.name == "citation_author":
            lists[meta.lang].append(_AuthorDraft(name=meta.content))
            last_lang = meta.lang
        elif meta.name == "citation_author_institution":
            target = lists[meta.lang] or lists[last_lang]
            if target:
                affiliation = _AFFILIATION_NUMBER.sub("", meta.content).strip()
                if affiliation and affiliation not in target[-1].affiliations:
                    target[-1].affiliations.append(affiliation)
        elif meta.name == "citation_author_orcid":
            target = lists[last_lang]
            if target:
                target[-1].orcid = normalise_orcid(meta.content)
    if not lists["zh"] and not lists["en"]:
        for name in index.all("citation_authors", "dc.creator"):
            for part in _split_terms(name):
                lists[_lang_of(None, part)].append(_AuthorDraft(name=part))
    return lists


def _author_rows(lists: dict[str, list[_AuthorDraft]]) -> list[dict[str, str | None]]:
    """Pair Chinese and English authors by position; unpaired ones keep their own name."""
    zh, en = lists["zh"], lists["en"]
    rows: list[dict[str, str | None]] = []
    for pos in range(max(len(zh), len(en))):
        z = zh[pos] if pos < len(zh) else None
        e = en[pos] if pos < len(en) else None
        main = e if e is not None else z
        if main is None:  # unreachable: pos is below the longer list's length
            continue
        affiliation = (e.affiliations if e and e.affiliations
                       else z.affiliations if z else [])
        rows.append({
            "name": main.name,
            "name_zh": z.name if z else None,
            "orcid": (e.orcid if e else None) or (z.orcid if z else None),
            "affiliation": "; ".join(affiliation) or None,
        })
    return rows


def _split_terms(value: str) -> list[str]:
    parts = (_TERM_SPLIT_STRONG.split(value) if _TERM_SPLIT_STRONG.search(value)
             else _TERM_SPLIT_WEAK.split(value))
    return [p.strip() for p in parts if p and p.strip()]


def _keywords(index: _MetaIndex, lines: list[str]) -> list[str]:
    """Chinese keywords, then English, de-duplicated; one tag per keyword or a joined list."""
    out: list[str] = []
    for lang in ("zh", "en"):
        values = index.all("citation_keywords", "citation_keyword", lang=lang)
        if not values:
            values = index.all("dc.subject", "dc.keywords", lang=lang)
        if not values:
            values = [_labelled_block(lines, _KEYWORD_LABELS[lang]) or ""]
        terms: list[str] = []
        for value in values:
            # One term per tag is the rule; a tag with ";" holds a joined list.
            terms.extend(_split_terms(value) if len(values) == 1 else [value])
        out.extend(t for t in terms if t)
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- body text


def _body_lines(tree: Any) -> list[str]:
    """Visible text of the body as lines (block elements end a line)."""
    body = tree.find("body")
    if body is None:
        body = tree
    for el in body.iter():
        if el.tag in ("script", "style"):
            el.text = ""
        elif isinstance(el.tag, str) and el.tag in _BLOCK_TAGS:
            el.tail = "\n" + (el.tail or "")
            if el.tag == "br":
                continue
            el.text = "\n" + (el.text or "")
    text = body.text_content()
    return [line for line in (_collapse(raw) for raw in text.split("\n")) if line]


def _label_date(text: str, labels: Iterable[str]) -> str | None:
    for label in labels:
        match = re.search(rf"{re.escape(label)}\s*[:：]\s*{_DATE_VALUE}", text)
        if match:
            return match.group(1)
    return None


def _labelled_block(lines: list[str], labels: Iterable[str]) -> str | None:
    """Text after ``Label:`` up to the next known label line."""
    for pos, line in enumerate(lines):
        for label in labels:
            match = re.match(rf"^{re.escape(label)}\s*[:：]\s*(.*)$", line)
            if not match:
                continue
            parts = [match.group(1)]
            for nxt in lines[pos + 1:]:
                if any(re.match(rf"^{re.escape(s)}\s*[:：]", nxt) for s in _STOP_LABELS):
                    break
                parts.append(nxt)
            return _collapse(" ".join(p for p in parts if p))
    return None


def _section(lines: list[str]) -> str | None:
    """The column heading between bullets; the Chinese one when the page has both."""
    found: dict[str, str] = {}
    for line in lines:
        match = _SECTION_LINE.match(line)
        if match:
            heading = match.group(1).strip()
            found.setdefault("zh" if _is_chinese(heading) else "en", heading)
    return found.get("zh") or found.get("en")


# --------------------------------------------------------------------------- articles


def _date_field(*candidates: str | None) -> tuple[date | None, str | None]:
    for candidate in candidates:
        parsed, precision = parse_partial_date(candidate)
        if parsed is not None:
            return parsed, precision
    return None, None


def _received_from_doi(doi: str | None) -> date | None:
    """CMA DOIs ``10.3760/cma.j.cnNNNNNN-YYYYMMDD-NNNNN`` carry the received date."""
    if not doi:
        return None
    match = _CMA_DOI_DATE.search(doi)
    if not match:
        return None
    parsed, precision = parse_partial_date(
        f"{match.group(1)[:4]}-{match.group(1)[4:6]}-{match.group(1)[6:]}")
    return parsed if precision == "day" else None


def _pages(first: str | None, last: str | None) -> str | None:
    if not first:
        return None
    if not last or last == first:
        return first
    return f"{first}-{last}"


def _url_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _article_row(tree: Any, *, url: str) -> dict[str, Any] | str:
    """A canonical row, or the reason the page cannot give one."""
    index = _MetaIndex(_metas(tree))
    if not index.has_citation_tags():
        return ("no Highwire citation_* <meta> tags: not a Magtech article page "
                "(an error page, or a template without metadata)")
    title_zh = index.first("citation_title", "dc.title", lang="zh")
    title_en = index.first("citation_title", "dc.title", lang="en")
    if not (title_zh or title_en):
        return "no citation_title/dc.title <meta> tag"
    lines = _body_lines(tree)
    text = "\n".join(lines)
    body_header = _BODY_VOL_ISSUE.search(text)

    doi = normalise_doi(index.first("citation_doi", "prism.doi", "dc.identifier"))
    if doi is None:
        match = _DOI_IN_BODY.search(text)
        doi = normalise_doi(match.group(1)) if match else None
    issn = next((n for n in (normalise_issn(v) for v in
                             index.all("citation_issn", "prism.issn", "prism.eissn")) if n), None)
    published, precision = _date_field(
        index.first("citation_publication_date"), index.first("citation_date"),
        index.first("prism.publicationdate"), index.first("dc.date"),
        _label_date(text, _LABEL_ISSUE_DATE),
        body_header.group(1) if body_header else None,
    )
    online, _ = _date_field(index.first("citation_online_date"),
                            _label_date(text, _LABEL_RELEASE_DATE))
    received, received_precision = _date_field(_label_date(text, _LABEL_RECEIVED))
    if received is None or received_precision != "day":
        received = _received_from_doi(doi) or received
    pages = _pages(index.first("citation_firstpage", "prism.startingpage"),
                   index.first("citation_lastpage", "prism.endingpage"))
    abstract_zh = index.first("dc.description", "citation_abstract", lang="zh")
    abstract_en = index.first("dc.description", "citation_abstract", lang="en")
    abstract_zh = abstract_zh or _labelled_block(lines, _ABSTRACT_LABELS["zh"])
    abstract_en = abstract_en or _labelled_block(lines, _ABSTRACT_LABELS["en"])
    journal_zh = index.first("citation_journal_title", "prism.publicationname", lang="zh")
    journal_en = index.first("citation_journal_title", "prism.publicationname", lang="en")
    page_url = url or index.first("citation_abstract_html_url") or ""
    return {
        "source": SOURCE,
        "source_id": doi or _url_path(page_url) or None,
        "doi": doi,
        "title": title_en or title_zh,
        "title_zh": title_zh,
        "abstract": abstract_en,
        "abstract_zh": abstract_zh,
        "keywords": _keywords(index, lines),
        "authors": _author_rows(_author_lists(index)),
        "journal_issn": issn,
        "journal_title": journal_en or journal_zh,
        "journal_title_zh": journal_zh,
        "volume": index.first("citation_volume", "prism.volume")
        or (body_header.group(2) if body_header else None),
        "issue": index.first("citation_issue", "prism.number")
        or (body_header.group(3) if body_header else None),
        "pages": pages or (_SPACE.sub("", body_header.group(4)) if body_header else None),
        "section": _section(lines),
        "language": "zh" if (title_zh or abstract_zh) else "en",
        "published_date": published,
        "date_precision": precision,
        "received_date": received,
        "online_date": online,
        "url": page_url or None,
    }


def _has_replacement(row: dict[str, Any]) -> bool:
    texts = [row.get(k) for k in ("title", "title_zh", "abstract", "abstract_zh",
                                  "journal_title", "journal_title_zh", "section")]
    texts += [a.get("name") for a in row.get("authors", [])]
    texts += [a.get("name_zh") for a in row.get("authors", [])]
    return any(t and "\ufffd" in t for t in texts)


def _head_complete(body: bytes) -> bool:
    return bool(re.search(rb"</head\s*>|<body[\s>]", body, re.I))


def _looks_truncated(body: bytes) -> bool:
    return not re.search(rb"</html\s*>", body[-512:], re.I)


def parse_magtech(body: bytes, *, kind: str, url: str, raw_ref: str) -> ParsedPayload:
    """Parse one landed Magtech body.

    Args:
        body: The page bytes as landed.
        kind: ``article`` (one canonical row or one reject), ``listing`` or ``robots``
            (crawl plumbing: no records).
        url: The page URL (becomes ``url``; its path is ``source_id`` when there is no DOI).
        raw_ref: The landing file reference; ``#0`` is appended for the page's record.

    Returns:
        A payload with one row, or one :class:`Reject` with the reason (no citation tags,
        truncated head, undecodable text), or nothing for non-article kinds.

    Raises:
        UnknownKindError: For a kind outside :data:`KINDS` (a caller bug), with the known ones.
    """
    if kind not in KINDS:
        msg = f"unknown Magtech body kind {kind!r}; known: {', '.join(sorted(KINDS))}"
        raise UnknownKindError(msg)
    if kind != "article":
        return ParsedPayload()
    ref = f"{raw_ref}#0"
    text, lossy = decode_html(body)
    payload = text[:_REJECT_PAYLOAD_CHARS]
    if _looks_truncated(body) and not _head_complete(body):
        return ParsedPayload(rejects=[Reject(
            ref, "truncated page: the <head> is incomplete, so the meta tags may be too",
            payload)])
    tree = _parse_tree(text)
    if tree is None:
        return ParsedPayload(rejects=[Reject(ref, "empty or unparseable HTML page", payload)])
    row = _article_row(tree, url=url)
    if isinstance(row, str):
        return ParsedPayload(rejects=[Reject(ref, row, payload)])
    if lossy and _has_replacement(row):
        reason = ("undecodable bytes: not valid UTF-8, the declared charset or GB18030; "
                  "the metadata would hold replacement characters")
        return ParsedPayload(rejects=[Reject(ref, reason, payload)])
    row["raw_ref"] = ref
    return ParsedPayload.from_rows([row])


# --------------------------------------------------------------------------- links


def link_info(url: str) -> LinkInfo | None:
    """Classify an absolute Magtech URL by its pattern; None for anything else.

    Article URLs are rewritten to the CN side (same form); fragments are dropped; queries are
    dropped except on archive pages (``showTenYearVolumnDetail.do?nian=2025``).
    """
    parts = urlsplit(url)
    path = unquote(parts.path)
    base = (parts.scheme, parts.netloc)

    def build(new_path: str, query: str = "") -> str:
        return urlunsplit((*base, new_path, query, ""))

    for form, pattern in _ARTICLE_PATTERNS:
        match = pattern.match(path)
        if not match:
            continue
        prefix, lang = match.group("prefix"), match.group("lang")
        cn = "CN" if lang.isupper() else "cn"
        rest = path[match.end("lang"):]
        if form == "doi":
            key: tuple[str, ...] = ("doi", match.group("doi").lower())
        elif form == "abstract":
            key = ("abstract", prefix, match.group("n"))
        else:
            key = ("page", prefix, *match.group("y", "v", "i", "p"))
        return LinkInfo("article", form, key, build(f"{prefix}/{cn}{rest}"))
    for form, pattern in _ISSUE_PATTERNS:
        match = pattern.match(path)
        if not match:
            continue
        prefix = match.group("prefix")
        if form == "volumn":
            key = ("volumn", prefix, match.group("n"))
        elif form == "yvi":
            key = ("yvi", prefix, *match.group("y", "v", "i"))
        else:
            key = ("current", prefix)
        return LinkInfo("issue", form, key, build(path))
    match = _ARCHIVE_PATTERN.match(path)
    if match:
        key = ("archive", match.group("prefix"), match.group("name"), parts.query)
        return LinkInfo("archive", match.group("name"), key, build(path, parts.query))
    return None


def _anchors(body: bytes, base_url: str, content_type: str) -> Iterator[tuple[Any, LinkInfo]]:
    text, _ = decode_html(body, content_type=content_type)
    tree = _parse_tree(text)
    if tree is None:
        return
    base = base_url
    base_el = tree.find(".//base[@href]")
    if base_el is not None:
        base = urljoin(base_url, base_el.get("href", ""))
    host = urlsplit(base_url).netloc.lower()
    for anchor in tree.iter("a", "area"):
        href = (anchor.get("href") or "").strip()
        if not href or href.lower().startswith(("javascript:", "mailto:", "#")):
            continue
        absolute = urljoin(base, href)
        if urlsplit(absolute).netloc.lower() != host:
            continue
        info = link_info(absolute)
        if info is not None:
            yield anchor, info


def parse_article_links(body: bytes, base_url: str, *, content_type: str = "") -> list[str]:
    """Absolute, de-duplicated article URLs of a listing page, one per article.

    The links of one listing entry (title link, "Abstract", "中文", page link...) are found
    without CSS classes: a link's *entry* is its highest ancestor in which no URL form
    (DOI, abstract, page) points to two different articles; links in one entry, and links
    with the same key anywhere (CN and EN of one DOI), are one article. Each article then
    gets one URL, preferring
    ``/CN/<DOI>``, then ``/CN/abstract/abstract<N>.shtml``, then ``/CN/Y…/V…/I…/<page>``.

    Args:
        body: The listing page bytes.
        base_url: The page's URL (resolves relative links; other hosts are ignored).
        content_type: The HTTP Content-Type, when known (charset).

    Returns:
        Article URLs in page order.
    """
    found = [(a, info) for a, info in _anchors(body, base_url, content_type)
             if info.kind == "article"]
    if not found:
        return []
    chains = [list(a.iterancestors()) for a, _ in found]
    keys_below: dict[int, dict[str, set[tuple[str, ...]]]] = {}
    for (_, info), chain in zip(found, chains, strict=True):
        for element in chain:
            keys_below.setdefault(id(element), {}).setdefault(info.form, set()).add(info.key)
    groups = _UnionFind(len(found))
    first_by_block: dict[int, int] = {}
    first_by_key: dict[tuple[str, ...], int] = {}
    for pos, ((anchor, info), chain) in enumerate(zip(found, chains, strict=True)):
        block = id(anchor)
        for element in chain:
            if any(len(keys) > 1 for keys in keys_below[id(element)].values()):
                break
            block = id(element)
        groups.union(pos, first_by_block.setdefault(block, pos))
        groups.union(pos, first_by_key.setdefault(info.key, pos))
    best: dict[int, LinkInfo] = {}
    order: list[int] = []
    for pos, (_, info) in enumerate(found):
        root = groups.find(pos)
        if root not in best:
            order.append(root)
            best[root] = info
        elif _FORM_RANK[info.form] < _FORM_RANK[best[root].form]:
            best[root] = info
    return list(dict.fromkeys(best[root].url for root in order))


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def parse_issue_links(body: bytes, base_url: str, *, content_type: str = "") -> list[str]:
    """Absolute URLs of issue tables of contents and past-issue lists linked from a page.

    A journal's home page (``/CN/<ISSN>/home.shtml``) is a start page, not an issue, and is
    not returned. CN and EN variants of one issue page count once (first seen wins).
    """
    seen: dict[tuple[str, ...], str] = {}
    for _, info in _anchors(body, base_url, content_type):
        if info.kind in ("issue", "archive"):
            seen.setdefault(info.key, info.url)
    return list(seen.values())


def parse_current_issue(body: bytes, *, content_type: str = "") -> tuple[int, int, int] | None:
    """(year, volume, issue) of the issue a table-of-contents page shows.

    The most common ``2026, 46(1):`` citation line wins (every article of the issue carries
    it); without article lines, the first header such as ``2026, Vol. 46 Issue 1`` or
    ``2026年 第46卷 第1期``. None when the page shows neither.
    """
    text, _ = decode_html(body, content_type=content_type)
    tree = _parse_tree(text)
    if tree is None:
        return None
    flat = _collapse(" ".join(_body_lines(tree))) or ""
    counts = Counter(_CITATION_LINE.findall(flat))
    if counts:
        year, volume, issue = counts.most_common(1)[0][0]
        return int(year), int(volume), int(issue)
    matches = [m for m in (_HEADER_EN.search(flat), _HEADER_ZH.search(flat)) if m]
    if not matches:
        return None
    first = min(matches, key=lambda m: m.start())
    return int(first.group(1)), int(first.group(2)), int(first.group(3))
