"""Console pages of moderation: referrals with their risk verdict, the moderation queue, the
case page, and the decisions.

The queue (…/referral/queue/) is the referrals' list narrowed to the cases in review of one
project and mode, riskiest first, with a one-click decision on each row, decisions on the
selected rows, and one for everything the filters show above or below a score. The case page
is the referral's own page with the evidence side by side. Decisions are listed and reversed
on their own pages. Every decision is moderation.services'.
"""

from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy
from unfold.contrib.filters.admin import DropdownFilter, RangeNumericListFilter

from sarafan.campaigns.models import Campaign, Trigger
from sarafan.console.kit import (
    ObjectAction,
    ReasonActionForm,
    ReasonForm,
    ReversedFilter,
    action_reason,
    actor,
    back,
    label,
    local_time,
    may_moderate,
    post_only,
    posted_object,
    refusal,
)
from sarafan.console.options import (
    LINK_CLASSES,
    ReadOnlyAdmin,
    ReadOnlyInline,
    public_id,
    shown,
    shown_choice,
)
from sarafan.core.errors import SarafanError
from sarafan.core.ids import row_id
from sarafan.fraud import risk
from sarafan.fraud.models import SignalKind
from sarafan.links.models import Channel
from sarafan.participants.models import Participant
from sarafan.projects.models import Project
from sarafan.referrals.models import Referral, ReferralEvent, ReferralStatus
from sarafan.rewards.models import Reward, RewardStatus
from sarafan.site.scope import LIVE, TEST, Scope, current_scope

from . import selectors as evidence
from . import services as moderation
from .models import Decision, DecisionAction

channel = shown_choice("channel", _("channel"), Channel)
DECISION_LABELS = {
    "allow": _("allow"),
    "review": _("review"),
    "block": _("block"),
}
QUEUE = "referrals_referral_queue"
REVERSE = "moderation.change_decision"
# Cases one threshold decision takes at most, as the API's bulk review does.
BULK_LIMIT = 500


def in_queue(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and match.url_name == QUEUE


def _score(params: Any, key: str) -> float | None:
    text = str(params.get(key, "")).strip().replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return min(max(value, 0.0), 1.0)


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows: a project and mode, and the campaign, reason and score range."""

    scope: Scope
    campaign: Campaign | None = None
    reason: str | None = None
    min_score: float | None = None
    max_score: float | None = None

    @classmethod
    def of(cls, request: HttpRequest, params: Any) -> "QueueFilter":
        scope = current_scope(request, params)
        campaign_id = row_id(str(params.get("campaign", "")))
        campaign = None
        if campaign_id is not None and scope.project is not None:
            campaign = Campaign.objects.filter(
                pk=campaign_id, project=scope.project, livemode=scope.livemode
            ).first()
        reason = params.get("reason") or None
        return cls(
            scope=scope,
            campaign=campaign,
            reason=reason if reason in risk.REASONS else None,
            min_score=_score(params, "risk_score_from"),
            max_score=_score(params, "risk_score_to"),
        )

    def queue(self, **narrower: float) -> QuerySet[Referral]:
        if self.scope.project is None:
            return Referral.objects.none()
        return moderation.review_queue(
            project_id=self.scope.project.pk,
            livemode=self.scope.livemode,
            campaign=self.campaign,
            reason=self.reason,
            min_score=narrower.get("min_score", self.min_score),
            max_score=narrower.get("max_score", self.max_score),
        )


# --- filters ----------------------------------------------------------------------------------
# In the queue, QueueFilter.queue() applies them all (the same call as the threshold
# decision), so their own querysets only narrow the plain list of referrals.


class DecisionFilter(admin.SimpleListFilter):
    title = _("decision")
    parameter_name = "risk_decision"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(DECISION_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Referral]) -> QuerySet[Referral]:
        value = self.value()
        return queryset.filter(risk_decision=value) if value else queryset


class ReasonFilter(DropdownFilter):
    title = pgettext_lazy("risk", "reason")
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # same_ip_and_user_agent only weighs same_ip; it is never a reason of its own.
        codes = [code for code in risk.REASONS if code != "same_ip_and_user_agent"]
        return [(code, risk.message(code)) for code in codes]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Referral]) -> QuerySet[Referral]:
        value = self.value()
        if not value or in_queue(request):
            return queryset
        return queryset.filter(risk_reasons__icontains=f'"{value}"')


class ScoreFilter(RangeNumericListFilter):
    title = _("risk score")
    parameter_name = "risk_score"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        return queryset if in_queue(request) else super().queryset(request, queryset)


class CampaignFilter(DropdownFilter):
    """The queue's campaigns with cases in review (not shown on the plain list)."""

    title = _("campaign")
    parameter_name = "campaign"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        if not in_queue(request):
            return []
        scope = current_scope(request)
        if scope.project is None:
            return []
        campaigns = evidence.review_campaigns(project_id=scope.project.pk, livemode=scope.livemode)
        return [(str(campaign.pk), campaign.name) for campaign in campaigns]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Referral]) -> QuerySet[Referral]:
        return queryset


