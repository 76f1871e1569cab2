"""Partition tracking_event and links_click by month of created_at (PostgreSQL only).

Each table is rebuilt as PARTITION BY RANGE (created_at): a partition for every month
that already has rows and for the current month and the next three (UTC months), plus a
DEFAULT partition so an insert never fails. Existing rows are copied, every index and
constraint is recreated under its old name, and the identity sequence continues where
the old one stopped, so ids stay unique and are never reused.

A partitioned table's unique constraints must contain the partition key: the primary key
becomes (id, created_at) and UNIQUE (public_id) becomes UNIQUE (public_id, created_at).
Django still treats `id` as the primary key. No foreign key may point at such a table
by `id` alone, which is why tracking 0002 dropped Order.event's.

SQLite is left alone. The code is kept here rather than imported, so that this migration
keeps doing what it did when the application code changes; sarafan.core.partitions
creates the later months.
"""

from datetime import UTC, date, datetime

from django.db import migrations

TABLES = ("tracking_event", "links_click")
KEY = "created_at"
MONTHS_AHEAD = 3


def _add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def _bound(month: date) -> str:
    return f"'{datetime(month.year, month.month, 1, tzinfo=UTC).isoformat()}'"


def _is_partitioned(cursor, table):
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))",
        [table],
    )
    return cursor.fetchone()[0]


def _columns(cursor, table):
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
        " AND NOT attisdropped ORDER BY attnum",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


def _constraints(cursor, table):
    """(name, type, definition, key columns, deferrable, deferred) of the table's constraints."""
    cursor.execute(
        """
        SELECT con.conname, con.contype, pg_get_constraintdef(con.oid),
               ARRAY(SELECT att.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(num, pos)
                     JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = k.num
                     ORDER BY k.pos),
               con.condeferrable, con.condeferred
        FROM pg_constraint con
        WHERE con.conrelid = %s::regclass AND con.contype IN ('p', 'u', 'f', 'c', 'x')
        ORDER BY con.contype, con.conname
        """,
        [table],
    )
    return cursor.fetchall()


def _plain_indexes(cursor, table):
    """(name, definition, unique) of the indexes no constraint owns."""
    cursor.execute(
        """
        SELECT idx.relname, pg_get_indexdef(i.indexrelid), i.indisunique
        FROM pg_index i JOIN pg_class idx ON idx.oid = i.indexrelid
        WHERE i.indrelid = %s::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                          WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid)
        ORDER BY idx.relname
        """,
        [table],
    )
    return cursor.fetchall()


def _identity(cursor, table):
    """The identity column's (name, ALWAYS/BY DEFAULT, sequence name, next value)."""
    cursor.execute(
        "SELECT attname, attidentity FROM pg_attribute WHERE attrelid = %s::regclass"
        " AND attidentity <> '' AND NOT attisdropped",
        [table],
    )
    rows = cursor.fetchall()
    if len(rows) != 1:
        raise RuntimeError(f"{table}: expected one identity column, found {len(rows)}")
    column, kind = rows[0]
    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
    sequence = cursor.fetchone()[0]
    cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
    last_value, is_called = cursor.fetchone()
    cursor.execute(f'SELECT max("{column}") FROM "{table}"')
    highest = cursor.fetchone()[0] or 0
    following = max(last_value + 1 if is_called else last_value, highest + 1)
    generated = "ALWAYS" if kind == "a" else "BY DEFAULT"
    return column, generated, sequence.rsplit(".", 1)[-1].strip('"'), following


