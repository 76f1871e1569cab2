"""The SQL floors that figures are compared with, and what they write.

`sql/event.sql` is the events floor: one average event of the benchmark's mix as the writes
and row locks the services make, run by pgbench. It needs the ids of the seeded project,
campaign, rules and referrers' links (`floor_defines`). `sql/task_insert.sql` is the task
queue's baseline, a one-row INSERT into the scratch table `TASK_SCRATCH_DDL` creates.

`statements` says which tables a piece of SQL writes or row-locks, so the floor can be
compared with the statements the services issue for the same events (tests/test_bench_floor.py).
"""

import re
from collections.abc import Sequence
from typing import Any

import psycopg

from .paths import SQL

EVENT_SQL = SQL / "event.sql"
TASK_INSERT_SQL = SQL / "task_insert.sql"
TASK_SCRATCH_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_task_scratch (id bigserial PRIMARY KEY, "
    "payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
)


def floor_defines(
    conn: psycopg.Connection[Any],
    *,
    project: str,
    campaign: str,
    referrers: Sequence[str],
) -> dict[str, int]:
    """The pgbench variables of event.sql, read from the database by public ids.

    `referrers` are the external ids of the seeded referrers; their links must be one
    contiguous id range (event.sql picks one at random in it).
    """
    project_row = conn.execute(
        "SELECT id FROM projects_project WHERE public_id = %s", (project,)
    ).fetchone()
    campaign_row = conn.execute(
        "SELECT id FROM campaigns_campaign WHERE public_id = %s", (campaign,)
    ).fetchone()
    if project_row is None or campaign_row is None:
        raise LookupError("the seeded project or campaign is not in the database")
    rules = {
        (recipient, trigger): (rule_id, position)
        for rule_id, position, recipient, trigger in conn.execute(
            "SELECT id, position, recipient, trigger FROM campaigns_rewardrule "
            "WHERE campaign_id = %s",
            (campaign_row[0],),
        )
    }
    links = conn.execute(
        "SELECT min(l.id), max(l.id), count(*) FROM links_link l "
        "JOIN participants_participant p ON p.id = l.participant_id "
        "WHERE p.project_id = %s AND p.external_id = ANY(%s)",
        (project_row[0], list(referrers)),
    ).fetchone()
    in_range = conn.execute(
        "SELECT count(*) FROM links_link WHERE id BETWEEN %s AND %s",
        (links[0], links[1]) if links else (0, -1),
    ).fetchone()
    if links is None or not links[2] or in_range is None or links[2] != in_range[0]:
        raise LookupError("the referrers' links are not one contiguous id range")
    return {
        "project": project_row[0],
        "campaign": campaign_row[0],
        "lmin": links[0],
        "lmax": links[1],
        "rule_signup": rules[("referee", "signup")][0],
        "pos_signup": rules[("referee", "signup")][1],
        "rule_first": rules[("referrer", "first_order")][0],
        "pos_first": rules[("referrer", "first_order")][1],
    }


_WRITE = re.compile(
    r"""^\s*(?:(INSERT)\s+INTO|(UPDATE)|(DELETE)\s+FROM)\s+"?(\w+)"?""", re.IGNORECASE
)
_FROM = re.compile(r"""\bFROM\s+"?(\w+)"?""", re.IGNORECASE)
_LOCK = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b", re.IGNORECASE)


def statements(sql: Sequence[str]) -> set[tuple[str, str]]:
    """(verb, table) of each statement that writes or row-locks: INSERT, UPDATE, DELETE and
    LOCK for a SELECT … FOR [NO KEY] UPDATE (the table of its first FROM)."""
    found: set[tuple[str, str]] = set()
    for text in sql:
        write = _WRITE.match(text)
        if write:
            verb = next(group for group in write.groups()[:3] if group)
            found.add((verb.upper(), write.group(4)))
        elif _LOCK.search(text) and (table := _FROM.search(text)):
            found.add(("LOCK", table.group(1)))
    return found


def script_branches(script: str) -> tuple[list[str], list[str]]:
    """The SQL statements event.sql runs for a signup (its `\\if` branches and what stands
    outside them) and for an order (its `\\else` branches and what stands outside them).

    Comments and meta-commands are dropped; a statement ends with `;` or `\\gset`.
    """
    signup: list[str] = []
    order: list[str] = []
    branch = ""
    current: list[str] = []
    for raw in script.splitlines():
        line = raw.split("--", 1)[0].rstrip()
        if line.startswith("\\if"):
            branch = "if"
        elif line.startswith("\\else"):
            branch = "else"
        elif line.startswith("\\endif"):
            branch = ""
        elif line.startswith("\\") or not line.strip():
            continue
        else:
            current.append(line)
            if line.endswith((";", "\\gset")):
                statement = "\n".join(current)
                current = []
                if branch != "else":
                    signup.append(statement)
                if branch != "if":
                    order.append(statement)
    return signup, order
