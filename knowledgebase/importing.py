"""Import a folder of Markdown as published knowledge pages: folders become sections, files become pages,
each page keeps the path it came from. Re-importing updates changed pages and leaves the rest alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.text import slugify
from wagtail.models import Page

from knowledgebase.markdown_import import parse_markdown
from knowledgebase.models import KnowledgeIndexPage, KnowledgePage
from search.errors import KnowledgeError
from search.values import text_hash


class ImportError_(KnowledgeError):
    default_code = "import_error"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    sections: int = 0


def parent_page_resolve(path: str, *, create: bool = True) -> Page:
    """A page by URL path under the default site's root (`/`, `/docs/`); the last segment is created as a
    knowledge section when missing."""
    root = Page.objects.filter(depth=2).order_by("path").first()
    if root is None:
        raise ImportError_("The site has no root page; run `manage.py migrate` first.")
    page: Page = root
    segments = [s for s in path.strip("/").split("/") if s]
    for index, segment in enumerate(segments):
        child = page.get_children().filter(slug=segment).first()
        if child is None:
            if not create or index != len(segments) - 1:
                raise ImportError_(f"No page at {'/' + '/'.join(segments[: index + 1])}/ to import under.")
            child = _section(page, slug=segment, title=segment.replace("-", " ").replace("_", " ").title())
        page = child.specific
    return page


def _section(parent: Page, *, slug: str, title: str, source_path: str = "") -> KnowledgeIndexPage:
    section = KnowledgeIndexPage(title=title, slug=slugify(slug) or "section", source_path=source_path)
    parent.add_child(instance=section)
    section.save_revision().publish()
    return section


def markdown_folder_import(
    directory: Path,
    *,
    parent: Page,
    user: Any = None,
    progress: Callable[[str], object] | None = None,
) -> ImportReport:
    if not directory.is_dir():
        raise ImportError_(f"{directory} is not a folder.")
    report = ImportReport()
    files = sorted(p for p in directory.rglob("*.md") if p.is_file())
    sections: dict[Path, Page] = {Path("."): parent}
    for file in files:
        relative = file.relative_to(directory)
        folder = _folder_page(directory, relative.parent, sections, report)
        outcome = _import_file(file, relative=relative, parent=folder, user=user)
        setattr(report, outcome, getattr(report, outcome) + 1)
        if progress:
            progress(str(relative))
    return report


def _folder_page(root: Path, folder: Path, sections: dict[Path, Page], report: ImportReport) -> Page:
    if folder in sections:
        return sections[folder]
    parent = _folder_page(root, folder.parent, sections, report)
    existing = KnowledgeIndexPage.objects.child_of(parent).filter(source_path=str(folder)).first()
    if existing is None:
        index_file = root / folder / "index.md"
        title = folder.name.replace("_", " ").replace("-", " ").capitalize()
        if index_file.exists():
            title = parse_markdown(index_file.read_text(encoding="utf-8"), fallback_title=title).title
        existing = _section(parent, slug=folder.name, title=title[:255], source_path=str(folder))
        report.sections += 1
    sections[folder] = existing
    return existing


def _import_file(file: Path, *, relative: Path, parent: Page, user: Any) -> str:
    raw = file.read_text(encoding="utf-8", errors="replace")
    digest = text_hash(raw)
    page = KnowledgePage.objects.child_of(parent).filter(source_path=str(relative)).first()
    if page is not None and page.source_hash == digest and page.live:
        return "unchanged"
    parsed = parse_markdown(raw, fallback_title=file.stem)
    title = parsed.title[:255]
    created = page is None
    if page is None:
        page = KnowledgePage(
            slug=_unique_slug(parent, slugify(file.stem) or "page"), source_path=str(relative)
        )
    page.title, page.summary, page.body, page.source_hash = title, parsed.summary, parsed.blocks, digest
    with transaction.atomic():
        if created:
            parent.add_child(instance=page)
        page.save_revision(user=user).publish(user=user)
    return "created" if created else "updated"


def _unique_slug(parent: Page, base: str) -> str:
    slug, n = base, 1
    while parent.get_children().filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug
