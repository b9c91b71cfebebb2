"""StreamField blocks of a knowledge page. Headings are blocks of their own so each gets a stable id on the
rendered page (citations deep-link to it) and chunking can split at them."""

from __future__ import annotations

from wagtail import blocks
from wagtail.contrib.table_block.blocks import TableBlock
from wagtail.images.blocks import ImageBlock
from wagtail.snippets.blocks import SnippetChooserBlock


class HeadingBlock(blocks.StructBlock):
    text = blocks.CharBlock(max_length=255)
    level = blocks.ChoiceBlock(
        choices=[("h2", "Heading 2"), ("h3", "Heading 3"), ("h4", "Heading 4")], default="h2"
    )

    class Meta:
        icon = "title"
        template = "knowledgebase/blocks/heading.html"


class CodeBlock(blocks.StructBlock):
    language = blocks.CharBlock(required=False, max_length=40, help_text="e.g. python, html, sh")
    code = blocks.TextBlock()

    class Meta:
        icon = "code"
        template = "knowledgebase/blocks/code.html"


class FigureBlock(blocks.StructBlock):
    image = ImageBlock()
    caption = blocks.CharBlock(required=False, max_length=500)

    class Meta:
        icon = "image"
        template = "knowledgebase/blocks/figure.html"


class EmbeddedDocumentBlock(blocks.StructBlock):
    document = SnippetChooserBlock("knowledgebase.KnowledgeDocument")
    note = blocks.CharBlock(required=False, max_length=255)

    class Meta:
        icon = "doc-full"
        template = "knowledgebase/blocks/document.html"


def body_blocks() -> list[tuple[str, blocks.Block]]:
    return [
        ("heading", HeadingBlock()),
        (
            "paragraph",
            blocks.RichTextBlock(
                features=["bold", "italic", "link", "ol", "ul", "code", "document-link", "blockquote"]
            ),
        ),
        ("code", CodeBlock()),
        ("table", TableBlock()),
        ("figure", FigureBlock()),
        ("document", EmbeddedDocumentBlock()),
    ]
