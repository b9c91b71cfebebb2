"""Chunking keeps structure and fits every passage in the embedder's window."""

import pytest

from knowledgebase.chunking import chunk_blocks, split_sentences
from knowledgebase.content import source_chunks, source_content
from knowledgebase.extraction.base import Block, BlockKind
from tests import factories


def words(text: str) -> int:
    return len(text.split()) + 2  # like a tokenizer, with its two special tokens


def _doc(sections: dict[str, list[str]]) -> list[Block]:
    blocks = []
    for heading, paragraphs in sections.items():
        anchor = heading.lower().replace(" ", "-")
        blocks.append(
            Block(kind=BlockKind.HEADING, text=heading, heading_path=(heading,), anchor=anchor, level=2)
        )
        blocks += [
            Block(kind=BlockKind.PARAGRAPH, text=p, heading_path=(heading,), anchor=anchor)
            for p in paragraphs
        ]
    return blocks


def _chunk(blocks, **kw):
    options = {
        "title": "Guide",
        "count_tokens": words,
        "passage_tokens": 40,
        "overlap_tokens": 8,
        "context_tokens": 120,
    }
    return chunk_blocks(blocks, **{**options, **kw})


def test_splits_at_headings_and_keeps_heading_path_and_anchor():
    drafts = _chunk(_doc({"Install": ["Run pip install wagtail."], "Configure": ["Add apps to settings."]}))
    assert [(d.heading_path, d.anchor, d.text) for d in drafts] == [
        (("Install",), "install", "Run pip install wagtail."),
        (("Configure",), "configure", "Add apps to settings."),
    ]
    assert [d.position for d in drafts] == [0, 1]


def test_every_passage_fits_the_window_with_its_prefix_and_no_word_is_cut():
    sentence = "Wagtail stores every revision of a page so editors can compare and roll back changes."
    text = " ".join([sentence] * 30)
    drafts = _chunk(_doc({"Revisions": [text]}))
    assert len(drafts) > 3
    for d in drafts:
        assert words("Guide › Revisions\n") + words(d.text) - 2 <= 40
    source_words = set(text.split())
    assert all(set(d.text.split()) <= source_words for d in drafts), "a word was cut"
    # Everything is covered: every sentence of the section appears in some passage.
    joined = " ".join(d.text for d in drafts)
    assert joined.count("roll back changes.") >= 30


def test_consecutive_passages_overlap():
    paragraphs = [f"Sentence number {i} talks about topic {i}." for i in range(30)]
    drafts = _chunk(_doc({"Topics": [" ".join(paragraphs)]}), overlap_tokens=20)
    assert len(drafts) > 2
    for a, b in zip(drafts, drafts[1:], strict=False):
        assert a.text.split("\n")[-1] in b.text.split("\n")


def test_context_is_larger_than_the_passage_and_contains_it():
    paragraphs = [f"Paragraph {i} explains detail {i} of the feature." for i in range(20)]
    drafts = _chunk(_doc({"Feature": paragraphs}))
    for d in drafts:
        assert d.text.split("\n")[0] in d.context
        assert words(d.context) <= 120 + 2 * len(d.context.split("\n\n"))
    assert any(len(d.context) > 2 * len(d.text) for d in drafts)


def test_a_single_overlong_word_is_split_rather_than_dropped():
    blob = "x" * 500
    drafts = _chunk(
        [Block(kind=BlockKind.PARAGRAPH, text=blob)],
        count_tokens=lambda t: len(t) // 10 + 2,
        overlap_tokens=0,
    )
    assert len(drafts) == 2
    assert "".join(d.text.replace("\n", "") for d in drafts) == blob


def test_code_blocks_split_by_lines():
    code = "\n".join(f"line_{i} = call_{i}()" for i in range(60))
    drafts = _chunk([Block(kind=BlockKind.CODE, text=code, heading_path=("API",), anchor="api")])
    assert len(drafts) > 1
    assert all(line.startswith("line_") for d in drafts for line in d.text.split("\n"))


