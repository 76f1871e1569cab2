"""The redirect's two statements, in plain SQL.

/r/<code> is the hottest path. Measured on PostgreSQL, building the same lookup through the
ORM (three joined models) cost about ten times the round trip itself, so the lookup and the
click insert are written as one parameterized SELECT and one INSERT; both run unchanged on
PostgreSQL and SQLite. Everything else about links goes through the ORM.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

_LOOKUP = """
SELECT l.id, l.project_id, l.livemode, l.participant_id, l.campaign_id, l.code, l.channel,
       l.utm, c.landing_url
FROM links_link l
LEFT JOIN campaigns_campaign c ON c.id = l.campaign_id
WHERE l.code = %s
"""

_INSERT_CLICK = """
INSERT INTO links_click (project_id, livemode, link_id, participant_id, campaign_id, channel,
                         visitor_id, ip_hash, user_agent, referer, utm, click_ids, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


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


def _json(value: Any) -> dict[str, str]:
    if isinstance(value, str):  # SQLite hands JSON back as text
        value = json.loads(value)
    return dict(value or {})


def link_target(code: str) -> LinkTarget | None:
    """The link with this (normalized) code and its campaign's landing URL: one indexed read."""
    with connection.cursor() as cursor:
        cursor.execute(_LOOKUP, [code])
        row = cursor.fetchone()
    if row is None:
        return None
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


def insert_click(
    *,
    target: LinkTarget,
    campaign_id: int | None,
    visitor_id: str,
    ip_hash: str,
    user_agent: str,
    referer: str,
    utm: dict[str, str],
    click_ids: dict[str, str],
    at: datetime,
) -> None:
    """One INSERT in autocommit: durable before the redirect answers."""
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_CLICK,
            [
                target.project_id,
                target.livemode,
                target.link_id,
                target.participant_id,
                campaign_id,
                target.channel,
                visitor_id,
                ip_hash,
                user_agent,
                referer,
                json.dumps(utm),
                json.dumps(click_ids),
                at,
            ],
        )
