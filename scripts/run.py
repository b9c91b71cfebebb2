"""`make run`: the site on its embedded defaults, serving first.

Order: migrate (the only step before the port opens), then uvicorn, the Celery worker (with beat inside
it) on the SQLite broker file, and last the demo import, which only queues work: the worker imports and
indexes the demo knowledge while the site already answers. One Ctrl-C (or SIGTERM) stops everything within
STOP_SECONDS: the worker stops cold (a task it was running is recovered at the next start, see
`manage.py indexing_recover`), uvicorn closes its connections, and whatever is left is killed.

Every child runs in its own session, so a terminal's Ctrl-C reaches only this supervisor, which then stops
the children in the right way instead of each of them waiting for its own work to finish.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STOP_SECONDS = 8.0


def log(message: str) -> None:
    print(f"[run] {message}", flush=True)


class Stack:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True)

    def start(self, name: str, argv: list[str]) -> None:
        self.children[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, start_new_session=True)

    def stop(self, *_: object) -> None:
        if self.stopping:
            return
        self.stopping = True
        log("stopping …")
        signals = {"worker": signal.SIGQUIT, "web": signal.SIGTERM}
        for name, child in self.children.items():
            self._signal(child, signals.get(name, signal.SIGTERM))
        deadline = time.monotonic() + STOP_SECONDS
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for name, child in self.children.items():
            # The whole process group: prefork children and extraction sandboxes included.
            self._signal(child, signal.SIGKILL, group_only=True)
            if child.poll() is None:
                log(f"{name} killed after {STOP_SECONDS:g} s")
        log("stopped")

    @staticmethod
    def _signal(child: subprocess.Popen[bytes], sig: int, *, group_only: bool = False) -> None:
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            if not group_only and child.poll() is None:
                child.send_signal(sig)

    def wait(self) -> int:
        while not self.stopping:
            for name, child in self.children.items():
                code = child.poll()
                if code is not None:
                    log(f"{name} exited with status {code}; stopping the rest")
                    self.stop()
                    return code or 1
            time.sleep(0.5)
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    parser.add_argument("--concurrency", default=os.environ.get("WORKER_CONCURRENCY", "2"))
    args = parser.parse_args()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "datacollection.settings.dev"),
    }
    var = Path(env.get("DATACOLLECTION_VAR_DIR", ROOT / "var"))
    var.mkdir(parents=True, exist_ok=True)
    stack = Stack(env)
    signal.signal(signal.SIGINT, stack.stop)
    signal.signal(signal.SIGTERM, stack.stop)
    started = time.monotonic()
    try:
        stack.manage("migrate", "--noinput", "--verbosity", "0")
        stack.manage("ensure_superuser")
        stack.manage("indexing_recover")
    except subprocess.CalledProcessError as e:
        log(f"start-up step failed: {' '.join(map(str, e.cmd[1:]))}")
        return 1
    if stack.stopping:
        return 0
    stack.start(
        "web",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "datacollection.asgi:application",
            "--host",
            args.host,
            "--port",
            args.port,
            # Lifespan events start and stop the MCP server's session manager (datacollection/mounts.py).
            "--lifespan",
            "on",
            "--timeout-graceful-shutdown",
            "3",
        ],
    )
    # prefork, so the task time limits hold; beat inside the worker (-B) is one process fewer, fine
    # for one worker (a production stack runs beat on its own, see compose.yaml).
    stack.start(
        "worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "datacollection",
            "worker",
            "-B",
            "--schedule",
            str(var / "celerybeat-schedule"),
            "-Q",
            "interactive,bulk",
            "--concurrency",
            str(args.concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "-n",
            "embedded@%h",
        ],
    )
    try:
        stack.manage("bootstrap_demo")
    except subprocess.CalledProcessError:
        log("the demo import could not be queued; the site runs without it")
    log(
        f"serving on http://{args.host}:{args.port}/ (admin at /admin/), "
        f"{time.monotonic() - started:.0f} s after start; Ctrl-C stops everything"
    )
    return stack.wait()


if __name__ == "__main__":
    sys.exit(main())