def test_the_context_fences_each_code_block_and_the_passage_stays_plain():
    """The answerer tells code from prose by its fence (an introducing sentence carries it, prose around
    it is quoted as prose); the embedded passage keeps no fence, so vectors and BM25 terms are as before."""
    path = ("Setup",)
    blocks = [
        Block(kind=BlockKind.PARAGRAPH, text="Add this to settings.py:", heading_path=path),
        Block(kind=BlockKind.CODE, text="A = 1\nB = 2", heading_path=path, language="python"),
        Block(kind=BlockKind.PARAGRAPH, text="Then run the migrations.", heading_path=path),
        Block(kind=BlockKind.CODE, text="manage.py migrate", heading_path=path, language="s`h x"),
    ]
    (draft,) = _chunk(blocks, passage_tokens=200, context_tokens=400)
    assert draft.text == "Add this to settings.py:\nA = 1\nB = 2\nThen run the migrations.\nmanage.py migrate"
    assert draft.context == (
        "Add this to settings.py:\n\n```python\nA = 1\nB = 2\n```\n\nThen run the migrations."
        "\n\n```shx\nmanage.py migrate\n```"
    ), "the language an editor typed is one word without backticks"


def test_a_code_block_split_across_passages_is_fenced_once_in_each_context():
    code = "\n".join(f"line_{i} = call_{i}()" for i in range(60))
    blocks = [
        Block(kind=BlockKind.PARAGRAPH, text="The whole module:", heading_path=("API",)),
        Block(kind=BlockKind.CODE, text=code, heading_path=("API",), language="python"),
    ]
    drafts = _chunk(blocks)
    assert len(drafts) > 2
    for draft in drafts:
        assert draft.context.count("```python\n") == 1 and draft.context.endswith("\n```")
        assert "```" not in draft.text


def test_page_numbers_follow_the_first_block_of_a_passage():
    blocks = [
        Block(kind=BlockKind.PARAGRAPH, text=" ".join(["alpha"] * 30), page_number=1),
        Block(kind=BlockKind.PARAGRAPH, text=" ".join(["beta"] * 30), page_number=2),
    ]
    drafts = _chunk(blocks)
    assert [d.page_number for d in drafts] == [1, 2]


def test_a_passage_never_crosses_a_page_so_its_page_holds_every_word():
    """Short paragraphs that would fit one passage together still split where the page turns, and no
    overlap carries the last page's words into the next one (issue 16: 90 % of strings on their page)."""
    blocks = [
        Block(kind=BlockKind.PARAGRAPH, text=f"{word} " * 5, page_number=page)
        for page, word in ((1, "alpha"), (1, "gamma"), (2, "beta"), (2, "delta"), (3, "omega"))
    ]
    drafts = _chunk(blocks, overlap_tokens=20)
    assert [(d.page_number, d.text.split()[::5]) for d in drafts] == [
        (1, ["alpha", "gamma"]),
        (2, ["beta", "delta"]),
        (3, ["omega"]),
    ]


def test_heading_without_content_makes_no_chunk():
    blocks = _doc({"Empty": [], "Full": ["Content here."]})
    drafts = _chunk(blocks)
    assert [d.heading_path for d in drafts] == [("Full",)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call for_request(). Then render it.", ["Call for_request().", "Then render it."]),
        ("Use e.g. the panel. It works.", ["Use e.g. the panel.", "It works."]),
        ("Version 6.2 added it. Good!", ["Version 6.2 added it.", "Good!"]),
    ],
)
def test_sentence_split_keeps_identifiers_whole(text, expected):
    assert split_sentences(text) == expected


