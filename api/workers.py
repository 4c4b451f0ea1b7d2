"""The background work of a deployment, as loops: inside `serve` (the default, so that one command runs the
whole product) or in `fieldvisit worker` processes of their own, any number of them beside any number of
API nodes on one database.

Every round is idempotent and safe in several processes at once (photos under a row lock or a claim,
webhook events and export jobs claimed by conditional updates, feed numbering and audit sealing serialised
in the database), so a worker can be killed at any moment and another one goes on.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.config import Settings

logger = logging.getLogger("fieldvisit.workers")


@dataclass(frozen=True)
class Loop:
    every_seconds: float
    work: Callable[[], object]
    what: str


def loops(engine: Engine, make_session: sessionmaker[Session], settings: Settings) -> list[Loop]:
    """The periodic rounds the settings switch on (a period of 0 switches one off)."""
    from api import ticks
    from api.audit import service as audit

    wanted = [
        # Overdue visits, feed numbering, orphan files, the daily evaluation (FIELDVISIT_BACKGROUND_TICK_SECONDS).
        Loop(settings.background_tick_seconds, functools.partial(ticks.tick, make_session, settings), "tick"),
        # Photos left without derivatives, webhook events and export files, within seconds
        # (FIELDVISIT_JOB_POLL_SECONDS).
        Loop(
            settings.job_poll_seconds,
            functools.partial(ticks.quick_round, make_session, settings),
            "photos, webhooks and export jobs",
        ),
        # Audit events sealed and the head checkpointed within seconds of their commit, so that removing the
        # newest events is noticed (FIELDVISIT_AUDIT_SEAL_SECONDS).
        Loop(
            settings.audit_seal_seconds,
            functools.partial(audit.seal, engine, settings=settings),
            "audit sealing",
        ),
    ]
    return [loop for loop in wanted if loop.every_seconds > 0]


async def run_every(loop: Loop) -> None:
    """Run the loop's work in a thread now and then every few seconds; one failed round (an outage) is
    logged and the loop goes on."""
    while True:
        try:
            await anyio.to_thread.run_sync(loop.work)
        except Exception:
            logger.exception("%s failed", loop.what)
        await asyncio.sleep(loop.every_seconds)


def run_worker(settings: Settings) -> None:
    """`fieldvisit worker`: the loops, in the foreground, until SIGTERM or SIGINT."""
    from api.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    make_session = make_sessionmaker(engine, settings=settings)
    chosen = loops(engine, make_session, settings)
    if not chosen:
        raise SystemExit("Every background period is 0: this worker would have nothing to do.")

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(signum, stop.set)
        tasks = [asyncio.create_task(run_every(loop)) for loop in chosen]
        logger.info(
            "worker started: %s", "; ".join(f"{each.what} every {each.every_seconds:g} s" for each in chosen)
        )
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        engine.dispose()
