"""The moderation decisions' error codes and their messages (core/errors.py says how they
are used)."""

from django.utils.translation import gettext_lazy as _

from sarafan.core.errors import ErrorCode


class ModerationError(ErrorCode):
    NOT_IN_REVIEW = (
        "not_in_review",
        _("This case is not in review any more: it was decided already."),
    )
    ALREADY_REVERSED = "already_reversed", _("This decision was already reversed.")
    ALREADY_PAID_OUT = (
        "already_paid_out",
        _("A reward of this case is already paid out; cancel it instead."),
    )
    INVALID_DECISION = "invalid_decision", _("Choose to approve or to reject.")
