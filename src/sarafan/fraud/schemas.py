"""Answer schemas of the anti-fraud API and of the risk verdict other answers carry."""

from typing import Any, Literal

from pydantic import ConfigDict, Field

from sarafan.core.schemas import DecimalStr, Out, Timestamp

Decision = Literal["allow", "review", "block"]


class RiskDetailOut(Out):
    """One reason explained; some reasons add their evidence (counts, shares) as fields."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str


class RiskOut(Out):
    """API.md's `fraud` object (`risk` on a referral): score 0–1, decision, reason codes."""

    score: float = Field(ge=0, le=1)
    decision: Decision
    reasons: list[str]
    # Answers stored before reasons were explained have no details (replays repeat them).
    details: list[RiskDetailOut] = Field(default_factory=list)


class SignalOut(Out):
    kind: str
    referrer: list[str] = Field(description="the first characters of each value's hash")
    referee: list[str]
    shared: bool
    flagged: bool


class BlockEntryOut(Out):
    id: int
    object: Literal["block_entry"]
    kind: Literal["email_pattern", "email_domain", "ip_range"]
    value: str
    note: str
    created_by: str
    created_at: Timestamp


class BlockEntryDeletedOut(Out):
    id: int
    object: Literal["block_entry"]
    deleted: Literal[True]


class StopRuleOut(Out):
    id: str
    object: Literal["stop_rule"]
    kind: str
    threshold: DecimalStr
    window_minutes: int
    actions: list[Literal["hold", "pause", "alert"]]
    campaign: str | None
    enabled: bool
    last_triggered_at: Timestamp | None


class AlertOut(Out):
    id: str
    object: Literal["alert"]
    kind: str
    message: str
    campaign: str | None
    data: dict[str, Any]
    created_at: Timestamp
    acknowledged_at: Timestamp | None


class PersonOut(Out):
    external_id: str
    name: str
    email: str
    phone: str
    created_at: Timestamp
    paid_orders: int
    fraudster: bool
    risk_flags: list[Any]


class EvidenceOut(Out):
    """Both people of a referral and their signals, the shared ones marked."""

    referrer: PersonOut
    referee: PersonOut
    signals: list[SignalOut]
