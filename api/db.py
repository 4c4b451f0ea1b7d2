"""Engine, ORM base, column types and the one-transaction-per-request rule.

Routers never commit by hand: `CommitFirstRoute` commits the request's session after the endpoint
has built its response and before a byte of it is sent, so an acknowledgement never precedes its
commit. (FastAPI runs the code after `yield` in a dependency only after the response has left.)
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import inspect
import secrets
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from pydantic import ConfigDict
from sqlalchemy import JSON, DateTime, Dialect, Numeric, String, TypeDecorator, create_engine, event, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import SQLModel
from starlette.concurrency import run_in_threadpool

from api.config import Settings
from api.errors import AppError

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Execution option marking a transaction that will not write (a GET request): see make_engine.
READ_ONLY_OPTION = "fieldvisit_read_only"
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Every table is an SQLModel class (docs/decisions/0008-sqlmodel.md); they share SQLModel's one metadata,
# which gets our constraint names before any table is declared (this module is imported first).
SQLModel.metadata.naming_convention = NAMING_CONVENTION
# The config of an answer's shape derived from a table's base: read from the rows, and every field always
# present in the answer (also those with a default on the table). Typed Any: SQLModel types
# `model_config` as a TypedDict of its own that it does not export.
PUBLIC: Any = ConfigDict(from_attributes=True, json_schema_serialization_defaults_required=True)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ordered_ids(now: dt.datetime) -> Iterator[uuid.UUID]:
    """UUIDv7 (RFC 9562): `now` in milliseconds, then a counter from a random start (its section 6.2,
    method 1), so the ids come out strictly increasing. For rows inserted in bulk: every index on an id
    (the key, and the audit events' `entity_id`) is then filled page after page, not at random."""
    stamp = (int(now.timestamp() * 1000) & (2**48 - 1)) << 80 | 0x7 << 76
    counter = secrets.randbits(70)  # 74 bits of room: no overflow in any file
    while True:
        counter += 1
        yield uuid.UUID(int=stamp | (counter >> 62) << 64 | 0b10 << 62 | (counter & (2**62 - 1)))


def python_default(column: Any) -> tuple[bool, Any]:
    """A column's Python-side default, evaluated now as a flush would: (whether it has one, the value)."""
    default = column.default
    if default is not None and default.is_callable:
        return True, default.arg(None)
    if default is not None and default.is_scalar:
        return True, default.arg
    return False, None


def with_defaults(
    model: type[Any], values: dict[str, Any], *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """A new row's values with the table's Python-side defaults filled in, for rows inserted in bulk. With
    `now`, every column stamped by `utcnow` gets that one instant: the rows of one bulk insert are one act."""
    row = dict(values)
    for key, column, stamped in defaulted_columns(model.__table__):
        if key not in row:
            row[key] = now if stamped and now is not None else python_default(column)[1]
    return row


def write_beside(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Insert bookkeeping rows (audit events, change-feed rows, webhook events) from a session hook in one core
    statement, on the session's own connection: in its transaction (or savepoint), so they stand or fall with
    what it writes. Added as ORM objects instead, each would be tracked, sorted and written by the unit of work
    like an entity — ~1.6× the client CPU for rows nobody reads back in the request (measured: 5 rows per
    flush, ~1.3 ms against ~2.1 here). The rows need not carry every column: defaults are filled here."""
    if not rows:
        return
    statement = _INSERTS.get(model)
    if statement is None:  # built once per table (building a statement costs more than running a small one)
        statement = _INSERTS[model] = insert(model)
    session.connection().execute(statement, [with_defaults(model, row) for row in rows])


_INSERTS: dict[type[Any], Any] = {}


@functools.cache
def defaulted_columns(table: Any) -> tuple[tuple[str, Any, bool], ...]:
    """The table's columns with a Python-side default: (key, column, stamped by `utcnow`). Found once per
    table: an import fills the defaults of 50,000 rows, the audit trail those of every created row."""
    return tuple(
        (c.key, c, getattr(c.default.arg, "__wrapped__", None) is utcnow)
        for c in table.columns
        if python_default(c)[0]
    )


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no offset, so we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Money(TypeDecorator[decimal.Decimal]):
    """Exact decimals: NUMERIC(20,4) on PostgreSQL, text on SQLite (which has no decimal type)."""

    impl = Numeric(20, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(20, 4))

    def process_bind_param(self, value: decimal.Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> decimal.Decimal | None:
        if value is None:
            return None
        return plain_decimal(decimal.Decimal(str(value)))


def plain_decimal(value: decimal.Decimal) -> decimal.Decimal:
    """Drop trailing zeros without switching to exponent form (1500000.5000 → 1500000.5, 5E+6 → 5000000)."""
    if value == value.to_integral_value():
        return value.quantize(decimal.Decimal(1))
    return value.normalize()


# JSON everywhere, JSONB on PostgreSQL.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


SQLITE_LOCK_WAIT_SECONDS = 30.0
SQLITE_LOCK_POLL_SECONDS = 0.005


def _begin_immediate(dbapi_connection: Any) -> None:
    """Take SQLite's write lock, waiting up to 30 s. SQLite's own busy handler sleeps up to 100 ms between
    tries, so a writer often went on waiting well after the lock was free (a sign-in behind a large
    import's ~0.8 s write by up to 0.1 s more); polling every 5 ms costs nothing while it waits."""
    deadline = time.monotonic() + SQLITE_LOCK_WAIT_SECONDS
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    # As SQLAlchemy would have raised it: a busy database is a 503 (errors.py), not a bug.
                    raise sa_exc.OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            time.sleep(SQLITE_LOCK_POLL_SECONDS)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_WAIT_SECONDS * 1000)}")


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own transaction handling breaks SAVEPOINT; we emit BEGIN ourselves instead.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # A deferred transaction that reads, then writes, fails at once with "database is locked"
            # when another writer committed in between (WAL cannot upgrade a stale snapshot). So
            # transactions take the write lock up front unless marked read-only; readers never wait.
            if connection.get_execution_options().get(READ_ONLY_OPTION, False):
                connection.exec_driver_sql("BEGIN")
            else:
                _begin_immediate(connection.connection.dbapi_connection)

        return engine
    # No pre-ping: it costs a round trip per checkout; a dead pooled connection fails one request.
    return create_engine(database_url, pool_size=10, max_overflow=10, pool_recycle=1800, **kwargs)


def make_sessionmaker(engine: Engine, *, settings: Settings | None = None) -> sessionmaker[Session]:
    """With `settings`, each session carries what it needs as it commits without a request: the bank's zone
    (a webhook payload's `overdue`) and the public address (its links)."""
    info = {"timezone": settings.timezone, "public_url": settings.public_url} if settings else {}
    return sessionmaker(engine, expire_on_commit=False, autoflush=True, info=info)


@contextmanager
def standalone_session(database_url: str) -> Iterator[Session]:
    """A session outside any request (CLI, jobs): its engine is disposed when the block ends."""
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session. Async on purpose: creating it does no I/O, and every hop to the
    threadpool costs a GIL hand-over that, under load, showed up as most of the server's CPU."""
    if request.method in READ_ONLY_METHODS:
        session: Session = request.app.state.read_sessionmaker()
    else:
        session = request.app.state.sessionmaker()
    request.state.db_session = session
    try:
        yield session
    finally:
        # Returning the connection (a rollback if nothing was committed) is one short round trip.
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


class CommitFirstRoute(APIRoute):
    """Commit the request's transaction before the response is sent; a failed commit is a 500.

    A plain (sync) endpoint commits in the very thread call that ran it: each hop to the threadpool is a
    GIL hand-over, and under load a second hop only to commit cost more than the commit itself."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _committing(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def commit_then_respond(request: Request) -> Response:
            try:
                response = await handler(request)
            except AppError as exc:
                # Some refusals must leave a trace (a burnt token family, a rejected upload removed).
                session = getattr(request.state, "db_session", None)
                if exc.commit_anyway and session is not None:
                    await run_in_threadpool(session.commit)
                raise
            session = getattr(request.state, "db_session", None)
            # Nothing begun since the endpoint's own commit: nothing to commit, no hop.
            if session is not None and response.status_code < 400 and session.in_transaction():
                await run_in_threadpool(session.commit)
            return response

        return commit_then_respond


def _committing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint, then the commit of the session it was given, unless it answered an error itself.
    (`functools.wraps` keeps its signature: FastAPI reads the parameters through it.)"""

    @functools.wraps(endpoint)
    def committing(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        if not (isinstance(result, Response) and result.status_code >= 400):
            for value in kwargs.values():
                if isinstance(value, Session):
                    value.commit()
                    break
        return result

    return committing
