"""JATS/HTML/MathML to plain text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.jats import jats_to_text, strip_inline_markup

FIXTURES = Path(__file__).parent.parent / "fixtures" / "crossref"


def test_structured_abstract_from_real_crossref_record() -> None:
    name = "works_single_10.1136_jclinpath-2020-206745_jats_abstract.json"
    envelope = json.loads((FIXTURES / name).read_bytes())
    text = jats_to_text(envelope["message"]["abstract"])
    paragraphs = text.split("\n")
    assert [p.split(":")[0] for p in paragraphs] == [
        "Background", "Objective", "Methods", "Results", "Conclusion"]
    assert paragraphs[0].startswith("Background: The absence of high-quality next-generation")
    assert "<" not in text and "jats" not in text


def test_paragraph_separator_gives_one_line() -> None:
    markup = ("<jats:sec><jats:title>Aim</jats:title><jats:p>One.</jats:p></jats:sec>"
              "<jats:p>Two.</jats:p>")
    assert jats_to_text(markup, paragraph_separator=" ") == "Aim: One. Two."


def test_inline_markup_keeps_words_and_decodes_entities() -> None:
    markup = ("<jats:p>Effect of trophic level (\n   <jats:italic>p</jats:italic>\n"
              "   \u00a0&lt;\u00a00.01) on CO<jats:sub>2</jats:sub> &amp; x<sup>2</sup></jats:p>")
    assert jats_to_text(markup) == "Effect of trophic level (p < 0.01) on CO2 & x2"


def test_generic_and_requested_headings_are_dropped() -> None:
    markup = "<jats:title>Abstract</jats:title><jats:p>Body text.</jats:p>"
    assert jats_to_text(markup) == "Body text."
    markup = "<jats:title>Any Lesson?</jats:title><jats:p>Have we time?</jats:p>"
    assert jats_to_text(markup, skip_headings=("Any lesson?",)) == "Have we time?"
    assert jats_to_text(markup) == "Any Lesson? Have we time?"


def test_nested_headings_and_trailing_heading() -> None:
    markup = ("<sec><title>Methods</title><sec><title>Design</title><p>RCT.</p></sec></sec>"
              "<sec><title>Funding</title></sec>")
    assert jats_to_text(markup) == "Methods: Design: RCT.\nFunding"


def test_mathml_alternatives_keep_one_rendering() -> None:
    markup = (
        "<jats:p>We set <jats:inline-formula><jats:alternatives>"
        "<mml:math><mml:mi>\u03b1</mml:mi><mml:mo>=</mml:mo><mml:mn>2</mml:mn>"
        "<mml:annotation encoding='application/x-tex'>\\alpha=2</mml:annotation></mml:math>"
        "<jats:tex-math>\\documentclass{minimal}\\begin{document}$\\alpha=2$\\end{document}"
        "</jats:tex-math></jats:alternatives></jats:inline-formula> here.</jats:p>"
    )
    assert jats_to_text(markup) == "We set \u03b1=2 here."


def test_tex_math_keeps_only_the_formula() -> None:
    markup = ("<p>Let <tex-math>\\documentclass[12pt]{minimal}\\usepackage{amsmath}"
              "\\begin{document}$$x^2$$\\end{document}</tex-math> hold.</p>")
    assert jats_to_text(markup) == "Let x^2 hold."


def test_html_blocks_breaks_and_cdata() -> None:
    assert jats_to_text("<div><p>First<br>second</p><b>third</b></div>") == "First\nsecond\nthird"
    assert jats_to_text("<![CDATA[a <b> c]]> d") == "a <b> c d"


@pytest.mark.parametrize(
    "markup",
    ["<p>unclosed <i>italic", "</p></sec>stray end tags<p>", "<jats:p>a</jats:title>b</jats:p>",
     "<<>>< p >", "<p attr='x>y'>quoted</p>"],
)
def test_malformed_markup_never_raises(markup: str) -> None:
    text = jats_to_text(markup)
    assert text is None or isinstance(text, str)


def test_malformed_markup_keeps_the_text() -> None:
    assert jats_to_text("<p>unclosed <i>italic") == "unclosed italic"
    assert jats_to_text("</p></sec>stray end tags<p>") == "stray end tags"


@pytest.mark.parametrize(
    "value", [None, "", "   ", "<p> </p>", "<jats:title>Abstract</jats:title>"])
def test_empty_values_give_none(value: str | None) -> None:
    assert jats_to_text(value) is None


def test_plain_text_is_collapsed_and_nfkc() -> None:
    assert jats_to_text("  plain\n\ttext \ufb01le  ") == "plain text file"


def test_strip_inline_markup_on_real_titles() -> None:
    title = ("Feeding habits of four-finger threadfin fish,\n                    "
             "<i>Eleutheronema tetradactylum,</i>\n                    and its diet")
    assert strip_inline_markup(title) == (
        "Feeding habits of four-finger threadfin fish, Eleutheronema tetradactylum, and its diet")
    assert strip_inline_markup("Styrene and <i>p</i>-Bromostyrene") == "Styrene and p-Bromostyrene"
    assert strip_inline_markup(None) is None


def test_chinese_punctuation_is_kept() -> None:
    text = "人工智能（AI）在医学教育中的应用。"
    assert jats_to_text(f"<p>{text}</p>") == text


@given(st.text(alphabet=st.sampled_from(list("<>/&;:ab p=\"'![]-#\n")), max_size=60))
def test_arbitrary_markup_never_raises(markup: str) -> None:
    text = jats_to_text(markup)
    assert text is None or (text == text.strip() and "\n\n" not in text)


def test_a_nameless_marked_section_is_text_not_a_crash():
    assert jats_to_text("<![:") == "<![:"
    assert jats_to_text("<jats:p>a <![: b</jats:p>") == "a <![: b"


# -- the plain-markup tokenizer gives exactly HTMLParser's events ---------------------------

from transforms import jats as jats_module  # noqa: E402

_NAMES = st.sampled_from(["p", "jats:p", "jats:sec", "jats:title", "i", "sup", "br", "mml:mi",
                          "alternatives", "tex-math", "annotation", "list-item", "H2", "Sec"])
_WORDS = st.sampled_from(["Background", "Methods", "Abstract", "a", "b ,", "( x )", "&amp;",
                          "&lt;5", "&#x4e2d;", "\n  ", " . ", "p>0.05", "人工智能，", "ﬁle",
                          "&nosuch;", "&", " : end", "\\begin{document}$x$\\end{document}"])
_ATTRS = st.sampled_from(["", ' id="s1"', " list-type='bullet'", ' xmlns:mml="http://x/"',
                          " disabled", ' a = "1" b="2"'])


@st.composite
def _plain_markup(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.integers(0, 3))
        name = draw(_NAMES)
        if kind == 0:
            parts.append(draw(_WORDS))
        elif kind == 1:
            parts.append(f"<{name}{draw(_ATTRS)}>")
        elif kind == 2:
            parts.append(f"</{name}{draw(st.sampled_from(['', ' ']))}>")
        else:
            parts.append(f"<{name}{draw(_ATTRS)}{draw(st.sampled_from(['/', ' /']))}>")
    return "".join(parts)


def _events_by_htmlparser(markup: str) -> list[tuple[str, str]]:
    parser = jats_module._TextExtractor()
    parser.feed(markup)
    return parser.finish()


def _events_by_plain(markup: str) -> list[tuple[str, str]] | None:
    parser = jats_module._TextExtractor()
    if not jats_module._feed_plain(parser, markup):
        return None
    return parser.finish()


@given(_plain_markup())
def test_plain_tokenizer_agrees_with_htmlparser(markup: str) -> None:
    fast = _events_by_plain(markup)
    assert fast is not None, f"plain markup not taken by the fast path: {markup!r}"
    assert fast == _events_by_htmlparser(markup)


@pytest.mark.parametrize("markup", [
    "<!-- c --><p>x</p>", "<p>a <![CDATA[b]]></p>", "<script>var a = '<b>';</script>x",
    "<p>p<0.05</p>", "<p attr='x>y'>quoted</p>", "<p>unclosed <i", "<<>>< p >", "<?xml?><p>x</p>",
    "<title>x</title>",
])
def test_other_markup_is_left_to_htmlparser(markup: str) -> None:
    assert _events_by_plain(markup) is None
    assert jats_to_text(markup) == jats_module._join(
        _events_by_htmlparser(jats_module._NAMELESS_MARKED_SECTION.sub("&lt;![", markup)),
        {jats_module._heading_key(h) for h in jats_module.GENERIC_HEADINGS}, "\n") or None


def test_every_real_crossref_abstract_takes_the_fast_path_identically() -> None:
    abstracts = []
    for path in sorted(FIXTURES.glob("*.json")):
        try:
            envelope = json.loads(path.read_bytes())
        except ValueError:
            continue
        message = envelope.get("message") if isinstance(envelope, dict) else None
        items = message.get("items", [message]) if isinstance(message, dict) else []
        abstracts += [i["abstract"] for i in items if isinstance(i, dict) and "abstract" in i]
    assert len(abstracts) >= 5
    for markup in abstracts:
        fast = _events_by_plain(markup)
        if fast is not None:
            assert fast == _events_by_htmlparser(markup)
    assert sum(_events_by_plain(m) is not None for m in abstracts) >= len(abstracts) // 2


@pytest.mark.parametrize("markup", [
    "a" * 50_000 + "<", "<p>" + "x " * 30_000 + "<", '<p a="' + "b" * 50_000,
    "<p>" + "<b>" * 20_000,
])
def test_long_markup_with_a_stray_bracket_does_not_backtrack(markup: str) -> None:
    """The plain-markup check is possessive: a stray '<' after a long run must not make it
    try every way of splitting the run (that would never finish)."""
    import signal

    def too_slow(*_: object) -> None:
        raise TimeoutError("the plain-markup check backtracked")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.setitimer(signal.ITIMER_REAL, 10)
    try:
        text = jats_to_text(markup)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert text is None or len(text) >= 1