class ScopeParameter(admin.SimpleListFilter):
    """A query parameter the queue reads itself (mode, project); shown as tabs, not here."""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Referral]) -> QuerySet[Referral]:
        return queryset


class ModeParameter(ScopeParameter):
    title = _("mode")
    parameter_name = "mode"


class ProjectParameter(ScopeParameter):
    title = _("project")
    parameter_name = "project"


class HistoryInline(ReadOnlyInline):
    model = ReferralEvent
    fields = (
        shown("created_at", _("time")),
        shown("kind", _("what happened")),
        shown("data", _("details")),
    )
    readonly_fields = fields
    verbose_name = _("history entry")
    verbose_name_plural = _("history")


# --- how a case is shown ----------------------------------------------------------------------

SIGNAL_LABELS = dict(SignalKind.choices)
# Keys of a reason's evidence (risk_details) and how they read.
DETAIL_LABELS = {
    "signal": _("signal"),
    "signals": _("signals"),
    "same_user_agent": _("same browser"),
    "domain": _("domain"),
    "entry": _("block list entry"),
    "params": _("ad click parameters"),
    "count": _("counted"),
    "threshold": _("threshold"),
    "seconds": _("seconds from click to order"),
    "ratio": _("times the campaign's conversion"),
}


def _detail(key: str, value: Any) -> str:
    if key == "signal":
        return str(SIGNAL_LABELS.get(value, value))
    if key == "signals" and isinstance(value, list):
        return ", ".join(str(SIGNAL_LABELS.get(item, item)) for item in value)
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, float):
        return str(formats.localize(round(value, 2)))
    return str(value)


def score_label(referral: Referral) -> str:
    score = referral.risk_score
    variant = "danger" if score >= risk.BLOCK_AT else "warning" if score >= risk.REVIEW_AT else ""
    return label(formats.number_format(score, 2), variant)


def person(participant: Participant) -> str:
    url = reverse("admin:participants_participant_change", args=[participant.pk])
    shown_name = participant.name or participant.external_id
    mark = label(_("fraudster"), "danger") if participant.fraud_flagged_at is not None else ""
    return format_html(
        '<span class="whitespace-nowrap"><a href="{}" class="{}">{}</a> '
        '<span class="text-subtle">{}</span></span> {}',
        url,
        LINK_CLASSES,
        shown_name,
        participant.external_id if participant.name else "",
        mark,
    )


def reason_lines(referral: Referral) -> SafeString | str:
    if not referral.risk_reasons:
        return "—"
    lines = format_html_join(
        "",
        '<div data-reason="{}">{}</div>',
        ((code, risk.message(str(code))) for code in referral.risk_reasons),
    )
    return format_html('<div class="flex flex-col gap-1 min-w-56">{}</div>', lines)


