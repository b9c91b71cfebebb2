"""Named semaphores of the running event loop, for the process's admission and work gates.

asyncio primitives belong to the loop that first waits on them, and a process can run several loops
(uvicorn's, and each `async_to_sync` call's own), so each loop gets its own semaphore of a given name.
"""

from __future__ import annotations

import asyncio
import weakref

_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, tuple[int, asyncio.Semaphore]]] = (
    weakref.WeakKeyDictionary()
)


def loop_gate(name: str, size: int) -> asyncio.Semaphore:
    """The running loop's semaphore `name` with `size` slots (at least one). A changed size (settings
    overridden in a test) makes a new one; requests inside the old one release it, not the new one."""
    size = max(1, size)
    gates = _GATES.setdefault(asyncio.get_running_loop(), {})
    known = gates.get(name)
    if known is None or known[0] != size:
        known = gates[name] = (size, asyncio.Semaphore(size))
    return known[1]
