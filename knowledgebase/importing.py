"""Import a folder of Markdown as published knowledge pages: folders become sections, files become pages,
each page keeps the path it came from. Re-importing updates changed pages and leaves the rest alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from wagtail.models import Page, PageViewRestriction

from datacollection.celery import task_send
from knowledgebase.markdown_import import parse_markdown
from knowledgebase.models import ImportRun, KnowledgeIndexPage, KnowledgePage
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
    page_ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


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
    progress: Callable[[str, int], object] | None = None,
) -> ImportReport:
    """Import every `*.md` under `directory`; `progress(relative_path, page_id)` after each file."""
    if not directory.is_dir():
        raise ImportError_(f"{directory} is not a folder.")
    report = ImportReport()
    files = sorted(p for p in directory.rglob("*.md") if p.is_file())
    sections: dict[Path, Page] = {Path("."): parent}
    for file in files:
        relative = file.relative_to(directory)
        folder = _folder_page(directory, relative.parent, sections, report)
        try:
            outcome, page = _import_file(file, relative=relative, parent=folder, user=user)
        except ImportError_ as e:
            # One bad file (unknown group, bad visibility) is reported; the rest of the folder imports.
            report.errors.append(e.message)
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
        report.page_ids.append(page.pk)
        if progress:
            progress(str(relative), page.pk)
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


def _import_file(file: Path, *, relative: Path, parent: Page, user: Any) -> tuple[str, KnowledgePage]:
    raw = file.read_text(encoding="utf-8", errors="replace")
    digest = text_hash(raw)
    page = KnowledgePage.objects.child_of(parent).filter(source_path=str(relative)).first()
    if page is not None and page.source_hash == digest and page.live:
        return "unchanged", page
    parsed = parse_markdown(raw, fallback_title=file.stem)
    title = parsed.title[:255]
    created = page is None
    if page is None:
        page = KnowledgePage(
            slug=_unique_slug(parent, slugify(file.stem) or "page"), source_path=str(relative)
        )
    page.title, page.summary, page.body, page.source_hash = title, parsed.summary, parsed.blocks, digest
    groups = _restriction_groups(parsed.meta, file=relative)
    with transaction.atomic():
        if created:
            parent.add_child(instance=page)
        # Before publishing, so the indexing job that the publish queues sees the restriction.
        _restriction_apply(page, parsed.meta, groups=groups)
        page.save_revision(user=user).publish(user=user)
    return ("created" if created else "updated"), page


RESTRICTIONS = {"login": PageViewRestriction.LOGIN, "groups": PageViewRestriction.GROUPS}


def _restriction_groups(meta: dict[str, Any], *, file: Path) -> list[Group]:
    """Front matter `visibility: login | groups | public` (with `groups: [Editors, …]`) sets the page's
    Wagtail privacy, as an editor would with the Privacy control."""
    visibility = str(meta.get("visibility", "")).strip().lower()
    if not visibility or visibility == "public":
        return []
    if visibility not in RESTRICTIONS:
        raise ImportError_(f"{file}: visibility must be public, login or groups, not {visibility!r}.")
    if visibility == "login":
        return []
    names = meta.get("groups") or []
    names = [names] if isinstance(names, str) else [str(n) for n in names]
    groups = list(Group.objects.filter(name__in=names))
    missing = sorted(set(names) - {g.name for g in groups})
    if not names or missing:
        raise ImportError_(
            f"{file}: visibility: groups needs existing groups; "
            f"unknown: {', '.join(missing) or '(none given)'}."
        )
    return groups


def _restriction_apply(page: KnowledgePage, meta: dict[str, Any], *, groups: list[Group]) -> None:
    if "visibility" not in meta:
        return  # the file says nothing: whatever an editor set in the admin stays
    PageViewRestriction.objects.filter(page=page).delete()
    visibility = str(meta["visibility"]).strip().lower()
    if visibility in RESTRICTIONS:
        restriction = PageViewRestriction.objects.create(page=page, restriction_type=RESTRICTIONS[visibility])
        if groups:
            restriction.groups.set(groups)


def _unique_slug(parent: Page, base: str) -> str:
    slug, n = base, 1
    while parent.get_children().filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


# --- in the background --------------------------------------------------------------------------


def import_run_start(directory: Path, *, parent_path: str = "/docs/") -> ImportRun:
    """Record a background import and queue it once the transaction commits. Returns at once: the
    worker imports, the publishes it makes queue their indexing, and the home page shows the progress."""
    if not directory.is_dir():
        raise ImportError_(f"{directory} is not a folder.")
    total = sum(1 for p in directory.rglob("*.md") if p.is_file())
    run = ImportRun.objects.create(directory=str(directory), parent_path=parent_path, files_total=total)
    transaction.on_commit(lambda: import_run_send(run))
    return run


def import_run_send(run: ImportRun) -> None:
    task_send("knowledgebase.import_run_execute", args=(run.pk,), queue="bulk")


def import_run_execute(run: ImportRun) -> ImportRun:
    if run.status in {ImportRun.Status.DONE, ImportRun.Status.FAILED}:
        return run
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.RUNNING, started_at=timezone.now())
    page_ids: list[int] = []

    def progress(_relative: str, page_id: int) -> None:
        page_ids.append(page_id)
        ImportRun.objects.filter(pk=run.pk).update(files_done=len(page_ids), page_ids=page_ids)

    try:
        parent = parent_page_resolve(run.parent_path)
        report = markdown_folder_import(Path(run.directory), parent=parent, progress=progress)
    except ImportError_ as e:
        ImportRun.objects.filter(pk=run.pk).update(
            status=ImportRun.Status.FAILED, error=e.message, finished_at=timezone.now()
        )
    else:
        ImportRun.objects.filter(pk=run.pk).update(
            status=ImportRun.Status.DONE,
            page_ids=report.page_ids,
            files_done=len(report.page_ids),
            error="\n".join(report.errors),
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return run
