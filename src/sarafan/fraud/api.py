"""Anti-fraud API: block lists, stop-rules, alerts (marks and decisions: moderation/api.py)."""

from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ninja import Query, Router, Status
from pydantic import Field

from sarafan.alerts.models import Alert
from sarafan.alerts.services import acknowledge as acknowledge_alert
from sarafan.campaigns.selectors import find_campaign
from sarafan.core.errors import Conflict, NotFound
from sarafan.core.money import Threshold
from sarafan.core.pagination import ListQuery, paginate
from sarafan.core.schemas import FreeText, ListOut, Strict, answers
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth
from sarafan.projects.services import ApiCaller

from .config import forget_lists
from .models import BlockRule, StopRule
from .schemas import (
    AlertOut,
    BlockEntryDeletedOut,
    BlockEntryOut,
    StopRuleOut,
)
from .services import check_block_value
from .stoprules import threshold_str

router = Router(auth=secret_key_auth, tags=["anti-fraud"], by_alias=True, exclude_unset=True)
ACTOR = "api"


def _changed(caller: ApiCaller) -> None:
    """This process reads the project's block list and stop-rules afresh from now on."""
    forget_lists(caller.project.pk, caller.livemode)


# --- block list ----------------------------------------------------------------------------


class BlockIn(Strict):
    kind: Literal["email_pattern", "email_domain", "ip_range"]
    value: str = Field(min_length=1, max_length=254)
    note: FreeText = Field(default="", max_length=500)


def block_out(entry: BlockRule) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "object": "block_entry",
        "kind": entry.kind,
        "value": entry.value,
        "note": entry.note,
        "created_by": entry.created_by,
        "created_at": entry.created_at.isoformat(),
    }


@router.get(
    "/blocklist",
    response=answers({200: ListOut[BlockEntryOut]}),
    summary="The project's block list",
)
def list_blocklist(request: HttpRequest) -> dict[str, Any]:
    caller = _caller(request)
    entries = BlockRule.objects.filter(project=caller.project, livemode=caller.livemode)
    return {"object": "list", "data": [block_out(e) for e in entries], "has_more": False}


@router.post(
    "/blocklist",
    response=answers({201: BlockEntryOut}, body=True),
    summary="Block an e-mail pattern, domain or IP range",
)
def add_block(request: HttpRequest, payload: BlockIn) -> Status[dict[str, Any]]:
    caller = _caller(request)
    value = check_block_value(payload.kind, payload.value)
    try:
        with transaction.atomic():
            entry = BlockRule.objects.create(
                project=caller.project,
                livemode=caller.livemode,
                kind=payload.kind,
                value=value,
                note=payload.note,
                created_by=ACTOR,
            )
    except IntegrityError:
        raise Conflict("This entry is already on the block list.", code="duplicate") from None
    _changed(caller)
    return Status(201, block_out(entry))


@router.delete(
    "/blocklist/{entry_id}",
    response=answers({200: BlockEntryDeletedOut}, body=True),
    summary="Remove a block list entry",
)
def remove_block(request: HttpRequest, entry_id: int) -> dict[str, Any]:
    caller = _caller(request)
    deleted, _ = BlockRule.objects.filter(
        project=caller.project, livemode=caller.livemode, pk=entry_id
    ).delete()
    if not deleted:
        raise NotFound(f"No block list entry {entry_id}.", param="id")
    _changed(caller)
    return {"id": entry_id, "object": "block_entry", "deleted": True}


# --- stop-rules ------------------------------------------------------------------------------

Action = Literal["hold", "pause", "alert"]


class StopRuleIn(Strict):
    kind: Literal[
        "velocity_ip",
        "velocity_device",
        "velocity_referrer",
        "fast_conversion",
        "conversion_spike",
        "budget_burn",
    ]
    threshold: Threshold
    window_minutes: int = Field(default=60, ge=1, le=90 * 24 * 60)
    actions: list[Action] = Field(min_length=1, max_length=3)
    campaign: str | None = Field(default=None, max_length=32)
    enabled: bool = True


class StopRulePatch(Strict):
    threshold: Threshold | None = None
    window_minutes: int | None = Field(default=None, ge=1, le=90 * 24 * 60)
    actions: list[Action] | None = Field(default=None, min_length=1, max_length=3)
    enabled: bool | None = None


