"""JATS, HTML and MathML markup to plain text (pure; shared by every parser).

Crossref abstracts are JATS fragments with undeclared ``jats:`` prefixes, PubMed and OAI
records carry stray HTML, and formulas come as MathML and/or TeX. A tolerant tokenizer
(:class:`html.parser.HTMLParser`) is used rather than an XML parser so that fragments,
undeclared prefixes and unbalanced tags never raise; no entity or DTD is ever resolved
beyond the HTML character references.

Rules:

- Block elements (``p``, ``sec``, ``list-item``, ``div``, ``br``...) end a paragraph;
  paragraphs are joined with ``paragraph_separator`` (a newline by default).
- Headings (``title``, ``h1``-``h6``) are joined to the following
  paragraph as ``"Heading: text"``, the way structured abstracts are usually printed.
  Headings that only say "Abstract" (and any in ``skip_headings``, e.g. the article title
  that some publishers repeat) are dropped.
- Inline elements (``italic``, ``sup``, ``sub``, ``mml:mi``...) keep their text, no spaces
  added. Inside ``alternatives`` only the first rendering is kept, MathML annotations are
  dropped, and TeX keeps only the formula (no ``\\documentclass`` preamble, no ``$``).
- Whitespace is collapsed, spaces before ``, ; ) ]`` and after ``( [`` are removed, and the
  text goes through NFKC for Latin characters (CJK punctuation is kept).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from html import unescape
from html.parser import HTMLParser

from transforms.normalise import nfkc_latin

#: Local names (prefix stripped, lower-case) that end a paragraph.
BLOCK_TAGS: frozenset[str] = frozenset({
    "p", "sec", "abstract", "trans-abstract", "list", "list-item", "def-list", "def-item",
    "boxed-text", "disp-quote", "disp-formula", "fig", "caption", "table-wrap", "table",
    "tr", "statement", "div", "section", "article", "blockquote", "ul", "ol", "li", "dl",
    "dt", "dd", "br", "hr", "break", "pre", "body", "html", "header", "footer",
})
#: Local names whose text is a heading for the following paragraph.
HEADING_TAGS: frozenset[str] = frozenset({"title", "h1", "h2", "h3", "h4", "h5", "h6"})
#: Local names whose content is never text (metadata, scripts, duplicate renderings).
SKIP_TAGS: frozenset[str] = frozenset({
    "annotation", "annotation-xml", "script", "style", "head", "object-id", "graphic",
    "inline-graphic", "media", "alt-text",
})
#: HTML void elements: they never get an end tag.
VOID_TAGS: frozenset[str] = frozenset({
    "br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source",
})
#: Headings that only announce the abstract itself (compared case-insensitively).
GENERIC_HEADINGS: frozenset[str] = frozenset({
    "abstract", "summary", "resumo", "resumen", "résumé", "resume", "zusammenfassung",
    "abstrakt", "riassunto", "摘要", "内容摘要", "graphical abstract",
})

_SPACE = re.compile(r"\s+")
_SPACE_BEFORE = re.compile(r"\s+([,;)\]])")
_SPACE_AFTER = re.compile(r"([(\[])\s+")
_SPACE_BEFORE_STOP = re.compile(r"\s+([.:])(?=\s|$)")
_TEX_BODY = re.compile(r"\\begin\{document\}(.*?)\\end\{document\}", re.S)
_HEADING_KEY = re.compile(r"[\W_]+")


@functools.lru_cache(maxsize=4096)
def _local(tag: str) -> str:
    return tag.rsplit(":", 1)[-1].lower()


def _heading_key(text: str) -> str:
    return _HEADING_KEY.sub(" ", text.casefold()).strip()


def _tidy(text: str) -> str:
    # str.split() and the regex ``\s`` agree on what whitespace is (both use
    # Py_UNICODE_ISSPACE); after the split only single spaces are left, so each rule runs
    # only when a space sits next to the punctuation it removes.
    text = " ".join(text.split())
    if " ," in text or " ;" in text or " )" in text or " ]" in text:
        text = _SPACE_BEFORE.sub(r"\1", text)
    if "( " in text or "[ " in text:
        text = _SPACE_AFTER.sub(r"\1", text)
    if " ." in text or " :" in text:
        text = _SPACE_BEFORE_STOP.sub(r"\1", text)
    return text


def _clean_tex(tex: str) -> str:
    match = _TEX_BODY.search(tex)
    body = match.group(1) if match else tex
    return body.replace("$", " ").strip()


class _TextExtractor(HTMLParser):
    """Collects paragraphs and headings from a markup fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []  # (kind, text): kind is "p" or "h"
        self._buffer: list[str] = []
        self._stack: list[str] = []
        self._skip_depth = 0
        self._heading_depth = 0
        self._tex: list[str] | None = None
        # alternatives: stack of [depth, seen_first_child]
        self._alternatives: list[list[int]] = []

    # -- structure ------------------------------------------------------------------
    def _flush(self, kind: str = "p") -> None:
        if not self._buffer:
            return
        text = _tidy("".join(self._buffer))
        self._buffer = []
        if text:
            self.blocks.append((kind, text))

    def _enter_alternative_child(self) -> bool:
        """Return True when this element is a second (skipped) rendering."""
        if self._alternatives and self._alternatives[-1][0] == len(self._stack):
            if self._alternatives[-1][1]:
                return True
            self._alternatives[-1][1] = 1
        return False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        name = _local(tag)
        if name in VOID_TAGS:
            if name in BLOCK_TAGS and not self._skip_depth:
                self._flush("h" if self._heading_depth else "p")
            return
        skipped = self._enter_alternative_child()
        self._stack.append(name)
        if self._skip_depth or skipped or name in SKIP_TAGS:
            self._skip_depth += 1
            return
        if name == "alternatives":
            self._alternatives.append([len(self._stack), 0])
        elif name == "tex-math":
            self._tex = []
        elif name in HEADING_TAGS:
            self._flush()
            self._heading_depth += 1
        elif name in BLOCK_TAGS and not self._heading_depth:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        name = _local(tag)
        if name in BLOCK_TAGS and not self._skip_depth and not self._heading_depth:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        name = _local(tag)
        if name not in self._stack:
            return  # stray end tag
        while self._stack:
            current = self._stack.pop()
            self._close(current)
            if current == name:
                break

    def _close(self, name: str) -> None:
        if self._skip_depth:
            self._skip_depth -= 1
            return
        if name == "alternatives" and self._alternatives:
            self._alternatives.pop()
        elif name == "tex-math" and self._tex is not None:
            self._buffer.append(_clean_tex("".join(self._tex)))
            self._tex = None
        elif name in HEADING_TAGS and self._heading_depth:
            self._heading_depth -= 1
            if not self._heading_depth:
                self._flush("h")
        elif name in BLOCK_TAGS and not self._heading_depth:
            self._flush()

    # -- text -----------------------------------------------------------------------
    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._tex is not None:
            self._tex.append(data)
            return
        self._buffer.append(data)

    def unknown_decl(self, data: str) -> None:
        if data.upper().startswith("CDATA["):
            self.handle_data(data[6:])

    def finish(self) -> list[tuple[str, str]]:
        self.close()
        while self._stack:
            self._close(self._stack.pop())
        self._flush("h" if self._heading_depth else "p")
        return self.blocks


