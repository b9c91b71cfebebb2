"""The per-source passage cap (KNOWLEDGE_CHUNKING['MAX_PASSAGES']) and the OCR worker count
(KNOWLEDGE_OCR_WORKERS): real, validated settings that the chunking and the OCR code read."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string

from knowledgebase.conf import ocr_workers, settings_check
from knowledgebase.content import SourceContent, source_chunks
from knowledgebase.extraction import ExtractionLimits
from knowledgebase.extraction.base import Block, BlockKind
from search.values import Visibility
from search.visibility import Access

CHUNKING = {"PASSAGE_TOKENS": 200, "OVERLAP_TOKENS": 40, "CONTEXT_TOKENS": 1000}


def _book(pages: int) -> SourceContent:
    """One heading and one long paragraph per page: several passages a page."""
    blocks: list[Block] = []
    for page in range(1, pages + 1):
        blocks.append(
            Block(
                kind=BlockKind.HEADING,
                text=f"Chapter {page}",
                heading_path=(f"Chapter {page}",),
                level=1,
                page_number=page,
            )
        )
        words = " ".join(f"word{page}x{n}" for n in range(300))
        blocks.append(
            Block(kind=BlockKind.PARAGRAPH, text=words, heading_path=(f"Chapter {page}",), page_number=page)
        )
    return SourceContent(
        title="Long book",
        url="/documents/1/",
        revision_id=1,
        access=Access(visibility=Visibility.PUBLIC),
        blocks=blocks,
        stats={"pages": pages, "warnings": []},
    )


def test_a_source_past_the_cap_keeps_its_first_passages_and_says_from_where(settings) -> None:
    settings.KNOWLEDGE_CHUNKING = {**CHUNKING, "MAX_PASSAGES": 100_000}
    whole = source_chunks("document", 1, _book(12))
    assert len(whole) > 12
    settings.KNOWLEDGE_CHUNKING = {**CHUNKING, "MAX_PASSAGES": 10}
    content = _book(12)
    capped = source_chunks("document", 1, content)
    assert [c.chunk_id for c in capped] == [c.chunk_id for c in whole[:10]]
    first_left_out = whole[10]
    assert content.stats["truncated"] == {
        "kept": 10,
        "total": len(whole),
        "from": f"page {first_left_out.page_number}",
    }
    html = render_to_string(
        "knowledgebase/admin/indexing_status_panel.html",
        {"status": {"version": {"stats": content.stats}, "source_type": "document", "source_id": 1}},
    )
    assert f"only the first 10 of {len(whole)} passages are in the knowledge index" in html
    assert f"From page {first_left_out.page_number} on, the bot cannot find or quote this source" in html


def test_a_source_under_the_cap_is_whole_and_the_panel_says_nothing_of_a_cap(settings) -> None:
    settings.KNOWLEDGE_CHUNKING = {**CHUNKING, "MAX_PASSAGES": 10_000}
    content = _book(3)
    source_chunks("document", 1, content)
    assert "truncated" not in content.stats
    html = render_to_string(
        "knowledgebase/admin/indexing_status_panel.html",
        {"status": {"version": {"stats": content.stats}, "source_type": "document", "source_id": 1}},
    )
    assert "Not all indexed" not in html


@pytest.mark.parametrize("value", [0, -1, "4", 2.5, True])
def test_an_impossible_passage_cap_fails_at_start_up(settings, value: object) -> None:
    settings.KNOWLEDGE_CHUNKING = {**CHUNKING, "MAX_PASSAGES": value}
    with pytest.raises(ImproperlyConfigured, match="KNOWLEDGE_MAX_PASSAGES"):
        settings_check()


def test_ocr_workers_come_from_the_setting_into_the_extraction_limits(settings) -> None:
    settings.KNOWLEDGE_OCR_WORKERS = 3
    assert ocr_workers() == 3
    limits = ExtractionLimits.from_settings()
    assert limits.ocr_workers == 3
    # The sandbox child gets its limits as a dict: the count survives the trip.
    assert ExtractionLimits.from_dict(limits.to_dict()).ocr_workers == 3


@pytest.mark.parametrize("value", [0, -2, 33, "2", None])
def test_an_impossible_ocr_worker_count_fails_at_start_up(settings, value: object) -> None:
    settings.KNOWLEDGE_OCR_WORKERS = value
    with pytest.raises(ImproperlyConfigured, match="KNOWLEDGE_OCR_WORKERS"):
        settings_check()
    with pytest.raises(ImproperlyConfigured, match="KNOWLEDGE_OCR_WORKERS"):
        ExtractionLimits.from_settings()