def stop_rule_out(rule: StopRule) -> dict[str, Any]:
    return {
        "id": rule.public_id,
        "object": "stop_rule",
        "kind": rule.kind,
        "threshold": threshold_str(rule.threshold),
        "window_minutes": rule.window_minutes,
        "actions": rule.actions,
        "campaign": rule.campaign.public_id if rule.campaign else None,
        "enabled": rule.enabled,
        "last_triggered_at": rule.last_triggered_at.isoformat() if rule.last_triggered_at else None,
    }


def _rules(caller: ApiCaller) -> Any:
    return StopRule.objects.filter(project=caller.project, livemode=caller.livemode).select_related(
        "campaign"
    )


@router.get(
    "/stop_rules", response=answers({200: ListOut[StopRuleOut]}), summary="Stop-rules on anomalies"
)
def list_stop_rules(request: HttpRequest) -> dict[str, Any]:
    rules = _rules(_caller(request))
    return {"object": "list", "data": [stop_rule_out(r) for r in rules], "has_more": False}


@router.post(
    "/stop_rules", response=answers({201: StopRuleOut}, body=True), summary="Add a stop-rule"
)
def add_stop_rule(request: HttpRequest, payload: StopRuleIn) -> Status[dict[str, Any]]:
    caller = _caller(request)
    campaign = find_campaign(
        project=caller.project, livemode=caller.livemode, public_id=payload.campaign
    )
    rule = StopRule.objects.create(
        project=caller.project,
        livemode=caller.livemode,
        campaign=campaign,
        kind=payload.kind,
        threshold=payload.threshold,
        window_minutes=payload.window_minutes,
        actions=sorted(set(payload.actions)),
        enabled=payload.enabled,
    )
    _changed(caller)
    return Status(201, stop_rule_out(rule))


@router.patch(
    "/stop_rules/{rule_id}",
    response=answers({200: StopRuleOut}, body=True),
    summary="Change a stop-rule",
)
def change_stop_rule(request: HttpRequest, rule_id: str, payload: StopRulePatch) -> dict[str, Any]:
    rule = _rules(_caller(request)).filter(public_id=rule_id).first()
    if rule is None:
        raise NotFound(f"No stop-rule '{rule_id}'.", param="id")
    sent = payload.model_fields_set
    if "threshold" in sent and payload.threshold is not None:
        rule.threshold = payload.threshold
    if "window_minutes" in sent and payload.window_minutes is not None:
        rule.window_minutes = payload.window_minutes
    if "actions" in sent and payload.actions is not None:
        rule.actions = sorted(set(payload.actions))
    if "enabled" in sent and payload.enabled is not None:
        rule.enabled = payload.enabled
    rule.save()
    _changed(_caller(request))
    return stop_rule_out(rule)


# --- alerts ----------------------------------------------------------------------------------


def alert_out(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.public_id,
        "object": "alert",
        "kind": alert.kind,
        "message": alert.message,
        "campaign": alert.campaign.public_id if alert.campaign else None,
        "data": alert.data,
        "created_at": alert.created_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
    }


@router.get(
    "/alerts",
    response=answers({200: ListOut[AlertOut]}),
    summary="Alerts raised by stop-rules, newest first",
)
def list_alerts(request: HttpRequest, query: Query[ListQuery]) -> dict[str, Any]:
    caller = _caller(request)
    alerts = Alert.objects.filter(project=caller.project, livemode=caller.livemode).select_related(
        "campaign"
    )
    page, has_more = paginate(alerts, limit=query.limit, starting_after=query.starting_after)
    return {"object": "list", "data": [alert_out(a) for a in page], "has_more": has_more}


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response=answers({200: AlertOut}, body=True),
    summary="Acknowledge an alert",
)
def acknowledge(request: HttpRequest, alert_id: str) -> dict[str, Any]:
    caller = _caller(request)
    alert = (
        Alert.objects.filter(project=caller.project, livemode=caller.livemode, public_id=alert_id)
        .select_related("campaign")
        .first()
    )
    if alert is None:
        raise NotFound(f"No alert '{alert_id}'.", param="id")
    acknowledge_alert(alert, actor=ACTOR)
    return alert_out(alert)
