"""Engine, sessions and migrations. One code path for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
import json
import math
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import orjson
from sqlalchemy import Integer, Result, Select, bindparam, event, inspect, literal, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.expression import SelectBase

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


# PostgreSQL: each request in flight holds one connection, so a worker's pool keeps as many as it serves
# at once: an overflow connection is closed when it is returned, and opening it again costs a connect,
# its prepared statements and its plans. At 16 concurrent users a pool of 10 reopened connections all the
# time: 25 % of the CPU of a `/client show` (issue 14). 40 at most per worker process. (SQLite keeps
# SQLAlchemy's default pool: reopening a file costs little, 70 shows/s against 67 with 30 kept, and each
# kept connection holds its own page cache: 30 of them made a worker 187 MB instead of 133 MB.)
POOL = {"pool_size": 30, "max_overflow": 10}


def read_json(text: str | bytes) -> Any:
    """A JSON column's value: orjson, a tenth of the stdlib's cost (a page of history holds 40 JSON values,
    and the stdlib's parsing was a third of that statement's CPU); the stdlib for what orjson refuses
    (NaN or Infinity, which Python's json writes and SQLite keeps)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, json_deserializer=read_json)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            # REPLACE's implicit delete fires delete triggers (the immutable communications refuse it).
            cursor.execute("PRAGMA recursive_triggers=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # No pre-ping (it cost three round trips per checkout): a connection found dead is invalidated with the
    # rest of the pool and the request reports the database as unreachable; connections are renewed hourly.
    # Generic plans from the first execution: a plan tuned to one client's id (a parallel seq scan for the
    # biggest client) is never reused for the others. No JIT: its compile time dwarfs these short queries.
    return create_async_engine(
        url,
        **POOL,
        pool_recycle=3600,
        json_deserializer=read_json,
        connect_args={"server_settings": {"plan_cache_mode": "force_generic_plan", "jit": "off"}},
    )


class Database:
    """Owns the engine and the session factory; handed to the Slack app, the API and the scheduler."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # The same pool, each statement committed on its own: reads (`reading`) and one-statement writes
        # (the delivery record) without BEGIN and COMMIT round trips.
        self.autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.readers = async_sessionmaker(self.autocommit_engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block succeeds, rolls back when it raises."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def reading(self, driver: Driver | None = None) -> AsyncIterator[AsyncSession]:
        """A session for work that only reads (a dashboard, a history page, a list): its statements run
        in autocommit, without a BEGIN and a COMMIT round trip around them. Under READ COMMITTED each
        statement reads its own snapshot either way, so it reads the same; a write in it (a user's
        profile learnt on first sight) commits as it is flushed. Statements built once run on a driver
        connection of the session's own (`_reads_driver`): `driver`, one already checked out, if given
        (the request's delivery was read on it); it is returned with the session's."""
        async with self.readers() as session:
            if self.is_postgres:
                session.info[_READS_FROM] = self.autocommit_engine
                if driver is not None:
                    session.info[_READS_ON] = driver
            try:
                yield session
            finally:
                _release_reads(session)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(3), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


def _alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, url: str) -> None:
    from alembic import command

    config = _alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(db: Database) -> None:
    """Alembic upgrade to head on the given database."""
    if db.url.startswith("sqlite"):
        path = db.engine.url.database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, db.url)


class Driver(NamedTuple):
    """asyncpg's own connection under a pooled one, for statements run past SQLAlchemy's execution."""

    raw: Any  # asyncpg.Connection
    engine: Engine  # whose `before_cursor_execute` listeners hear its statements
    pooled: Any  # the pool's connection (a `PoolProxiedConnection`) it is under

    @property
    def dropped(self) -> bool:
        """Found lost (`_driver_errors`): invalidated, and already back in the pool."""
        return self.pooled.dbapi_connection is None

    def release(self) -> None:
        """Back to the pool. Not being in a transaction, returning it needs no round trip."""
        if not self.dropped:
            self.pooled.close()


async def checked_out(engine: AsyncEngine) -> Driver:
    """A pooled connection's driver, checked out of `engine`'s pool without a SQLAlchemy `Connection`
    around it (~75 µs of CPU a checkout here against ~250 for a `Connection` or a session's). The driver
    is outside any transaction: each statement commits on its own. `release()` it once done."""
    pooled = await engine.raw_connection()
    return Driver(pooled.driver_connection, engine.sync_engine, pooled)


async def driver_fetchrow(driver: Driver, sql: str, *values: Any) -> Any:
    """One row of `sql` (PostgreSQL, `$1`-style parameters) run on the driver, past SQLAlchemy's execution
    (~0.4 ms of CPU a statement here, the driver's own ~0.15): for the statement every Slack request runs.
    Values come back as the driver makes them."""
    return await _on_driver(driver, sql, values, driver.raw.fetchrow)


async def _on_driver(driver: Driver, sql: str, values: Sequence[Any], call: Callable[..., Any]) -> Any:
    """`call(sql, *values)` on the driver, as SQLAlchemy would run it: announced to the engine's
    `before_cursor_execute` listeners (what tests count a request's statements with; there is no
    connection, cursor or execution context), the driver's errors raised as SQLAlchemy's
    (`_driver_errors`)."""
    driver.engine.dispatch.before_cursor_execute(None, None, sql, values, None, False)
    async with _driver_errors(driver, sql, values):
        return await call(sql, *values)


@asynccontextmanager
async def _driver_errors(driver: Driver, sql: str, values: Sequence[Any]) -> AsyncIterator[None]:
    """asyncpg's errors as SQLAlchemy's `DBAPIError`; a connection lost, or left in a state it can't go
    on from (a server's termination notice arriving mid-call), is dropped from the pool."""
    import asyncpg
    from asyncpg.exceptions import InternalClientError

    try:
        yield
    except (asyncpg.PostgresError, asyncpg.InterfaceError, InternalClientError, OSError) as error:
        broken = isinstance(error, OSError | InternalClientError | asyncpg.PostgresConnectionError)
        lost = broken or driver.raw.is_closed()
        if lost:
            driver.pooled.invalidate(error)  # and returned to the pool
        raise DBAPIError(sql, values, error, connection_invalidated=lost) from error


def among(column: Any, values: Iterable[Any]) -> Any:
    """`column IN (values)` for a fixed list, each value bound on its own: an IN list given as values is
    one parameter SQLAlchemy expands on every execution (a regular expression over the statement's text,
    ~0.1 ms for a dashboard card's), a list of bound values needs nothing of that kind."""
    return column.in_([literal(value, column.type) for value in values])


def record_type(model: Any, name: str, module: str) -> Any:
    """A named tuple type whose fields are `model`'s column attributes, in its mapper's order: what a
    reader gets in place of an entity (`read_rows`), at about half the cost of loading one. `module` is
    where it is defined (`__name__`), so it pickles (a dashboard goes to the PDF process pool)."""
    fields = tuple(attribute.key for attribute in inspect(model).column_attrs)
    return collections.namedtuple(name, fields, module=module)


def columns_of(entity: Any, record: Any) -> list[Any]:
    """The columns of `entity` (a model or an alias of it) that `record` (`record_type`) names, in order."""
    return [getattr(entity, key) for key in record._fields]


def dialect_name(session_or_conn: AsyncSession | AsyncConnection) -> str:
    bound = session_or_conn.bind if isinstance(session_or_conn, AsyncSession) else session_or_conn
    return bound.dialect.name


def insert_of(dialect: str, table: Any):
    """`INSERT` with ON CONFLICT support for the backend named `dialect`."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def dialect_insert(session_or_conn: AsyncSession | AsyncConnection, table: Any):
    """`INSERT` with ON CONFLICT support for whichever backend the session (or connection) is bound to."""
    return insert_of(dialect_name(session_or_conn), table)


BUILT_ONCE_SIZE = 256  # statements kept per builder


def built_once(build: Callable[..., T]) -> Callable[..., T]:
    """A statement (or a tuple of them) built once per set of arguments (a dialect's name, a size), its
    changing values being `bindparam`s: SQLAlchemy memoizes a statement object's cache key, so a query on
    every request's path is neither rebuilt nor keyed again each time (a third of a request's CPU
    before). Bounded: a key that comes from input (the number of words searched on SQLite) can't grow
    the cache without end. A query built once is also run on the driver by `read_rows` (PostgreSQL)."""

    @functools.lru_cache(maxsize=BUILT_ONCE_SIZE)
    @functools.wraps(build)
    def once(*args: Any) -> T:
        built = build(*args)
        _BUILT_ONCE.update(
            s for s in (built if isinstance(built, tuple) else (built,)) if isinstance(s, SelectBase)
        )
        return built

    return once


_BUILT_ONCE: weakref.WeakSet[SelectBase] = weakref.WeakSet()


class Page(NamedTuple):
    rows: list[Any]  # named tuples (`records`)
    total: int
    page: int
    pages: int


PAGE_SIZE_PARAM, PAGE_OFFSET_PARAM = "page_size", "page_offset"


def paged(query: Select[Any]) -> Select[Any]:
    """`query` cut to one page, its size and offset bound when `read_page` runs it (so a statement built
    once serves every page)."""
    return query.limit(bindparam(PAGE_SIZE_PARAM, type_=Integer)).offset(
        bindparam(PAGE_OFFSET_PARAM, type_=Integer)
    )


@functools.cache
def _record_type(keys: tuple[str, ...]) -> type[tuple[Any, ...]]:
    return collections.namedtuple("Record", keys, rename=True)  # type: ignore[misc]


def records(result: Result[Any]) -> list[Any]:
    """`result`'s rows as named tuples (Rows as they came when a column has no name): the same reading by
    name, index and unpacking, at a tenth of the cost per column read (SQLAlchemy's Row looks each name
    up on its class first, ~1.2 µs a read here; a page of 20 clients reads ~700 of them on its way to
    Slack)."""
    keys, rows = tuple(result.keys()), result.all()
    if rows and len(rows[0]) != len(keys):  # an unnamed entity (an alias of a subquery) has no key
        return rows
    record = _record_type(keys)
    return [record._make(row) for row in rows]


async def read_rows(session: AsyncSession, statement: Any, values: dict[str, Any] | None = None) -> list[Any]:
    """The rows of a statement that selects columns, not ORM entities, as named tuples (`records`), run on
    the session's connection: past the ORM's handling of a statement, ~0.3 ms of CPU here (a list page's
    statement: 1.5 → 1.1 ms). What the session holds unflushed is flushed first, as autoflush would. A
    query built once (`built_once`) read in a reading session on PostgreSQL runs on the driver
    (`_DriverForm`, `_reads_driver`)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    if statement in _BUILT_ONCE and (driver := await _reads_driver(session)) is not None:
        form = _DRIVER_FORMS.get(statement, _UNMADE)
        if form is _UNMADE:
            form = _DRIVER_FORMS[statement] = await _driver_form(statement, session.bind.dialect, driver)
        if form is not None:
            return form.records(
                await _on_driver(driver, form.sql, form.arguments(values or {}), driver.raw.fetch)
            )
    connection = await session.connection()
    return records(await connection.execute(statement, values or {}))


# session.info: the engine a reading session (`Database.reading`) checks its driver out of, and the driver
# once checked out, returned to the pool when the session ends.
_READS_FROM, _READS_ON = "cb_reads_from", "cb_reads_on"


async def _reads_driver(session: AsyncSession) -> Driver | None:
    """The driver a reading session (`Database.reading`, PostgreSQL) reads on: a pooled connection of its
    own, checked out on its first read and kept until it ends (`checked_out`: no SQLAlchemy `Connection`
    is set up for a list page or a card). Its statements commit on their own, as the session's do (were
    they run on the session's connection, SQLAlchemy would miss them and start no transaction for them,
    as it does lazily on its own first statement). A session that also runs statements of SQLAlchemy's
    holds a second connection for those (a user's profile learnt on first sight)."""
    info = session.info
    held: Driver | None = info.get(_READS_ON)
    if held is not None and not held.dropped:
        return held
    if (engine := info.get(_READS_FROM)) is None:
        return None
    held = info[_READS_ON] = await checked_out(engine)
    return held


def _release_reads(session: AsyncSession) -> None:
    """Returns a reading session's own driver connection (`_reads_driver`) to the pool."""
    held: Driver | None = session.info.pop(_READS_ON, None)
    if held is not None:
        held.release()


class _DriverForm(NamedTuple):
    """A statement compiled once for asyncpg, with SQLAlchemy's own conversions of its values both ways:
    run with `fetch`, it skips SQLAlchemy's execution and result handling (~0.3 ms of CPU a statement
    here; a `/client show` runs five)."""

    sql: str
    parameters: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]  # (key, value, processor)
    record: type[tuple[Any, ...]]
    converted: Converters  # result columns the driver's value isn't (`result_converters`)

    def arguments(self, values: dict[str, Any]) -> list[Any]:
        """The statement's positional arguments: each bound parameter's value from `values`, else its own
        (a literal's), else missing (a `KeyError`, as SQLAlchemy raises for a required parameter)."""
        arguments = []
        for key, value, process in self.parameters:
            value = values[key] if value is _REQUIRED or key in values else value
            arguments.append(value if process is None else process(value))
        return arguments

    def records(self, rows: list[Any]) -> list[Any]:
        if not self.converted:
            return [self.record._make(row) for row in rows]
        return [self.record._make(converted(row, self.converted)) for row in rows]


Converters = tuple[tuple[int, Callable[[Any], Any]], ...]


def result_converters(types: Sequence[Any], dialect: Any, oids: Sequence[int] | None = None) -> Converters:
    """(index, conversion) of each column whose value, as the driver gives it, SQLAlchemy's type converts
    (UTC datetimes, say): `types` are the columns' types, `oids` the types the server reports for them
    where a conversion depends on them (a numeric's)."""
    return tuple(
        (index, process)
        for index, (type_, oid) in enumerate(zip(types, oids or [None] * len(types), strict=True))
        if (process := type_.dialect_impl(dialect).result_processor(dialect, oid)) is not None
    )


def converted(row: Iterable[Any], converters: Converters) -> list[Any]:
    """`row`'s values, each converted as `converters` (`result_converters`) say."""
    values = list(row)
    for index, process in converters:
        values[index] = process(values[index])
    return values


_DRIVER_FORMS: weakref.WeakKeyDictionary[SelectBase, _DriverForm | None] = weakref.WeakKeyDictionary()
_UNMADE, _REQUIRED = object(), object()


async def _driver_form(statement: SelectBase, dialect: Any, driver: Driver) -> _DriverForm | None:
    """`statement`'s driver form, made on its first run (its result columns' types are asked of the
    server, as a numeric's conversion depends on them); None for a statement that must be expanded at
    each execution (an IN list of values), which SQLAlchemy runs."""
    compiled = statement.compile(dialect=dialect)
    if compiled.post_compile_params or compiled.literal_execute_params or compiled.positiontup is None:
        return None
    parameters = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        value = _REQUIRED if bind.required else bind.effective_value
        parameters.append((bind.key, value, bind.type.dialect_impl(dialect).bind_processor(dialect)))
    columns = compiled._result_columns  # (key, name, objects, type): how SQLAlchemy's result names them
    async with _driver_errors(driver, compiled.string, ()):
        prepared = await driver.raw.prepare(compiled.string)
    oids = [attribute.type.oid for attribute in prepared.get_attributes()]
    return _DriverForm(
        compiled.string,
        tuple(parameters),
        _record_type(tuple(column[0] for column in columns)),
        result_converters([column[3] for column in columns], dialect, oids),
    )


async def read_page(
    session: AsyncSession,
    query: Select[Any],
    count: Select[Any],
    page: int,
    per_page: int,
    values: dict[str, Any] | None = None,
    *,
    columns_only: bool = False,
) -> Page:
    """Page `page` of `query` (`paged`, each row carrying the total as a `total` column), run with `values`.
    One statement for a page that exists; a page past the end is counted (`count`), then the last page
    read instead. `columns_only`: `query` selects no ORM entity (`read_rows`)."""

    async def read(page: int) -> list[Any]:
        bound = (values or {}) | {PAGE_SIZE_PARAM: per_page, PAGE_OFFSET_PARAM: (page - 1) * per_page}
        if columns_only:
            return await read_rows(session, query, bound)
        return records(await session.execute(query, bound))

    page = max(1, page)
    rows = await read(page)
    total = rows[0].total if rows else 0
    if not rows and page > 1:
        total = await session.scalar(count, values) or 0
        page = max(1, math.ceil(total / per_page))
        if total:
            rows = await read(page)
    return Page(rows, total, page, max(1, math.ceil(total / per_page)))


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"clientbot:{name}".encode()).digest()[:8], "big", signed=True)


async def lock_names(session: AsyncSession, names: Iterable[str]) -> None:
    """Hold a lock on each name until the session's transaction ends, so concurrent transactions that share
    a name run a check and the write it decides one after the other. PostgreSQL: transaction-scoped
    advisory locks, all in one statement and in one order (no deadlock). SQLite lets one writer in at a
    time: a write that changes nothing takes the database's write lock now (what BEGIN IMMEDIATE does)."""
    if session.bind.dialect.name == "postgresql":
        keys = sorted({_lock_key(name) for name in names})
        await session.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"), {"keys": keys}
        )
    else:
        await session.execute(text("UPDATE app_state SET value = value WHERE 0"))


async def next_code(session: AsyncSession, prefix: str, year: int) -> str:
    """PREFIX-YYYY-NNNN, consecutive per prefix and year. The counter row stays locked until the
    transaction ends, so concurrent creations queue up and a rolled-back creation gives its number back."""
    from bot.models import CodeCounter

    counter = CodeCounter.__table__
    statement = (
        dialect_insert(session, counter)
        .values(prefix=prefix, year=year, last_value=1)
        .on_conflict_do_update(
            index_elements=["prefix", "year"], set_={"last_value": counter.c.last_value + 1}
        )
        .returning(counter.c.last_value)
    )
    number = (await session.execute(statement)).scalar_one()
    return f"{prefix}-{year}-{number:04d}"


async def next_codes(session: AsyncSession, prefix: str, year: int, count: int) -> list[str]:
    """`count` consecutive codes in one statement (a bulk import), under the same row lock as `next_code`."""
    from bot.models import CodeCounter

    if count <= 0:
        return []
    counter = CodeCounter.__table__
    statement = (
        dialect_insert(session, counter)
        .values(prefix=prefix, year=year, last_value=count)
        .on_conflict_do_update(
            index_elements=["prefix", "year"], set_={"last_value": counter.c.last_value + count}
        )
        .returning(counter.c.last_value)
    )
    last = (await session.execute(statement)).scalar_one()
    return [f"{prefix}-{year}-{number:04d}" for number in range(last - count + 1, last + 1)]