def _refuse_incoming_foreign_keys(cursor, table):
    cursor.execute(
        "SELECT conname, conrelid::regclass::text FROM pg_constraint"
        " WHERE confrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    incoming = cursor.fetchall()
    if incoming:
        names = ", ".join(f"{source}.{name}" for name, source in incoming)
        raise RuntimeError(f"{table} is referenced by foreign keys ({names}); drop them first")


def _key_columns(columns, *, partitioned):
    """A unique key's columns on the other side: the partition key added, or removed."""
    if partitioned:
        return columns if KEY in columns else [*columns, KEY]
    if len(columns) > 1 and columns[-1] == KEY:
        return columns[:-1]
    return columns


def _constraint_sql(table, name, kind, definition, columns, deferrable, deferred, partitioned):
    if kind in ("p", "u"):
        keys = ", ".join(f'"{column}"' for column in _key_columns(columns, partitioned=partitioned))
        clause = "PRIMARY KEY" if kind == "p" else "UNIQUE"
        timing = ""
        if deferrable:
            timing = " DEFERRABLE INITIALLY " + ("DEFERRED" if deferred else "IMMEDIATE")
        return f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {clause} ({keys}){timing}'
    if kind == "x" and partitioned:
        raise RuntimeError(f"{table}.{name}: exclusion constraints are not converted")
    return f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'


def _rebuild(cursor, table, *, partitioned):
    """Rebuild `table` as partitioned (or back as plain), keeping rows, names and ids."""
    cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
    _refuse_incoming_foreign_keys(cursor, table)
    constraints = _constraints(cursor, table)
    indexes = _plain_indexes(cursor, table)
    for name, _definition, unique in indexes:
        if unique and partitioned:
            raise RuntimeError(f"{table}.{name}: a unique index without {KEY} cannot be kept")
    identity_column, generated, sequence, following = _identity(cursor, table)
    columns = ", ".join(f'"{column}"' for column in _columns(cursor, table))

    staging = f"{table}__rebuild"
    like = f'LIKE "{table}" INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMMENTS'
    if partitioned:
        cursor.execute(f'CREATE TABLE "{staging}" ({like}) PARTITION BY RANGE ("{KEY}")')
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', \"{KEY}\" AT TIME ZONE 'UTC')::date"
            f' FROM "{table}"'
        )
        months = {row[0] for row in cursor.fetchall()}
        today = datetime.now(UTC).date().replace(day=1)
        months |= {_add_months(today, ahead) for ahead in range(MONTHS_AHEAD + 1)}
        for month in sorted(months):
            cursor.execute(
                f'CREATE TABLE "{table}_p{month:%Y_%m}" PARTITION OF "{staging}"'
                f" FOR VALUES FROM ({_bound(month)}) TO ({_bound(_add_months(month, 1))})"
            )
        cursor.execute(f'CREATE TABLE "{table}_default" PARTITION OF "{staging}" DEFAULT')
    else:
        cursor.execute(f'CREATE TABLE "{staging}" ({like})')
    cursor.execute(f'INSERT INTO "{staging}" ({columns}) SELECT {columns} FROM "{table}"')
    # Dropping the old table drops its indexes, constraints and sequence, freeing their names.
    cursor.execute(f'DROP TABLE "{table}"')
    cursor.execute(f'ALTER TABLE "{staging}" RENAME TO "{table}"')
    for name, kind, definition, keys, deferrable, deferred in constraints:
        cursor.execute(
            _constraint_sql(
                table, name, kind, definition, keys, deferrable, deferred, partitioned
            )
        )
    for _name, definition, _unique in indexes:
        # A partitioned table's own index reads "ON ONLY t"; recreated, it spans the table.
        cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
    cursor.execute(
        f'ALTER TABLE "{table}" ALTER COLUMN "{identity_column}" ADD GENERATED {generated}'
        f' AS IDENTITY (SEQUENCE NAME "{sequence}" START WITH {following})'
    )
    cursor.execute(f'ANALYZE "{table}"')


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            if not _is_partitioned(cursor, table):
                _rebuild(cursor, table, partitioned=True)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            if _is_partitioned(cursor, table):
                _rebuild(cursor, table, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("links", "0001_initial"),
        ("tracking", "0003_order_period_index"),
    ]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