def test_a_megabyte_long_line_is_split_in_linear_time_with_bounded_tokenizer_calls():
    """A 2 MB single-line text once took minutes here (the growing piece was re-counted after every word)
    and a 20 MB one drove the worker to gigabytes (the whole text went to the tokenizer at once)."""
    from knowledgebase.chunking import _MAX_COUNTED_CHARS

    calls: list[int] = []

    def counting(text: str) -> int:
        calls.append(len(text))
        return words(text)

    vocabulary = [f"word{n}" for n in range(500)]
    text = " ".join(vocabulary[n % 500] for n in range(300_000))  # ~2.3 MB, no line break, no full stop
    drafts = _chunk([Block(kind=BlockKind.PARAGRAPH, text=text)], count_tokens=counting, passage_tokens=200)
    assert " ".join(d.text for d in drafts).split() == text.split()
    assert all(words(d.text) + words("Guide\n") - 2 <= 200 for d in drafts)
    assert max(calls) <= _MAX_COUNTED_CHARS
    assert len(calls) < 3 * len(drafts) + 600  # per passage and per distinct word, not per word


def test_a_word_longer_than_a_passage_is_cut_by_characters():
    blob = "x" * 50_000

    def chars(text: str) -> int:  # a tokenizer that sees every character as a token
        return len(text.replace(" ", "")) + 2

    drafts = _chunk([Block(kind=BlockKind.PARAGRAPH, text=f"Start {blob} end")], count_tokens=chars)
    assert "".join(d.text.replace(" ", "").replace("\n", "") for d in drafts) == f"Start{blob}end"
    assert all(chars(d.text) <= 40 for d in drafts)


def test_a_dense_unbroken_string_is_cut_with_about_one_count_per_piece():
    """16 MB of "[a](" (a token every character) took 112 s to chunk when every cut piece was counted
    again; the measured characters-per-token rate cuts the next piece right the first time."""
    calls: list[int] = []

    def dense(text: str) -> int:  # every character a token, like "[a](" in word-pieces
        calls.append(len(text))
        return len(text) + 2

    blob = "[a](" * 5_000
    drafts = _chunk([Block(kind=BlockKind.PARAGRAPH, text=blob)], count_tokens=dense, passage_tokens=100)
    assert "".join(d.text for d in drafts) == blob
    assert all(dense(d.text) <= 100 for d in drafts)
    assert len(calls) < 2 * len(drafts) + 20
    assert max(calls) <= 8 * 100


@pytest.mark.django_db
def test_rich_text_keeps_inline_elements_in_their_line_and_lists_marked():
    """A page's passages read as its paragraphs and list items do: inline code (in backticks), links and
    bold stay in their sentence, and an item that starts with code keeps its "- " marker."""
    body = [
        factories.heading("Panel options"),
        (
            "paragraph",
            "<p>The attributes are as follows:</p><ul><li><code>name</code> - a <b>unique</b> name</li>"
            '<li><code>order</code> - panels start at <code>100</code> and go up by <a href="/x">100</a>'
            "<br/>for each panel</li></ul><p>See the <i>reference</i>.</p>",
        ),
    ]
    page = factories.knowledge_page(factories.site_home(), title="Settings", body=body)
    text = "\n".join(chunk.text for chunk in source_chunks("page", page.pk, source_content(page)))
    assert "The attributes are as follows:\n- `name` - a unique name\n" in text
    assert "- `order` - panels start at `100` and go up by 100\nfor each panel\nSee the reference." in text


@pytest.mark.django_db
def test_a_page_code_block_keeps_its_language_and_other_blocks_have_none():
    from knowledgebase.sources import page_blocks

    page = factories.knowledge_page(
        factories.site_home(),
        title="Settings",
        body=[
            factories.heading("Example"),
            factories.paragraph("Add this to settings.py:"),
            ("code", {"language": "python", "code": "WAGTAIL_SITE_NAME = 'Intranet'"}),
        ],
    )
    blocks = [(b.kind, b.text, b.language) for b in page_blocks(page) if b.kind != BlockKind.HEADING]
    assert blocks == [
        (BlockKind.PARAGRAPH, "Add this to settings.py:", ""),
        (BlockKind.CODE, "WAGTAIL_SITE_NAME = 'Intranet'", "python"),
    ]
