"""MyST headings and titles become plain text: no backticks, no raw `[](label)` or `{role}` targets."""

from __future__ import annotations

import pytest

from knowledgebase.markdown_import import heading_text, parse_markdown


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("The `{% image %}` tag", "The {% image %} tag"),
        ("Page.`get_url()` method", "Page.get_url() method"),
        ("See [](image_renditions)", "See image renditions"),
        ("[](/reference/settings.md#wagtail-site-name)", "wagtail site name"),
        ("[Images](../topics/images.md#renditions) in templates", "Images in templates"),
        ("{ref}`Renditions <image_renditions>`", "Renditions"),
        ("{meth}`~wagtail.models.Page.get_url`", "wagtail.models.Page.get_url"),
        ("{doc}`The docs </topics/x>` and **bold** *em*", "The docs and bold em"),
        ("Plain heading", "Plain heading"),
    ],
)
def test_heading_text_keeps_what_a_reader_sees(source: str, expected: str) -> None:
    assert heading_text(source) == expected


def test_imported_headings_and_titles_carry_no_markdown_targets() -> None:
    parsed = parse_markdown(
        "(page_api)=\n\n# The `Page` model\n\n## Using [](image_renditions)\n\nText.\n\n"
        "### {meth}`~wagtail.models.Page.get_url` and `{% pageurl %}`\n\nMore text.\n",
        fallback_title="page",
    )
    headings = [value["text"] for kind, value in parsed.blocks if kind == "heading"]
    assert parsed.title == "The Page model"
    assert headings == ["Using image renditions", "wagtail.models.Page.get_url and {% pageurl %}"]


def test_front_matter_title_is_plain_text() -> None:
    parsed = parse_markdown(
        '---\ntitle: "The `StreamField` [](streamfield_topic)"\n---\n\nBody.\n', fallback_title="x"
    )
    assert parsed.title == "The StreamField streamfield topic"


def test_an_image_alone_in_its_paragraph_leaves_no_stray_sentence() -> None:
    parsed = parse_markdown(
        "# Filters\n\nThe fill filter crops the image to the given size.\n\n"
        "![Example of fill filter on an image](../_static/images/image_filter_fill.png)\n\n"
        "Click the ![edit icon](icon.png) button to change the crop.\n\n"
        "## Only a picture\n\n![A screenshot](shot.png)\n\n## After\n\nText.\n",
        fallback_title="x",
    )
    paragraphs = [value for kind, value in parsed.blocks if kind == "paragraph"]
    assert paragraphs == [
        "<p>The fill filter crops the image to the given size.</p>\n"
        "<p>Click the edit icon button to change the crop.</p>",
        "<p>Text.</p>",
    ]
    assert [value["text"] for kind, value in parsed.blocks if kind == "heading"] == [
        "Only a picture",
        "After",
    ]
