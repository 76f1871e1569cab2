"""The events' error codes and their messages (core/errors.py says how they are used)."""

from django.utils.translation import gettext_lazy as _

from sarafan.core.errors import ErrorCode


class EventError(ErrorCode):
    UNSUPPORTED_EVENT_TYPE = (
        "unsupported_event_type",
        _("Lead events arrive with the B2B lead pipeline; it is not enabled yet."),
    )
