"""The redirect's statements in plain SQL, and the per-process cache of resolved links.

/r/<code> is the hottest path. Measured on PostgreSQL, building the same lookup through the
ORM (three joined models) cost about ten times the round trip itself, so the lookup and the
click inserts are written as parameterized SQL; each runs on PostgreSQL and SQLite. Even one
round trip per redirect halves its throughput, so a resolved link is kept in process memory
for SARAFAN_LINK_CACHE_SECONDS and, in the steady state, the lookup is not sent at all (the
click goes to the spool, see spool.py). Everything else about links goes through the ORM.
"""

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection

from .cache import LinkCache

# Enough for every link a busy installation shares at once; an entry is a few hundred bytes.
LINK_CACHE_SIZE = 50_000

_LOOKUP = """
SELECT l.id, l.project_id, l.livemode, l.participant_id, l.campaign_id, l.code, l.channel,
       l.utm, c.landing_url
FROM links_link l
LEFT JOIN campaigns_campaign c ON c.id = l.campaign_id
WHERE l.code = %s
"""
_LOOKUP_MANY = """
SELECT l.id, l.project_id, l.livemode, l.participant_id, l.campaign_id, l.code, l.channel,
       l.utm, c.landing_url
FROM links_link l
LEFT JOIN campaigns_campaign c ON c.id = l.campaign_id
WHERE l.code IN ({codes})
"""
REFRESH_BATCH = 500

_INSERT_CLICK = """
INSERT INTO links_click (project_id, livemode, link_id, participant_id, campaign_id, channel,
                         visitor_id, ip_hash, user_agent, referer, utm, click_ids, created_at,
                         is_bot, bot_reason)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

# Spooled clicks are copied by one INSERT … WITH v AS (the batch) SELECT per batch; the WITH
# clause is the vendor's (below). The joins drop a click whose link or participant is gone by
# now (its row would have been deleted with them) and clear a campaign deleted meanwhile (the
# foreign key's SET NULL); a click made before its participant was erased is stored erased,
# as erase_participant would have left it. A record spooled before clicks had a bot reason
# has none (NULL on PostgreSQL): a person's click, as every click was counted then.
_INSERT_SPOOLED = """
INSERT INTO links_click (project_id, livemode, link_id, participant_id, campaign_id, channel,
                         visitor_id, ip_hash, user_agent, referer, utm, click_ids, created_at,
                         is_bot, bot_reason)
"""
_SELECT_SPOOLED = """
SELECT v.project_id, v.livemode, l.id, p.id, c.id, v.channel, v.visitor_id,
       CASE WHEN p.erased_at >= v.created_at THEN '' ELSE v.ip_hash END,
       CASE WHEN p.erased_at >= v.created_at THEN '' ELSE v.user_agent END,
       CASE WHEN p.erased_at >= v.created_at THEN '' ELSE v.referer END,
       v.utm, v.click_ids, v.created_at,
       COALESCE(v.bot_reason, '') <> '', COALESCE(v.bot_reason, '')
FROM v
JOIN links_link l ON l.id = v.link_id
JOIN participants_participant p ON p.id = v.participant_id
LEFT JOIN campaigns_campaign c ON c.id = v.campaign_id
ORDER BY v.ord
"""
# PostgreSQL takes a whole batch as one JSON array of the spooled records and reads their
# fields itself, so the flush does no per-field work in Python.
_SPOOLED_ROWS_POSTGRES = """
WITH v AS (
    SELECT * FROM ROWS FROM (
        jsonb_to_recordset(%s::jsonb) AS (
            project_id bigint, livemode boolean, link_id bigint, participant_id bigint,
            campaign_id bigint, channel text, visitor_id text, ip_hash text, user_agent text,
            referer text, utm jsonb, click_ids jsonb, created_at timestamptz, bot_reason text)
    ) WITH ORDINALITY AS u(project_id, livemode, link_id, participant_id, campaign_id, channel,
                           visitor_id, ip_hash, user_agent, referer, utm, click_ids, created_at,
                           bot_reason, ord)
)
"""
# SQLite takes the batch as VALUES rows, one placeholder per column.
_SPOOLED_ROWS_SQLITE = """
WITH v(project_id, livemode, link_id, participant_id, campaign_id, channel, visitor_id,
       ip_hash, user_agent, referer, utm, click_ids, created_at, bot_reason, ord)
    AS (VALUES {rows})
