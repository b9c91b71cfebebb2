"""The repository stands on its own: no tracked file names a path that exists only on the machine it
was written on (a home folder, a workspace mount, a scratch file). Shared material outside the clone is
reached relative to it (``../shared``) or through a setting; standard system paths (``/usr/bin``,
``/etc/postgresql``, ``/var/lib``, ``/proc``) and paths inside our own containers are fine.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
THIS_FILE = Path(__file__).resolve().relative_to(REPO_ROOT).as_posix()

# Cheap pre-filter for git grep (POSIX ERE); MACHINE_PATH below decides.
_CANDIDATES = r"/(work|root|home|Users|tmp|mnt|media|var/tmp)/|[A-Za-z]:\\Users\\"

# Absolute paths into places that belong to one machine or one person. Not after a word character, a
# dot, "~", "$" or "}" (that is a URL's path, a relative path, "~/..." or "$HOME/..."), and
# /home, /Users and /media only with a name after them ("/home/" alone is a URL path here).
MACHINE_PATH = re.compile(
    r"(?<![\w.~$}-])/(?:work|root|tmp|var/tmp|mnt)/"
    r"|(?<![\w.~$}-])/(?:home|Users|media)/[\w.-]+"
    r"|\b[A-Za-z]:\\Users\\"
)

# (file, text on the line): why it is not machine-specific.
ALLOWED = {
    ("compose.yaml", "/tmp/celerybeat-schedule"): "a path inside the Celery beat container",  # noqa: S108
}


# Spelled in two parts so that grepping the repository for that path finds nothing, this file included.
WORK = "/" + "work"


def machine_paths_in(line: str) -> list[str]:
    return [match.group() for match in MACHINE_PATH.finditer(line)]


def offending_lines() -> list[str]:
    try:
        result = subprocess.run(
            ["git", "grep", "-n", "-I", "-E", _CANDIDATES, "--", ".", f":(exclude){THIS_FILE}"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        pytest.fail("git is not installed: this check needs it (a clone always has it)")
    if result.returncode not in {0, 1}:  # 1: nothing found
        if "not a git repository" in result.stderr:
            pytest.fail("not a git checkout: run the tests from a clone")
        raise AssertionError(f"git grep failed: {result.stderr}")
    found = []
    for hit in result.stdout.splitlines():
        path, _, rest = hit.partition(":")
        _, _, line = rest.partition(":")
        if not machine_paths_in(line):
            continue
        if any(path == file and text in line for file, text in ALLOWED):
            continue
        found.append(hit)
    return found


@pytest.mark.parametrize(
    "line",
    [
        f'PDF_DIR = Path("{WORK}/shared/corpus/pdf-samples")',
        "see /root/.cache/huggingface",
        "cp data.json /tmp/x.json",
        "open('/home/alice/notes.md')",
        "mounted at /mnt/data/eval",
        f"file://{WORK}/shared/eval",
        r"C:\Users\bob\corpus",
    ],
)
def test_machine_specific_paths_are_recognised(line: str) -> None:
    assert machine_paths_in(line), line


@pytest.mark.parametrize(
    "line",
    [
        'CHROMIUM = "/usr/bin/chromium"',
        'conf="/etc/postgresql/$ver/$PG_CLUSTER/postgresql.conf"',
        "ES_FALLBACK_BASE=/var/lib/datacollection-es",
        'Path(f"/proc/{pid}/status")',
        '"url_path": "/home/"',
        'MEDIA_URL = "/media/"',
        "MEDIA_ROOT: /data/media",
        "import_markdown ../shared/corpus/wagtail-docs",
        "https://example.org/home/alice/tmp/",
        "~/tmp/notes and $HOME/tmp/notes",
    ],
)
def test_standard_and_relative_paths_are_not(line: str) -> None:
    assert not machine_paths_in(line), line


def test_no_tracked_file_names_a_machine_specific_path() -> None:
    found = offending_lines()
    assert not found, (
        "Tracked files name paths that exist only on one machine; use a path relative to the repository "
        "(../shared/...) or a setting instead:\n" + "\n".join(found)
    )
