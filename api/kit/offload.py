"""CPU-heavy work in a process of its own, so that the serving process's threads stay free for requests.

A thread in the server would do: its Python code holds the interpreter's lock, and while a 50,000-row
import was checked, sign-ins took up to 2–3 s (measured: bench/import_load.py). A child process has its
own interpreter. Children are forked from a `forkserver` (started once, with the modules preloaded), never
from the threaded server itself, and start in milliseconds. A child whose caller went away is killed: the
work is one transaction, so a killed child leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import multiprocessing.connection
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["api.models", "api.portfolio.imports"])
# How often the caller looks for the answer, and whether its client is still there.
POLL_SECONDS = 0.05


class ChildDied(RuntimeError):
    """The child ended without an answer (killed by the system, out of memory)."""


def warm_up() -> None:
    """Start the fork server now (it imports the preloaded modules, about a second), so that the first
    job does not wait for it."""
    child = _CONTEXT.Process(target=int, daemon=True)
    child.start()
    child.join()


def _child(
    sender: multiprocessing.connection.Connection, function: Callable[..., Any], kwargs: dict[str, Any]
) -> None:
    # A child does one job and exits, and its memory goes with it: the cycle collector's passes over a
    # job's fresh objects (100,000 rows and events for a large import) would only cost time (~1 s).
    gc.disable()
    try:
        outcome: tuple[str, Any] = ("returned", function(**kwargs))
    except BaseException as exc:  # every failure goes back to the caller, who raises it
        outcome = ("raised", exc)
    try:
        sender.send(outcome)
    except Exception as exc:  # an exception that cannot be pickled still reaches the caller, as text
        sender.send(("raised", ChildDied(f"{type(outcome[1]).__name__}: {outcome[1]} ({exc})")))
    finally:
        sender.close()


class Gone(Exception):
    """The caller's client went away; the child was killed."""


async def run(function: Callable[..., T], *, gone: Callable[[], Awaitable[bool]], **kwargs: Any) -> T:
    """`function(**kwargs)` (a module-level function) in a child process: its return value, or its
    exception raised here. `gone` is asked between polls; when it answers True the child is killed and
    `Gone` is raised."""
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_child, args=(sender, function, kwargs), daemon=True)
    await run_in_threadpool(child.start)
    sender.close()
    answered = False
    try:
        while not receiver.poll():
            if await gone():
                raise Gone()
            if not child.is_alive() and not receiver.poll():
                raise ChildDied(f"the worker process ended with exit code {child.exitcode} and no answer")
            await asyncio.sleep(POLL_SECONDS)
        outcome, value = await run_in_threadpool(receiver.recv)
        answered = True
    finally:
        if not answered and child.is_alive():
            child.kill()
        await run_in_threadpool(child.join)
        receiver.close()
    if outcome == "raised":
        raise value
    result: T = value
    return result