def _people_rows(referrer: Participant, referee: Participant) -> list[tuple[Any, str, str]]:
    def fraudster(p: Participant) -> str:
        if p.fraud_flagged_at is None:
            return str(_("no"))
        return label(_("since %(when)s") % {"when": local_time(p.fraud_flagged_at)}, "danger")

    def flags(p: Participant) -> str:
        return "; ".join(risk.message(str(code)) for code in p.risk_flags or []) or "—"

    rows: list[tuple[Any, Any]] = [
        (pgettext_lazy("person", "name"), lambda p: p.name or "—"),
        (_("external id"), lambda p: p.external_id),
        (_("e-mail"), lambda p: p.email or "—"),
        (_("phone"), lambda p: p.phone or "—"),
        (_("created"), lambda p: local_time(p.created_at)),
        (_("paid orders"), lambda p: str(p.paid_orders)),
        (_("fraudster"), fraudster),
        (_("risk flags"), flags),
    ]
    return [(title, value(referrer), value(referee)) for title, value in rows]


def _reasons(referral: Referral) -> list[dict[str, Any]]:
    reasons = []
    for code in referral.risk_reasons or []:
        details = dict((referral.risk_details or {}).get(code) or {})
        weight = details.pop("weight", None)
        reasons.append(
            {
                "code": code,
                "message": risk.message(str(code)),
                "weight": formats.number_format(weight, 2) if weight is not None else "",
                "details": [
                    (DETAIL_LABELS.get(key, key), _detail(key, value))
                    for key, value in details.items()
                ],
            }
        )
    return reasons


REWARD_VARIANTS: dict[str, str] = {
    RewardStatus.REVIEW: "warning",
    RewardStatus.REJECTED: "danger",
    RewardStatus.CANCELLED: "danger",
    RewardStatus.ISSUED: "success",
    RewardStatus.DELIVERED: "success",
    RewardStatus.REDEEMED: "success",
}


def _rewards(rewards: list[Reward]) -> list[dict[str, Any]]:
    triggers = dict(Trigger.choices)
    return [
        {
            "reward": reward,
            "url": reverse("admin:rewards_reward_change", args=[reward.pk]),
            "recipient": person(reward.recipient),
            "amount": f"{formats.localize(reward.amount)} {reward.currency}",
            "trigger": triggers.get(reward.trigger, reward.trigger),
            "status": label(reward.get_status_display(), REWARD_VARIANTS.get(reward.status, "")),
        }
        for reward in rewards
    ]


