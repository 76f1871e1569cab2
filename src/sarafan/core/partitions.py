"""Monthly partitions of the append-heavy tables (clicks and events) on PostgreSQL.

core migration 0002 made tracking_event and links_click PARTITION BY RANGE (created_at):
one partition per calendar month in UTC, named `<table>_pYYYY_MM`, and a DEFAULT
partition, `<table>_default`, that takes any row no month covers so an insert never
fails. `ensure_partitions` creates the coming months ahead of time; the worker runs it
daily (core.tasks) and every `sarafan migrate` ends with it (core.apps). On SQLite, and
before the migration has run, it does nothing.
"""

import logging
from datetime import UTC, date, datetime

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

logger = logging.getLogger("sarafan.partitions")

PARTITIONED_TABLES = ("tracking_event", "links_click")
PARTITION_KEY = "created_at"
# Key of the transaction-level advisory lock that lets one run at a time create partitions:
# any fixed bigint; this one is "sarafan" in ASCII.
LOCK_KEY = 0x7361726166616E
# Attaching a partition briefly locks the DEFAULT partition; rather than queue every query
# behind a long-running one, give up and let the next daily run try again.
LOCK_TIMEOUT = "5s"


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y_%m}"


def default_partition_name(table: str) -> str:
    return f"{table}_default"


def ensure_partitions(
    *, months_ahead: int = 3, today: date | None = None, using: str = DEFAULT_DB_ALIAS
) -> list[str]:
    """Create the missing monthly partitions from this month to `months_ahead` months on.

    Idempotent and safe with several workers at once: a transaction-level advisory lock
    lets one run at a time look and create. Rows the DEFAULT partition holds for a month
    that gets its own partition move into it in the same transaction. Returns the names
    of the partitions it created.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    first = month_start(today or timezone.now().astimezone(UTC).date())
    months = [add_months(first, ahead) for ahead in range(months_ahead + 1)]
    created: list[str] = []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
        for table in PARTITIONED_TABLES:
            if not _is_partitioned(cursor, table):
                continue
            existing = _partitions(cursor, table)
            default = default_partition_name(table)
            for month in months:
                name = partition_name(table, month)
                if name in existing:
                    continue
                moved = _create_partition(
                    cursor,
                    table=table,
                    name=name,
                    month=month,
                    default=default if default in existing else None,
                )
                created.append(name)
                logger.info(
                    "created partition %s (%d rows moved into it from DEFAULT)", name, moved
                )
    return created


def _is_partitioned(cursor: CursorWrapper, table: str) -> bool:
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))",
        [table],
    )
    row = cursor.fetchone()
    return bool(row and row[0])


def _partitions(cursor: CursorWrapper, table: str) -> set[str]:
    cursor.execute(
        "SELECT child.relname FROM pg_inherits"
        " JOIN pg_class child ON child.oid = pg_inherits.inhrelid"
        " WHERE pg_inherits.inhparent = %s::regclass",
        [table],
    )
    return {row[0] for row in cursor.fetchall()}


def _columns(cursor: CursorWrapper, table: str) -> str:
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
        " AND NOT attisdropped ORDER BY attnum",
        [table],
    )
    return ", ".join(_quote(cursor, row[0]) for row in cursor.fetchall())


def _quote(cursor: CursorWrapper, name: str) -> str:
    return cursor.db.ops.quote_name(name)


def _bound(month: date) -> str:
    """A month's first instant in UTC as an SQL literal (partition bounds take no parameters)."""
    return f"'{datetime(month.year, month.month, 1, tzinfo=UTC).isoformat()}'"


def _create_partition(
    cursor: CursorWrapper, *, table: str, name: str, month: date, default: str | None
) -> int:
    """Create one month's partition, moving its rows out of DEFAULT; returns how many moved.

    The partition is built as a plain table and then attached: ATTACH takes only a
    SHARE UPDATE EXCLUSIVE lock on the parent, where CREATE TABLE … PARTITION OF would
    block every read and write of the whole table while it waits.
    """
    quoted, parent, key = _quote(cursor, name), _quote(cursor, table), _quote(cursor, PARTITION_KEY)
    since, until = _bound(month), _bound(add_months(month, 1))
    cursor.execute(
        f"CREATE TABLE {quoted} (LIKE {parent} INCLUDING DEFAULTS INCLUDING STORAGE"
        " INCLUDING COMMENTS)"
    )
    moved = 0
    if default is not None:
        # ATTACH locks DEFAULT this way to check it holds no row of the month; locking it
        # first means no such row can arrive between the move and the check.
        cursor.execute(f"LOCK TABLE {_quote(cursor, default)} IN ACCESS EXCLUSIVE MODE")
        columns = _columns(cursor, table)
        cursor.execute(
            f"WITH moved AS (DELETE FROM {_quote(cursor, default)}"  # noqa: S608 - names are ours
            f" WHERE {key} >= {since} AND {key} < {until} RETURNING {columns})"
            f" INSERT INTO {quoted} ({columns}) SELECT {columns} FROM moved"
        )
        moved = cursor.rowcount
    cursor.execute(
        f"ALTER TABLE {parent} ATTACH PARTITION {quoted} FOR VALUES FROM ({since}) TO ({until})"
    )
    return moved