"""
_SPOOLED_COLUMNS = 15  # the 14 spooled fields and the row's place in the batch


@dataclass(frozen=True)
class LinkTarget:
    """What the redirect needs to know about a link."""

    link_id: int
    project_id: int
    livemode: bool
    participant_id: int
    campaign_id: int | None
    code: str
    channel: str
    utm: dict[str, str]
    landing_url: str | None


@dataclass(frozen=True)
class NewClick:
    """A links_click row as the redirect writes it (directly or through the spool)."""

    project_id: int
    livemode: bool
    link_id: int
    participant_id: int
    campaign_id: int | None
    channel: str
    visitor_id: str
    ip_hash: str
    user_agent: str
    referer: str
    utm: dict[str, str]
    click_ids: dict[str, str]
    created_at: datetime
    bot_reason: str  # "" for a person (see traffic.py)

    @property
    def is_bot(self) -> bool:
        return bool(self.bot_reason)


link_cache: LinkCache[LinkTarget] = LinkCache(LINK_CACHE_SIZE)


def _json(value: Any) -> dict[str, str]:
    if isinstance(value, str):  # SQLite hands JSON back as text
        value = json.loads(value)
    return dict(value or {})


def _target(row: tuple[Any, ...]) -> LinkTarget:
    link_id, project_id, livemode, participant_id, campaign_id, code, channel, utm, landing = row
    return LinkTarget(
        link_id=link_id,
        project_id=project_id,
        livemode=bool(livemode),
        participant_id=participant_id,
        campaign_id=campaign_id,
        code=code,
        channel=channel,
        utm=_json(utm),
        landing_url=landing,
    )


def _lookup(code: str) -> LinkTarget | None:
    with connection.cursor() as cursor:
        cursor.execute(_LOOKUP, [code])
        row = cursor.fetchone()
    return _target(row) if row is not None else None


def cached_link_target(code: str) -> LinkTarget | None:
    """The link with this code if this process remembers it (see link_target), else None."""
    ttl = settings.SARAFAN_LINK_CACHE_SECONDS
    return link_cache.get(code, ttl=ttl) if ttl > 0 else None


def link_target(code: str) -> LinkTarget | None:
    """The link with this (normalized) code and its campaign's landing URL.

    One indexed read, remembered by this process for SARAFAN_LINK_CACHE_SECONDS: a landing
    URL changed meanwhile shows after at most that long. An unknown code is not remembered,
    so a participant created a moment ago has a working link at once.
    """
    if (cached := cached_link_target(code)) is not None:
        return cached
    target = _lookup(code)
    if target is not None and settings.SARAFAN_LINK_CACHE_SECONDS > 0:
        link_cache.put(code, target)
    return target


def refresh_link_cache() -> int:
    """Read again, in one query per REFRESH_BATCH, the links in use past half their TTL.

    Run by a background thread (the click spool's), so that in the steady state no redirect
    waits for a lookup. Returns how many codes were read.
    """
    ttl = settings.SARAFAN_LINK_CACHE_SECONDS
    codes = link_cache.stale(age=ttl / 2) if ttl > 0 else []
    for start in range(0, len(codes), REFRESH_BATCH):
        batch = codes[start : start + REFRESH_BATCH]
        fetched_at = time.monotonic()
        statement = _LOOKUP_MANY.format(codes=", ".join(["%s"] * len(batch)))
        with connection.cursor() as cursor:
            cursor.execute(statement, batch)
            found = {target.code: target for target in map(_target, cursor.fetchall())}
        link_cache.renew(batch, found, fetched_at=fetched_at)
    return len(codes)


def insert_click(click: NewClick) -> None:
    """One INSERT in autocommit (or in the caller's transaction): durable when it returns."""
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_CLICK,
            [
                click.project_id,
                click.livemode,
                click.link_id,
                click.participant_id,
                click.campaign_id,
                click.channel,
                click.visitor_id,
                click.ip_hash,
                click.user_agent,
                click.referer,
                json.dumps(click.utm),
                json.dumps(click.click_ids),
                click.created_at,
                click.is_bot,
                click.bot_reason,
            ],
        )


def _sqlite_batch(records: Sequence[bytes]) -> tuple[str, list[Any]]:
    params: list[Any] = []
    for place, record in enumerate(records):
        values = json.loads(record)
        # Stored as the ORM stores datetimes, so comparisons with erased_at hold.
        at = datetime.fromisoformat(values["created_at"])
        params += [
            values["project_id"],
            values["livemode"],
            values["link_id"],
            values["participant_id"],
            values["campaign_id"],
            values["channel"],
            values["visitor_id"],
            values["ip_hash"],
            values["user_agent"],
            values["referer"],
            json.dumps(values["utm"]),
            json.dumps(values["click_ids"]),
            connection.ops.adapt_datetimefield_value(at),
            values.get("bot_reason") or "",
            place,
        ]
    row = "(" + ", ".join(["%s"] * _SPOOLED_COLUMNS) + ")"
    rows = _SPOOLED_ROWS_SQLITE.format(rows=", ".join([row] * len(records)))
    return _INSERT_SPOOLED + rows + _SELECT_SPOOLED, params


def insert_spooled_clicks(records: Sequence[bytes]) -> int:
    """Insert spooled clicks in the caller's transaction; returns how many went in.

    Each record is a click as one JSON object (spool.encode), read and checked by the caller.
    Clicks whose link or participant no longer exists are skipped (see _SELECT_SPOOLED).
    """
    postgres = connection.vendor == "postgresql"
    if postgres:
        batch = 5000
    else:
        limit = connection.features.max_query_params or 999
        batch = max(1, limit // _SPOOLED_COLUMNS)
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(records), batch):
            chunk = records[start : start + batch]
            if postgres:
                array = b"[" + b",".join(chunk) + b"]"
                statement = _INSERT_SPOOLED + _SPOOLED_ROWS_POSTGRES + _SELECT_SPOOLED
                cursor.execute(statement, [array.decode()])
            else:
                cursor.execute(*_sqlite_batch(chunk))
            inserted += max(cursor.rowcount, 0)
    return inserted
