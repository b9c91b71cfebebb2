"""The pre-commit hooks run exactly what `make lint` runs, so a commit meets CI's checks before it is made."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _lint_commands() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "the Makefile has a lint target"
    return [line.strip().replace("$(BIN)/", "") for line in recipe.group(1).splitlines()]


def _hook_entries() -> str:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    return "\n".join(hook["entry"].replace(".venv/bin/", "") for hook in hooks)


def test_every_lint_command_of_the_makefile_is_a_pre_commit_hook() -> None:
    entries = _hook_entries()
    for command in _lint_commands():
        words = [
            w for w in command.replace("DJANGO_SETTINGS_MODULE=datacollection.settings.dev ", "").split()
        ]
        tool = " ".join(w for w in words if w != ".")  # "ruff check ." runs on the files pre-commit passes
        assert tool in entries, f"`make lint` runs `{command}`, which no pre-commit hook runs"