def _join(blocks: list[tuple[str, str]], skip: frozenset[str] | set[str], separator: str) -> str:
    paragraphs: list[str] = []
    pending: list[str] = []
    for kind, text in blocks:
        if kind == "h":
            if _heading_key(text) not in skip:
                pending.append(text.rstrip(": "))
            continue
        if pending:
            text = f"{_heading(pending)} {text}"
            pending = []
        paragraphs.append(text)
    if pending:
        paragraphs.append(_heading(pending).rstrip(":"))
    return separator.join(paragraphs)


def _heading(parts: list[str]) -> str:
    """``["Methods", "Design"]`` -> ``"Methods: Design:"``; a heading ending a sentence keeps it."""
    joined = ": ".join(parts)
    return joined if joined[-1] in ".?!" else f"{joined}:"


_GENERIC_HEADING_KEYS = frozenset(_heading_key(h) for h in GENERIC_HEADINGS)
_NAMELESS_MARKED_SECTION = re.compile(r"<!\[(?![A-Za-z])")

#: A start, end or empty-element tag of the plain shape most markup has: a name, then
#: attributes with quoted values free of ``<`` and ``>``. :func:`_feed_plain` tokenizes
#: markup made only of such tags and text without ``<``; anything else goes to HTMLParser.
_PLAIN_TAG = re.compile(
    r"<(?:(/)([A-Za-z][A-Za-z0-9:._-]*)\s*"
    r"|([A-Za-z][A-Za-z0-9:._-]*)"
    r"(?:\s+[A-Za-z_:][A-Za-z0-9:._-]*(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'))?)*\s*(/?))>"
)
#: Elements whose content HTMLParser reads as raw text (in any Python version we support):
#: markup holding one of them is left to HTMLParser.
_RAW_TEXT_TAGS: frozenset[str] = frozenset({
    "script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes",
    "noscript", "plaintext",
})
#: Markup :func:`_feed_plain` takes: text without ``<`` and plain tags that are not raw-text
#: elements.
_PLAIN_MARKUP = re.compile(
    r"(?:[^<]++|(?=</?(?!(?i:" + "|".join(sorted(_RAW_TEXT_TAGS)) + r")(?![A-Za-z0-9:._-]))"
    # Possessive, and without capturing groups (Python 3.11 mis-tracks captures inside
    # atomic groups): a long text before a stray "<" must not make the check backtrack.
    r"[A-Za-z])(?>" + re.sub(r"\((?!\?)", "(?:", _PLAIN_TAG.pattern) + r"))*+"
)


