"""Reads every row of every table, raw, for values that must never be stored in clear."""

import json
import re
from typing import Any

from django.db import connection

# A timestamp read raw (SQLite gives text) ends in six digits of microseconds, which a PIN
# could equal by chance; no secret is ever stored in one.
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


def _text(value: Any) -> str | None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and not _TIMESTAMP.match(value):
        return value
    return None


def rows_holding(*values: str) -> list[tuple[str, str]]:
    """(table, column) of every stored value that contains one of `values` (case ignored)."""
    wanted = [value.casefold() for value in values if value]
    assert wanted
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    text = _text(value)
                    if text is not None and any(w in text.casefold() for w in wanted):
                        found.append((table, column))
    return found
