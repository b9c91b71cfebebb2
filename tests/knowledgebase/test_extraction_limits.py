"""Every type is parsed in the sandbox and finishes in bounded time and memory: huge single-line text,
a text just under the upload limit, hostile Markdown (read as plain text past its parse budget)."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledgebase.extraction import ExtractionError, ExtractionLimits, extract_file, extract_markdown
from knowledgebase.extraction.markdown_segments import SEGMENT_CHARS, markdown_segments
from knowledgebase.validation import validate_upload

LIMITS = ExtractionLimits()
# The bound for any accepted file, for any process.
MAX_RSS = 1536 * 1024 * 1024


def _words(count: int) -> str:
    vocabulary = "parking visitor badge reception garage level lift door key desk".split()
    return " ".join(vocabulary[n % len(vocabulary)] for n in range(count))


def test_a_20_mb_single_line_text_is_read_in_the_sandbox_with_bounded_memory(tmp_path):
    path = tmp_path / "one-line.txt"
    path.write_text(_words(3_200_000)[:20_000_000], encoding="utf-8")
    document = extract_file(path, filename=path.name, limits=LIMITS, isolated=True)
    assert document.characters >= 19_999_990  # a cut-off trailing space is stripped
    assert 0 < document.peak_rss_bytes < MAX_RSS


def test_a_text_just_under_the_upload_limit_is_validated_from_a_sample_and_extracted(tmp_path):
    path = tmp_path / "big.txt"
    paragraph = _words(80) + "\n\n"
    path.write_text(paragraph * (26_000_000 // len(paragraph)), encoding="utf-8")
    assert path.stat().st_size < LIMITS.max_bytes
    with path.open("rb") as handle:
        assert validate_upload(handle, filename=path.name, size=None, limits=LIMITS).kind == "txt"
    document = extract_file(path, filename=path.name, limits=LIMITS, isolated=True)
    assert document.characters > 25_000_000 and 0 < document.peak_rss_bytes < MAX_RSS


def test_text_and_markdown_obey_the_sandbox_memory_limit(tmp_path):
    path = tmp_path / "big.md"
    path.write_text(("# Heading\n\n" + _words(200) + "\n\n") * 20_000, encoding="utf-8")
    with pytest.raises(ExtractionError) as info:
        extract_file(path, filename=path.name, limits=ExtractionLimits(memory_mb=64), isolated=True)
    assert info.value.code == "memory"


@pytest.mark.parametrize(
    "hostile",
    ["[" * 3_000_000 + "a" + "]" * 3_000_000, "*a " * 2_000_000, "a" + "<" * 5_000_000, "[a](" * 1_500_000],
)
def test_hostile_markdown_finishes_as_plain_text_with_a_warning(tmp_path, hostile):
    path = tmp_path / "hostile.md"
    path.write_text("# Notes\n\nA normal paragraph first.\n\n" + hostile + "\n", encoding="utf-8")
    document = extract_file(path, filename=path.name, limits=LIMITS, isolated=True)
    assert document.blocks[0].text == "Notes" and document.blocks[1].text == "A normal paragraph first."
    assert any("plain text" in w for w in document.warnings), document.warnings
    assert document.characters > len(hostile) * 0.99


def test_markdown_past_its_parse_budget_keeps_every_word_as_plain_text():
    sections = [f"## Part {n}\n\nText of part {n} with *emphasis*.\n\n" for n in range(20_000)]
    source = "".join(sections)
    document = extract_markdown(source, budget_seconds=0.0)
    text = "\n".join(block.text for block in document.blocks)
    assert "Text of part 19999 with *emphasis*." in text  # the tail, unparsed
    assert document.blocks[0].kind == "heading" and document.blocks[0].text == "Part 0"  # the head, parsed
    assert any("read as plain text" in w for w in document.warnings)


def test_segments_join_back_and_never_cut_a_fence_or_the_front_matter():
    fence = "```python\n" + "x = 1\n\n" * 20_000 + "```\n\n"
    front = "---\ntitle: Big\n\nnote: blank line above\n---\n\n"
    source = front + "Intro.\n\n" * 10_000 + fence + "After.\n\n" * 10_000
    segments = [segment.text for segment in markdown_segments(source)]
    assert "".join(segments) == source and len(segments) > 3
    assert all(segment.count("```") % 2 == 0 for segment in segments)
    assert segments[0].startswith(front)
    assert all(len(s) < SEGMENT_CHARS * 2 for s in segments if "```" not in s)
    document = extract_markdown(source)
    assert document.title == "Big"
    assert [b.language for b in document.blocks if b.kind == "code"] == ["python"]


def test_an_oversized_block_is_cut_out_as_plain_text_between_parsed_segments():
    huge = "[" * 400_000
    source = "# Head\n\nBefore.\n\n" + huge + "\n\nAfter *this*.\n"
    segments = list(markdown_segments(source))
    assert "".join(s.text for s in segments) == source
    assert [s.parse for s in segments] == [True, False, True]
    document = extract_markdown(source)
    assert [b.text for b in document.blocks] == ["Head", "Before.", huge, "After this."]


def test_small_markdown_is_parsed_whole(tmp_path: Path):
    source = "See [the guide][g].\n\n" + "Filler.\n\n" * 10 + "[g]: https://example.com/guide\n"
    assert [segment.text for segment in markdown_segments(source)] == [source]
    assert extract_markdown(source).blocks[0].text == "See the guide."