def _feed_plain(parser: _TextExtractor, markup: str) -> bool:
    """Drive ``parser``'s handlers with the events HTMLParser would give for ``markup``.

    Only for markup made of :data:`_PLAIN_TAG` tags and text without ``<`` (no comments,
    declarations, CDATA or raw-text elements): there the events are the same as
    HTMLParser's (tag names lower-cased, each text run HTML-unescaped), several times
    faster. Returns False, having called nothing, for any other markup.
    """
    if _PLAIN_MARKUP.fullmatch(markup) is None:
        return False
    position = 0
    for match in _PLAIN_TAG.finditer(markup):
        start = match.start()
        if start > position:
            text = markup[position:start]
            parser.handle_data(unescape(text) if "&" in text else text)
        closing, end_name, start_name, empty = match.groups()
        if closing:
            parser.handle_endtag(end_name.lower())
        elif empty:
            parser.handle_startendtag(start_name.lower(), [])
        else:
            parser.handle_starttag(start_name.lower(), [])
        position = match.end()
    if position < len(markup):
        text = markup[position:]
        parser.handle_data(unescape(text) if "&" in text else text)
    return True


def jats_to_text(
    markup: str | None,
    *,
    skip_headings: Iterable[str | None] = (),
    paragraph_separator: str = "\n",
) -> str | None:
    """Turn a JATS/HTML/MathML fragment into plain text.

    Args:
        markup: The fragment (may be plain text, may be malformed).
        skip_headings: Heading texts to drop besides the generic "Abstract" ones (e.g. the
            article title, which some publishers repeat as the abstract's title).
        paragraph_separator: Joins paragraphs (use ``" "`` for one line).

    Returns:
        The text, or None when nothing but markup and whitespace was there.
    """
    if markup is None:
        return None
    if "<" not in markup and "&" not in markup:
        text = _tidy(markup)
    else:
        parser = _TextExtractor()
        if not _feed_plain(parser, markup):
            # html.parser asserts on a marked section without a name ("<![:"): make it text.
            parser.feed(_NAMELESS_MARKED_SECTION.sub("&lt;![", markup))
        skip = _GENERIC_HEADING_KEYS.union(_heading_key(h) for h in skip_headings if h)
        text = _join(parser.finish(), skip, paragraph_separator)
    text = nfkc_latin(text).strip() if text else text
    return text or None


def strip_inline_markup(markup: str | None) -> str | None:
    """One-line text from a title-like value: tags removed, entities decoded, spaces collapsed.

    Args:
        markup: e.g. ``"Styrene and <i>p</i>-Bromostyrene\\n   in SO<sub>2</sub>"``.

    Returns:
        The text, or None when empty.
    """
    return jats_to_text(markup, paragraph_separator=" ", skip_headings=())