# --- the page -----------------------------------------------------------------------------


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    inlines = (HistoryInline,)
    list_display = (
        public_id,
        "referrer",
        "referee",
        shown("campaign", _("campaign")),
        channel,
        "status",
        "risk_score",
        "decision",
        "livemode",
        "created_at",
    )
    queue_display = ("case", "score", "reasons", "people", "where", "one_click")
    list_filter = (
        "status",
        "livemode",
        "source",
        DecisionFilter,
        ReasonFilter,
        ScoreFilter,
        CampaignFilter,
        ModeParameter,
        ProjectParameter,
    )
    list_filter_submit = True
    # The queue's filters are applied by QueueFilter, so per-choice counts would be wrong.
    show_facets = admin.ShowFacets.NEVER
    list_select_related = ("referrer", "referee", "campaign")
    search_fields = ("public_id", "referrer__external_id", "referee__external_id")
    actions = ("approve_selected", "reject_selected")
    action_form = ReasonActionForm
    list_before_template = "moderation/queue_header.html"
    change_form_outer_before_template = "moderation/case.html"
    fields = (
        "project",
        "livemode",
        public_id,
        shown("campaign", _("campaign")),
        "referrer",
        "referee",
        shown("link", _("link")),
        channel,
        "source",
        "status",
        "risk_score",
        "decision",
        "reasons",
        "created_at",
        "qualified_at",
    )
    readonly_fields = fields

    @admin.display(description=_("decision"), ordering="risk_decision")
    def decision(self, referral: Referral) -> str:
        return str(DECISION_LABELS.get(referral.risk_decision, referral.risk_decision))

    @admin.display(description=_("reasons"))
    def reasons(self, referral: Referral) -> SafeString | str:
        return reason_lines(referral)

    @admin.display(description=_("case"), ordering="id")
    def case(self, referral: Referral) -> str:
        return format_html(
            '{}<div class="text-subtle text-xs">{}</div>',
            referral.public_id,
            _("waiting %(age)s") % {"age": timesince(referral.created_at, depth=1)},
        )

    @admin.display(description=_("risk score"), ordering="risk_score")
    def score(self, referral: Referral) -> str:
        return format_html(
            '{}<div class="text-subtle text-xs whitespace-nowrap">{}</div>',
            score_label(referral),
            self.decision(referral),
        )

    @admin.display(description=_("referrer → referee"))
    def people(self, referral: Referral) -> str:
        return format_html(
            "<div>{}</div><div>→ {}</div>", person(referral.referrer), person(referral.referee)
        )

    @admin.display(description=_("campaign, channel"), ordering="campaign__name")
    def where(self, referral: Referral) -> str:
        url = reverse("admin:campaigns_campaign_change", args=[referral.campaign.pk])
        return format_html(
            '<a href="{}" class="{}">{}</a><div class="text-subtle text-xs">{}</div>',
            url,
            LINK_CLASSES,
            referral.campaign,
            channel(referral) or "",
        )

    @admin.display(description=_("one click"))
    def one_click(self, referral: Referral) -> str:
        url = reverse("admin:referrals_referral_decide", args=[referral.pk])
        button = (
            '<button type="submit" form="queue-decide" formaction="{}" name="decision" '
            'value="{}" data-case="{}" class="font-medium inline-flex items-center '
            "justify-center whitespace-nowrap rounded-default cursor-pointer px-2 py-0.5 "
            'border border-transparent text-white {}">{}</button>'
        )
        return format_html(
            '<div class="flex gap-2">' + button + button + "</div>",
            url,
            moderation.APPROVE,
            referral.public_id,
            "bg-primary-600 hover:bg-primary-600/80",
            _("Approve"),
            url,
            moderation.REJECT,
            referral.public_id,
            "bg-red-600 hover:bg-red-600/80",
            _("Reject"),
        )

    # --- the queue ------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("queue/", wrap(self.queue_view), name=QUEUE),
            path("queue/decide/", wrap(self.threshold_view), name="referrals_referral_threshold"),
            path(
                "<path:object_id>/decide/", wrap(self.decide_view), name="referrals_referral_decide"
            ),
            *super().get_urls(),
        ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Referral]:
        if in_queue(request):
            return QueueFilter.of(request, request.GET).queue()
        return super().get_queryset(request)

    def get_list_display(self, request: HttpRequest) -> Any:
        if in_queue(request):
            columns = self.queue_display
            return columns if may_moderate(request) else columns[:-1]
        return super().get_list_display(request)

    def get_list_display_links(self, request: HttpRequest, list_display: Any) -> Any:
        if in_queue(request):
            return ("case",)
        return super().get_list_display_links(request, list_display)

    def get_list_filter(self, request: HttpRequest) -> Any:
        if in_queue(request):
            return (ReasonFilter, ScoreFilter, CampaignFilter, ModeParameter, ProjectParameter)
        return self.list_filter

    def get_ordering(self, request: HttpRequest) -> Any:
        return ("-risk_score", "id") if in_queue(request) else super().get_ordering(request)

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return may_moderate(request)

    def queue_view(self, request: HttpRequest) -> HttpResponse:
        """The cases in review of the current project and mode, riskiest first."""
        flt = QueueFilter.of(request, request.GET)
        scope = flt.scope
        here = reverse(f"admin:{QUEUE}")
        counts = {
            livemode: evidence.cases_in_review(livemode=livemode) for livemode in (False, True)
        }
        project_id = scope.project.pk if scope.project else None
        modes = [
            {
                "key": key,
                "title": title,
                "count": counts[livemode].get(project_id or 0, 0),
                "url": f"{here}?{scope.query(livemode=livemode)}",
                "active": scope.livemode == livemode,
            }
            for key, title, livemode in (
                (LIVE, _("Live mode"), True),
                (TEST, _("Test mode"), False),
            )
        ]
        projects = list(Project.objects.order_by("pk")) if Project.objects.count() > 1 else []
        filters = request.GET.copy()
        filters.pop("p", None)
        context = {
            "title": _("Moderation queue"),
            "queue": {
                "modes": modes,
                "projects": [
                    {
                        "title": project.name,
                        "count": counts[scope.livemode].get(project.pk, 0),
                        "url": f"{here}?{scope.query(project=project)}",
                        "active": project == scope.project,
                    }
                    for project in projects
                ],
                "may_moderate": may_moderate(request),
                "threshold_url": reverse("admin:referrals_referral_threshold"),
                "filters": filters.urlencode(),
                "thresholds": [
                    (
                        moderation.APPROVE,
                        _("Approve all with a score of at most"),
                        formats.number_format(risk.REVIEW_AT, 2),
                        "primary",
                    ),
                    (
                        moderation.REJECT,
                        _("Reject all with a score of at least"),
                        formats.number_format(risk.BLOCK_AT, 2),
                        "danger",
                    ),
                ],
                "here": request.get_full_path(),
            },
        }
        return self.changelist_view(request, extra_context=context)

    def _decided(self, request: HttpRequest, result: moderation.BulkResult) -> None:
        self.message_user(
            request,
            _("%(decided)d decided, %(skipped)d skipped.")
            % {"decided": result.decided, "skipped": result.skipped},
            messages.SUCCESS if result.decided else messages.WARNING,
        )

    def _run(
        self, request: HttpRequest, cases: list[Referral], action: str
    ) -> moderation.BulkResult:
        """decide_many, whose refusals other than Conflict become a message, not an error."""
        try:
            return moderation.decide_many(
                cases, action=action, actor=actor(request), reason=action_reason(request)
            )
        except SarafanError as exc:
            self.message_user(request, refusal(exc), messages.ERROR)
            return moderation.BulkResult()

    def _decide_many(self, request: HttpRequest, queryset: QuerySet[Referral], action: str) -> None:
        selected = list(queryset.order_by("id"))
        cases = [referral for referral in selected if referral.status == ReferralStatus.REVIEW]
        result = self._run(request, cases, action)
        # Cases no longer in review are skipped, as decide_many skips those decided meanwhile.
        result.skipped += len(selected) - len(cases)
        self._decided(request, result)

    @admin.action(description=_("Approve selected cases"), permissions=["moderate"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Referral]) -> None:
        self._decide_many(request, queryset, moderation.APPROVE)

    @admin.action(description=_("Reject selected cases"), permissions=["moderate"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Referral]) -> None:
        self._decide_many(request, queryset, moderation.REJECT)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """One click: approve or reject one case, then back to where the click came from."""
        referral = posted_object(self, request, object_id, allowed=may_moderate(request))
        if isinstance(referral, HttpResponse):
            return referral
        action = request.POST.get("decision", "")
        try:
            moderation.decide(
                referral=referral,
                action=action,
                actor=actor(request),
                reason=action_reason(request),
            )
        except SarafanError as exc:
            self.message_user(request, f"{referral.public_id}: {refusal(exc)}", messages.ERROR)
        else:
            if action == moderation.APPROVE:
                done = _("Case %(case)s approved.") % {"case": referral.public_id}
            else:
                done = _("Case %(case)s rejected.") % {"case": referral.public_id}
            self.message_user(request, done, messages.SUCCESS)
        return back(request, reverse("admin:referrals_referral_change", args=[referral.pk]))

    def threshold_view(self, request: HttpRequest) -> HttpResponse:
        """Approve everything the queue's filters show at or below a score, or reject at or
        above it; a confirmation page first says how many cases that is."""
        refused = post_only(request)
        if refused:
            return refused
        if not may_moderate(request):
            raise PermissionDenied
        filters = QueryDict(request.POST.get("filters", ""))
        here = f"{reverse(f'admin:{QUEUE}')}?{filters.urlencode()}"
        action = request.POST.get("decision", "")
        threshold = _score(request.POST, "threshold")
        if action not in (moderation.APPROVE, moderation.REJECT) or threshold is None:
            self.message_user(request, _("Enter a score between 0 and 1."), messages.ERROR)
            return back(request, here)
        flt = QueueFilter.of(request, filters)
        if action == moderation.APPROVE:
            upper = min(threshold, flt.max_score if flt.max_score is not None else 1.0)
            queue = flt.queue(max_score=upper)
        else:
            lower = max(threshold, flt.min_score if flt.min_score is not None else 0.0)
            queue = flt.queue(min_score=lower)
        search = filters.get("q", "")
        if search:
            queue, _duplicates = self.get_search_results(request, queue, search)
        total = queue.count()
        if request.POST.get("confirm") != "yes" or total == 0:
            return TemplateResponse(
                request,
                "moderation/queue_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "title": _("Confirm the decision"),
                    "action": action,
                    "threshold": formats.number_format(threshold, 2),
                    "raw_threshold": str(threshold),
                    "total": total,
                    "limit": BULK_LIMIT,
                    "sample": list(queue[:10]),
                    "filters": filters.urlencode(),
                    "scope": flt,
                    "reason_text": risk.message(flt.reason) if flt.reason else "",
                    "reason": action_reason(request),
                    "back": here,
                },
            )
        result = self._run(request, list(queue[:BULK_LIMIT]), action)
        self._decided(request, result)
        if total > BULK_LIMIT:
            self.message_user(
                request,
                _("%(left)d more cases match; run the decision again for them.")
                % {"left": total - BULK_LIMIT},
                messages.WARNING,
            )
        return back(request, here)

    # --- the case page ----------------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        referral = self.get_object(request, unquote(object_id))
        if referral is not None:
            extra_context = {**(extra_context or {}), "case": self.case_file(request, referral)}
        return super().change_view(request, object_id, form_url, extra_context)

    def case_file(self, request: HttpRequest, referral: Referral) -> dict[str, Any]:
        """Everything a moderator weighs, for moderation/case.html."""
        here = reverse("admin:referrals_referral_change", args=[referral.pk])
        scope = Scope(project=referral.project, livemode=referral.livemode)
        queue_url = f"{reverse(f'admin:{QUEUE}')}?{scope.query()}"
        in_review = referral.status == ReferralStatus.REVIEW
        moderator = may_moderate(request)
        decide = None
        if in_review and moderator:
            decide = ObjectAction(
                key="decide",
                title=_("Decision"),
                description=_("The case's rewards in review are approved or rejected with it."),
                url=reverse("admin:referrals_referral_decide", args=[referral.pk]),
                next=queue_url,
                buttons=[
                    (moderation.APPROVE, _("Approve"), "primary"),
                    (moderation.REJECT, _("Reject"), "danger"),
                ],
                reason=ReasonForm(),
            )
        upcoming = None
        if in_review:
            others = QueueFilter(scope=scope).queue().exclude(pk=referral.pk)
            upcoming = others.values_list("pk", flat=True).first()
        rewards = evidence.case_rewards(referral)
        reversible = request.user.has_perm(REVERSE)
        return {
            "decide": decide,
            "in_review": in_review,
            "status": referral.get_status_display(),
            "score": score_label(referral),
            "verdict": DECISION_LABELS.get(referral.risk_decision, referral.risk_decision),
            "reasons": _reasons(referral),
            "people": _people_rows(referral.referrer, referral.referee),
            "referrer": person(referral.referrer),
            "referee": person(referral.referee),
            "signals": evidence.evidence_rows(referral),
            "rewards": _rewards(rewards),
            "decisions": [
                {
                    "decision": row.decision,
                    "label": decision_label(row.decision),
                    "url": reverse("admin:moderation_decision_change", args=[row.decision.pk]),
                    "when": local_time(row.decision.created_at),
                    "reversed": (
                        local_time(row.decision.reversed_at) if row.decision.reversed_at else ""
                    ),
                    "reverse": (
                        reverse_action(row.decision, here)
                        if row.reversible and reversible
                        else None
                    ),
                }
                for row in evidence.case_decisions(referral, rewards)
            ],
            "queue_url": queue_url,
            "next_url": (
                reverse("admin:referrals_referral_change", args=[upcoming]) if upcoming else ""
            ),
            "now": timezone.now(),
        }


