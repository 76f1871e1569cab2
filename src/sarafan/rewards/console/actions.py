"""What a manager does to rewards in the console: cancel one (after a confirmation that
shows what is taken back), e-mail its certificate again, issue a waiting one now, choose
its brand, and give a reward by hand.

Each action is a POST (CSRF, `posted_object`) to one of the rewards services; their
refusals come back as messages in the reader's language, and the page is never left with
an error.
"""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from sarafan.campaigns.models import Campaign
from sarafan.console.kit import (
    ObjectAction,
    ReasonForm,
    action_reason,
    actor,
    back,
    posted_object,
    refusal,
)
from sarafan.core.errors import SarafanError
from sarafan.core.ids import row_id
from sarafan.core.money import DEFAULT_CURRENCY, AmountFormField, is_currency_code
from sarafan.participants.models import Participant
from sarafan.participants.selectors import get_participant
from sarafan.site.scope import Scope, current_scope

from .. import services, waiting
from ..models import Brand, Certificate, DeliveryStatus, Reward, RewardStatus, Waiting
from ..sources import offered_brands
from ..tasks import queue_resend
from ..transitions import can_move
from .shared import (
    ADD_REWARD,
    CHANGE_REWARD,
    masked_code,
    mode_name,
    money,
    rehearse,
    scope_bar,
)

S = RewardStatus
# When a button is shown; the service called still decides (a stale page gets its refusal).
SENDABLE = {S.ISSUED, S.DELIVERED}
RETRYABLE = {Waiting.POOL_EMPTY, Waiting.ISSUER, Waiting.ISSUER_FAILED}
CHOOSABLE = {S.PENDING, S.REVIEW, S.APPROVED}
NOT_OFFERED = _("This brand is not offered for this reward.")


def _page(reward: Reward) -> str:
    return reverse("admin:rewards_reward_change", args=[reward.pk])


def _certificate(reward: Reward) -> Certificate | None:
    return Certificate.objects.filter(reward=reward).select_related("catalog_brand").first()


