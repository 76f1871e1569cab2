"""The rewards' error codes and their messages (core/errors.py says how they are used)."""

from django.utils.translation import gettext_lazy as _

from sarafan.core.errors import ErrorCode


class RewardError(ErrorCode):
    # A reward's status, its wait, its brand
    INVALID_STATUS_TRANSITION = (
        "invalid_status_transition",
        _("The reward's status no longer allows this."),
    )
    NOT_WAITING = "not_waiting", _("This reward is not waiting to be issued any more.")
    BRAND_FINAL = "brand_final", _("The brand of this reward can no longer change.")
    BRAND_MISMATCH = "brand_mismatch", _("The brand belongs to another project or mode.")
    # A campaign's limits (also the reasons a reward was not created)
    BUDGET_EXHAUSTED = "budget_exhausted", _("The campaign's budget does not cover this reward.")
    LIMIT_PER_REFERRER = (
        "limit_per_referrer",
        _("The reward would cross the campaign's monthly limit per referrer."),
    )
    CURRENCY_MISMATCH = (
        "currency_mismatch",
        _("The amount is not in the campaign's currency (amounts are not converted)."),
    )
    # Certificates: redeeming, e-mailing
    ORDER_ALREADY_REDEEMED = (
        "order_already_redeemed",
        _("This order already redeemed another amount from this certificate."),
    )
    CERTIFICATE_NOT_ACTIVE = "certificate_not_active", _("The certificate is not active.")
    CERTIFICATE_EXPIRED = "certificate_expired", _("The certificate has expired.")
    INSUFFICIENT_BALANCE = (
        "insufficient_balance",
        _("The certificate's balance cannot cover this amount."),
    )
    NOTHING_TO_SEND = (
        "nothing_to_send",
        _("The reward has no active, unexpired certificate to send."),
    )
    NO_EMAIL = "no_email", _("The recipient has no e-mail address.")
    EMAIL_DISABLED = "email_disabled", _("E-mailing certificates is turned off for this project.")
    # Pools and their CSV uploads
    POOL_BUSY = "pool_busy", _("The pool is too busy to hand out a code right now; try again.")
    CSV_HEADER = "csv_header", _("The first row must be the header code,pin,nominal,expiry.")
    TOO_MANY_ROWS = "too_many_rows", _("At most %(max)s codes per upload: split the file.")
    CSV_MALFORMED = (
        "csv_malformed",
        _("The CSV cannot be read: check its quotes and separators."),
    )
    # Issuers
    ADDRESS_NOT_ALLOWED = (
        "address_not_allowed",
        _(
            "This address is on a local or private network, which Sarafan does not call "
            "unless the installation allows its host name."
        ),
    )