# --- decisions ------------------------------------------------------------------------------


def decision_label(decision: Decision) -> str:
    variant = "success" if decision.action == DecisionAction.APPROVE else "danger"
    return label(decision.get_action_display(), variant)


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    """Who decided what on which case and why; a decision is reversed here, never edited."""

    list_display = (
        public_id,
        shown("referral", _("referral")),
        shown("reward", _("reward")),
        "decision",
        "actor",
        "reason",
        "created_at",
        "reversal",
        "livemode",
        "project",
    )
    list_filter = ("action", ReversedFilter, "livemode", "project")
    list_select_related = ("referral", "reward", "project")
    search_fields = ("public_id", "referral__public_id", "reward__public_id", "actor", "reason")
    fields = (
        "project",
        "livemode",
        public_id,
        shown("referral", _("referral")),
        shown("reward", _("reward")),
        "decision",
        "actor",
        "reason",
        "created_at",
        "reversed_at",
        "reversed_by",
    )
    readonly_fields = fields
    actions = ("reverse_selected",)
    action_form = ReasonActionForm
    change_form_outer_after_template = "console/object_actions.html"

    @admin.display(description=pgettext_lazy("moderation", "decision"), ordering="action")
    def decision(self, decision: Decision) -> str:
        return decision_label(decision)

    @admin.display(description=_("reversed"), ordering="reversed_at")
    def reversal(self, decision: Decision) -> str:
        if decision.reversed_at is None:
            return "—"
        return str(
            _("%(when)s by %(who)s")
            % {"when": local_time(decision.reversed_at), "who": decision.reversed_by}
        )

    def has_reverse_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVERSE)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.reverse_view)
        return [
            path("<path:object_id>/reverse/", view, name="moderation_decision_reverse"),
            *super().get_urls(),
        ]

    def reverse_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        decision = posted_object(
            self, request, object_id, allowed=self.has_reverse_permission(request)
        )
        if isinstance(decision, HttpResponse):
            return decision
        reverse_decision(request, decision, action_reason(request))
        return back(request, reverse("admin:moderation_decision_change", args=[decision.pk]))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        decision = self.get_object(request, unquote(object_id))
        if (
            decision is not None
            and decision.reversed_at is None
            and self.has_reverse_permission(request)
        ):
            here = reverse("admin:moderation_decision_change", args=[decision.pk])
            extra_context = {
                **(extra_context or {}),
                "object_actions": [reverse_action(decision, here)],
            }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Reverse selected decisions"), permissions=["reverse"])
    def reverse_selected(self, request: HttpRequest, queryset: QuerySet[Decision]) -> None:
        done = sum(
            reverse_decision(request, d, action_reason(request), quiet=True)
            for d in queryset.order_by("id")
        )
        if done:
            self.message_user(
                request,
                ngettext(
                    "%(count)d decision reversed; its case is back in review.",
                    "%(count)d decisions reversed; their cases are back in review.",
                    done,
                )
                % {"count": done},
                messages.SUCCESS,
            )


def reverse_action(decision: Decision, here: str) -> ObjectAction:
    return ObjectAction(
        key=f"reverse-{decision.public_id}",
        title=_("Reverse the decision"),
        description=_(
            "The case goes back to the moderation queue; possible while none of its "
            "rewards is paid out."
        ),
        url=reverse("admin:moderation_decision_reverse", args=[decision.pk]),
        next=here,
        buttons=[("reverse", _("Reverse"), "danger")],
        reason=ReasonForm(),
    )


def reverse_decision(
    request: HttpRequest, decision: Decision, reason: str, *, quiet: bool = False
) -> bool:
    """Reverse through moderation.reverse; a refusal becomes an error message."""
    try:
        moderation.reverse(decision=decision, actor=actor(request), reason=reason)
    except SarafanError as exc:
        messages.error(request, f"{decision.public_id}: {refusal(exc)}")
        return False
    if not quiet:
        messages.success(
            request,
            _("Decision %(decision)s reversed; the case is back in review.")
            % {"decision": decision.public_id},
        )
    return True
