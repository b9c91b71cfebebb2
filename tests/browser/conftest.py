"""Browser tests: Debian's Chromium through Playwright against the site served by uvicorn.

The site runs as a subprocess with the production settings (whitenoise serving a collectstatic'ed,
manifest-hashed STATIC_ROOT, as deployed) bound to the pytest test database, the test Redis and
Elasticsearch through a proxy the tests can switch off. Tests log in by copying a session cookie made with
the test client into the browser.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.services import (
    ARTIFACTS,
    ROOT,
    ServedSite,
    TcpProxy,
    WorkerProcess,
    database_url,
    served_through_test,
    uvicorn_serve,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ARTIFACTS / "screenshots"
# Extractive answers stream a few words per token; this pause between tokens stands in for a model's pace
# so the test can watch the answer grow.
STREAM_DELAY = "0.04"


@pytest.fixture(scope="session")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`manage.py collectstatic` with the production storage (CompressedManifestStaticFilesStorage)."""
    root = tmp_path_factory.mktemp("static_root")
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "datacollection.settings.production",
            "STATIC_ROOT": str(root),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="session")
def site_search_proxy() -> Iterator[TcpProxy]:
    """The site reaches Elasticsearch through this, so a test can make search look down to the site."""
    from urllib.parse import urlsplit

    from django.conf import settings

    target = urlsplit(settings.ELASTICSEARCH_URL)
    proxy = TcpProxy(target_host=target.hostname or "127.0.0.1", target_port=target.port or 9200).start()
    yield proxy
    proxy.close()


@dataclass
class SiteServer(ServedSite):
    search_proxy: TcpProxy


@dataclass(frozen=True, kw_only=True)
class SiteEnvironment:
    database_url: str
    static_root: Path
    search_proxy: TcpProxy


@pytest.fixture(scope="session")
def site_environment(
    django_db_setup: None, django_db_blocker: Any, static_root: Path, site_search_proxy: TcpProxy
) -> SiteEnvironment:
    from django.db import connection

    with django_db_blocker.unblock():
        return SiteEnvironment(
            database_url=database_url(connection.settings_dict),
            static_root=static_root,
            search_proxy=site_search_proxy,
        )


def site_start(environment: SiteEnvironment, *, extra_env: dict[str, str] | None = None) -> SiteServer:
    """The site (production settings) in uvicorn on a free loopback port (`uvicorn_serve`). `extra_env`
    adds or overrides settings (another LLM, ...)."""
    from django.conf import settings

    env = {
        # The site keeps Django's async-safety check (only the test process, which runs Playwright's loop,
        # turns it off).
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "datacollection.settings.production",
        "DATABASE_URL": environment.database_url,
        "ELASTICSEARCH_URL": environment.search_proxy.url,
        "STATIC_ROOT": str(environment.static_root),
        # The worker (test settings) reads uploads where this site (production settings) stores them.
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "PRIVATE_ROOT": str(settings.PRIVATE_ROOT),
        # Plain http on loopback: no redirect to https, no HSTS, cookies must not require https.
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "CHAT_STREAM_DELAY": STREAM_DELAY,
        "CHAT_ANSWER_CACHE": "0",
        "LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    served = uvicorn_serve(env, log_name="browser-site.log")
    return SiteServer(
        url=served.url,
        process=served.process,
        log_path=served.log_path,
        search_proxy=environment.search_proxy,
    )


@pytest.fixture
def site_server(site_environment: SiteEnvironment, celery_worker: WorkerProcess) -> Iterator[SiteServer]:
    """A fresh site per test: a long-lived process would keep caches (content type ids, ...) that the
    flush between transactional tests makes stale."""
    with served_through_test(site_start(site_environment)) as server:
        yield server


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright. Playwright's sync API runs an event loop in this thread, so
    while it runs the test's own ORM calls need DJANGO_ALLOW_ASYNC_UNSAFE (subprocesses are started
    without it and keep Django's check). One browser per test: other modules start their own."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            try:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                yield browser
                browser.close()
            finally:
                # While Playwright's event loop runs, Django keys database connections by that async
                # context, so the test's ORM calls get a connection of their own: close it here, or it
                # outlives the test and keeps pytest-django from dropping the test database.
                connections.close_all()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def playwright_browser(site_server: SiteServer) -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@dataclass
class PageWatch:
    """What a page did that it must not: dialogs, console errors, requests to other hosts."""

    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert self.console_errors == [], self.console_errors
        assert self.foreign_requests == [], self.foreign_requests
        assert self.failed_responses == [], self.failed_responses


@pytest.fixture
def browser_context(playwright_browser: Any, site_server: SiteServer) -> Iterator[Any]:
    context = playwright_browser.new_context(
        base_url=site_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    context.set_default_timeout(15000)
    yield context
    context.close()


@pytest.fixture
def watched_page(browser_context: Any) -> Iterator[tuple[Any, PageWatch]]:
    from urllib.parse import urlsplit

    page = browser_context.new_page()
    watch = PageWatch()

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    # A failed load is reported below with its URL (the console message has none).
    page.on(
        "console",
        lambda m: (
            watch.console_errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            watch.failed_responses.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda e: watch.console_errors.append(f"pageerror: {e}"))
    page.on(
        "request",
        lambda r: (
            watch.foreign_requests.append(r.url)
            if urlsplit(r.url).scheme in {"http", "https", "ws", "wss"}
            and urlsplit(r.url).hostname != "127.0.0.1"
            else None
        ),
    )
    yield page, watch
    page.close()


@pytest.fixture
def login(browser_context: Any, site_server: SiteServer) -> Callable[[Any], None]:
    """Signs a user in: a session made by the test client, its cookie copied into the browser."""
    from django.test import Client

    def sign_in(user: Any) -> None:
        client = Client()
        client.force_login(user)
        browser_context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": site_server.url}]
        )

    return sign_in


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_indexed(source_type: str, source_id: int, *, timeout: float = 60.0) -> None:
    from knowledgebase.models import IndexingJob

    deadline = time.monotonic() + timeout
    jobs: list[Any] = []
    while time.monotonic() < deadline:
        jobs = list(IndexingJob.objects.filter(source_type=source_type, source_id=source_id))
        if jobs and all(job.is_finished for job in jobs):
            assert any(job.status == IndexingJob.Status.INDEXED for job in jobs), jobs
            return
        time.sleep(0.2)
    raise AssertionError(f"{source_type}:{source_id} was not indexed: {jobs}")
