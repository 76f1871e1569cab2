"""Daily rollups of the analytics summary, and how far they reach.

Derived data only: `rollup_days` (services.py) recomputes them from the raw tables at any
time, and the summary reads them for the days before `RollupState.complete_until`.
"""

from django.db import models

from sarafan.core.models import Scoped
from sarafan.core.money import MoneyField


class DailyStat(Scoped):
    """One day's additive figures for one cell: campaign × channel × partner.

    A cell is what the summary's groupings are made of (sources.CELL); a row exists for
    every cell that had a participant, click, paid referred order or costing reward that
    day, so the summary lists the same groups as the raw rows would. Distinct counts
    (referrers, sharers) are counted from DailyActor; ratios from the sums.
    """

    day = models.DateField()  # in settings.TIME_ZONE (RollupState.time_zone)
    campaign = models.CharField(max_length=32, blank=True)  # public id; "" for none
    channel = models.CharField(max_length=20, blank=True)
    # A participant is never deleted through the API (erasure keeps the row), and rollups
    # are rebuilt from raw at will: no database constraint, and nothing to collect when a
    # participant goes. The join gives the partner's current external_id, as raw does.
    partner = models.ForeignKey(
        "participants.Participant",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    participants = models.PositiveIntegerField(default=0)  # who joined that day
    clicks = models.PositiveIntegerField(default=0)
    first_orders = models.PositiveIntegerField(default=0)
    repeat_orders = models.PositiveIntegerField(default=0)
    revenue = MoneyField(default=0)
    rewards = models.PositiveIntegerField(default=0)
    rewards_cost = MoneyField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "livemode", "day", "campaign", "channel", "partner"],
                name="daily_stat_cell_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.campaign or '-'}/{self.channel or '-'}"


class Role(models.TextChoices):
    REFERRER = "referrer"
    REFEREE = "referee"
    SHARER = "sharer"


class DailyActor(Scoped):
    """A participant who referred, was referred or shared on one day, in one cell.

    The per-day distinct sets behind the counts that do not add up over days: active
    referrers, sharers and a campaign's participants are the distinct participants of
    these rows over the period. `events` counts the day's referrals or shares of the row,
    `signups` a referrer's referrals that were not rejected.
    """

    day = models.DateField()
    campaign = models.CharField(max_length=32, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    partner = models.ForeignKey(  # as DailyStat.partner
        "participants.Participant",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    participant = models.ForeignKey(
        "participants.Participant",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    events = models.PositiveIntegerField(default=0)
    signups = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["project", "livemode", "day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.role} {self.participant_id}"


class RollupState(Scoped):
    """How far one project's and mode's rollups reach, and where the next run looks for changes.

    Every day before `complete_until` has been rolled up (none while it is null), in
    `time_zone`; rollups made in another zone are not read. `checked_at` is when the last
    complete run started, and `reward_event_mark` the reward history row it had read up to:
    the next run recomputes the older days that changed after them.
    """

    time_zone = models.CharField(max_length=64)
    complete_until = models.DateField(null=True)
    checked_at = models.DateTimeField(null=True)
    reward_event_mark = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "livemode"], name="rollup_state_unique")
        ]

    def __str__(self) -> str:
        return f"{self.project_id}/{'live' if self.livemode else 'test'} < {self.complete_until}"