class RewardActions:
    """The reward page's buttons and the pages behind them, mixed into RewardAdmin."""

    admin_site: Any
    opts: Any
    get_object: Any
    message_user: Any

    def may_change(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(CHANGE_REWARD))

    def may_give(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(ADD_REWARD))

    def action_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("manual/", wrap(self.manual_view), name="rewards_reward_manual"),
            path("<path:object_id>/cancel/", wrap(self.cancel_view), name="rewards_reward_cancel"),
            path("<path:object_id>/resend/", wrap(self.resend_view), name="rewards_reward_resend"),
            path("<path:object_id>/retry/", wrap(self.retry_view), name="rewards_reward_retry"),
            path("<path:object_id>/brand/", wrap(self.brand_view), name="rewards_reward_brand"),
        ]

    # --- the buttons ------------------------------------------------------------------------

    def object_actions(self, request: HttpRequest, reward: Reward) -> list[ObjectAction]:
        """The actions that apply to this reward now, for console/object_actions.html."""
        if not self.may_change(request):
            return []
        here = _page(reward)
        found: list[ObjectAction] = []
        if reward.status in CHOOSABLE and _certificate(reward) is None:
            offered = offered_brands(reward)
            if len(offered) > 1:
                found.append(
                    ObjectAction(
                        key="brand",
                        title=_("Choose the brand"),
                        description=_(
                            "On the recipient's behalf; an approved reward waiting for the "
                            "choice is issued at once."
                        ),
                        url=reverse("admin:rewards_reward_brand", args=[reward.pk]),
                        next=here,
                        buttons=[
                            (
                                str(brand.pk),
                                brand.name,
                                "primary" if brand == reward.brand else "default",
                            )
                            for brand in offered
                        ],
                    )
                )
        if reward.status == S.APPROVED and reward.waiting in RETRYABLE:
            found.append(
                ObjectAction(
                    key="retry",
                    title=_("Issue now"),
                    description=_(
                        "Try again now instead of waiting for the next attempt: after the "
                        "pool was refilled or the issuer is back."
                    ),
                    url=reverse("admin:rewards_reward_retry", args=[reward.pk]),
                    next=here,
                    buttons=[("retry", _("Retry now"), "primary")],
                )
            )
        if reward.status in SENDABLE:
            found.append(
                ObjectAction(
                    key="resend",
                    title=_("E-mail the certificate again"),
                    description=_("To the recipient's current e-mail address."),
                    url=reverse("admin:rewards_reward_resend", args=[reward.pk]),
                    next=here,
                    buttons=[("resend", _("Resend e-mail"), "default")],
                )
            )
        if can_move(reward.status, S.CANCELLED):
            found.append(
                ObjectAction(
                    key="cancel",
                    title=_("Cancel the reward"),
                    description=_(
                        "Its amount goes back to the campaign's budget; an issued "
                        "certificate loses its unspent balance. You confirm on the next page."
                    ),
                    url=reverse("admin:rewards_reward_cancel", args=[reward.pk]),
                    next=here,
                    buttons=[("cancel", _("Cancel the reward…"), "danger")],
                    reason=ReasonForm(),
                )
            )
        return found

    # --- cancel -------------------------------------------------------------------------------

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """First POST: the confirmation with the amount a cancellation takes back now; the
        second (`confirm`) cancels."""
        reward = posted_object(self, request, object_id, allowed=self.may_change(request))
        if isinstance(reward, HttpResponse):
            return reward
        note = action_reason(request)
        who = actor(request)
        if request.POST.get("confirm") == "yes":
            try:
                clawed = services.cancel_reward(reward=reward, actor=who, note=note)
            except SarafanError as exc:
                self.message_user(request, f"{reward.public_id}: {refusal(exc)}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("Reward %(reward)s cancelled; %(amount)s taken back.")
                    % {"reward": reward.public_id, "amount": money(clawed, reward.currency)},
                    messages.SUCCESS,
                )
            return back(request, _page(reward))
        try:
            clawback: Decimal | None = rehearse(
                lambda: services.cancel_reward(reward=reward, actor=who, note=note)
            )
            refused = ""
        except SarafanError as exc:
            clawback, refused = None, refusal(exc)
        certificate = _certificate(reward)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": reward,
            "title": _("Cancel the reward"),
            "subtitle": reward.public_id,
            "reward": reward,
            "status": reward.get_status_display(),
            "amount": money(reward.amount, reward.currency),
            "clawback": money(clawback, reward.currency) if clawback is not None else "",
            "refused": refused,
            "certificate": certificate,
            "certificate_code": masked_code(certificate) if certificate else "",
            "balance": money(certificate.balance, certificate.currency) if certificate else "",
            "note": note,
            "back": _page(reward),
        }
        return TemplateResponse(request, "admin/rewards/reward_cancel.html", context)

    # --- resend, retry, brand -------------------------------------------------------------------

    def resend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        reward = posted_object(self, request, object_id, allowed=self.may_change(request))
        if isinstance(reward, HttpResponse):
            return reward
        try:
            sent = queue_resend(reward, actor=actor(request))
            sent.refresh_from_db()  # sent already when the task ran on commit
        except SarafanError as exc:
            self.message_user(request, f"{reward.public_id}: {refusal(exc)}", messages.ERROR)
        else:
            if sent.status == DeliveryStatus.SENDING:
                self.message_user(
                    request,
                    _("The certificate will be e-mailed again to %(to)s in a moment.")
                    % {"to": sent.to},
                    messages.SUCCESS,
                )
            elif sent.status == DeliveryStatus.SENT:
                self.message_user(
                    request,
                    _("The certificate was e-mailed again to %(to)s.") % {"to": sent.to},
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    _("The e-mail to %(to)s could not be sent: %(error)s")
                    % {"to": sent.to, "error": sent.error},
                    messages.ERROR,
                )
        return back(request, _page(reward))

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        reward = posted_object(self, request, object_id, allowed=self.may_change(request))
        if isinstance(reward, HttpResponse):
            return reward
        try:
            now = waiting.retry_now(reward, actor=actor(request))
        except SarafanError as exc:
            self.message_user(request, f"{reward.public_id}: {refusal(exc)}", messages.ERROR)
        else:
            self._tell_outcome(request, now)
        return back(request, _page(reward))

    def brand_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        reward = posted_object(self, request, object_id, allowed=self.may_change(request))
        if isinstance(reward, HttpResponse):
            return reward
        chosen = request.POST.get("decision", "")
        brand = Brand.objects.filter(
            pk=row_id(chosen) or 0,
            project_id=reward.project_id,
            livemode=reward.livemode,
        ).first()
        if brand is None:
            self.message_user(request, NOT_OFFERED, messages.ERROR)
            return back(request, _page(reward))
        try:
            now = waiting.choose_brand(reward, brand, actor=actor(request))
        except SarafanError as exc:
            self.message_user(request, f"{reward.public_id}: {refusal(exc)}", messages.ERROR)
        else:
            self.message_user(
                request, _("Brand %(brand)s chosen.") % {"brand": brand.name}, messages.SUCCESS
            )
            if now.status in {S.APPROVED, S.ISSUED}:
                self._tell_outcome(request, now, quiet_when_waiting=True)
        return back(request, _page(reward))

    def _tell_outcome(
        self, request: HttpRequest, reward: Reward, *, quiet_when_waiting: bool = False
    ) -> None:
        # An external issuer's attempt is queued for the worker: it is not a wait to explain.
        if reward.status == S.APPROVED and reward.waiting and reward.waiting != Waiting.ISSUER:
            if quiet_when_waiting:
                return
            text = _("Not issued yet: the reward waits for %(what)s.") % {
                "what": reward.get_waiting_display()
            }
            if reward.last_error and reward.waiting != Waiting.POOL_EMPTY:
                # The provider's own words (an HTTP status, its message).
                text = f"{text} {reward.last_error}"
            self.message_user(request, text, messages.WARNING)
        elif reward.status == S.APPROVED:
            self.message_user(request, _("The reward is being issued."), messages.INFO)
        else:
            self.message_user(
                request,
                _("Reward %(reward)s issued.") % {"reward": reward.public_id},
                messages.SUCCESS,
            )

    # --- a reward given by hand -----------------------------------------------------------------

    def manual_view(self, request: HttpRequest) -> HttpResponse:
        """A reward for a participant of the current project and mode, issued at once."""
        if not self.may_give(request):
            raise PermissionDenied
        scope = current_scope(request)
        form = ManualRewardForm(request.POST if request.method == "POST" else None, scope=scope)
        if request.method == "POST" and form.is_valid():
            reward = form.give(actor(request))
            if reward is not None:
                self.message_user(
                    request,
                    _("Reward %(reward)s of %(amount)s given to %(who)s.")
                    % {
                        "reward": reward.public_id,
                        "amount": money(reward.amount, reward.currency),
                        "who": reward.recipient.external_id,
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(_page(reward))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Manual reward"),
            "form": form,
            "scope_bar": scope_bar(request, scope),
            "list_url": reverse("admin:rewards_reward_changelist"),
        }
        return TemplateResponse(request, "admin/rewards/manual_reward.html", context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        reward = self.get_object(request, unquote(object_id))
        if reward is not None:
            extra_context = {
                **(extra_context or {}),
                "object_actions": self.object_actions(request, reward),
            }
        return super().change_view(  # type: ignore[misc]  # ModelAdmin's, mixed in after
            request, object_id, form_url, extra_context
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if self.may_give(request):
            extra_context = {
                **(extra_context or {}),
                "manual_reward_url": reverse("admin:rewards_reward_manual"),
            }
        return super().changelist_view(  # type: ignore[misc]  # ModelAdmin's, mixed in after
            request, extra_context
        )


class ManualRewardForm(forms.Form):
    recipient = forms.CharField(
        label=capfirst(_("participant's external id")),
        max_length=200,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("The id your site gave the participant, as in the participants' list."),
    )
    amount = AmountFormField(
        label=capfirst(_("amount")),
        min_value=Decimal("0.01"),
        max_digits=14,
        decimal_places=2,
        localize=True,
        widget=UnfoldAdminTextInputWidget,
    )
    currency = forms.CharField(
        label=capfirst(_("currency")),
        initial=DEFAULT_CURRENCY,
        max_length=3,
        widget=UnfoldAdminTextInputWidget,
    )
    campaign = forms.ModelChoiceField(
        label=capfirst(_("campaign")),
        queryset=Campaign.objects.none(),
        required=False,
        widget=UnfoldAdminSelectWidget,
        help_text=_("The reward counts against this campaign's budget and limits."),
    )
    note = forms.CharField(
        label=capfirst(_("note")),
        max_length=200,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("Why the reward is given: kept in its history."),
    )

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scope = scope
        field: Any = self.fields["campaign"]
        field.queryset = Campaign.objects.filter(
            project=scope.project, livemode=scope.livemode
        ).order_by("name")

    def clean_recipient(self) -> Participant:
        external_id = str(self.cleaned_data["recipient"]).strip()
        found = None
        if self.scope.project is not None:
            found = get_participant(
                project=self.scope.project, livemode=self.scope.livemode, external_id=external_id
            )
        if found is None:
            raise forms.ValidationError(
                _("No participant “%(id)s” in %(project)s, %(mode)s.")
                % {
                    "id": external_id,
                    "project": self.scope.project or "—",
                    "mode": mode_name(self.scope.livemode),
                }
            )
        return found

    def clean_currency(self) -> str:
        currency = str(self.cleaned_data["currency"]).strip().upper()
        if not is_currency_code(currency):
            raise forms.ValidationError(_("Enter a three-letter currency code such as RUB."))
        return currency

    def give(self, who: str) -> Reward | None:
        """The reward made by create_manual_reward, or None with its refusal on the form."""
        data = self.cleaned_data
        assert self.scope.project is not None
        try:
            return services.create_manual_reward(
                project=self.scope.project,
                livemode=self.scope.livemode,
                recipient=data["recipient"],
                amount=data["amount"],
                currency=data["currency"],
                campaign=data["campaign"],
                actor=who,
                note=data["note"],
            )
        except SarafanError as exc:
            field = exc.param if exc.param in self.fields else None
            self.add_error(field, refusal(exc))
            return None
