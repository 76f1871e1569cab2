"""The anti-fraud reason codes, their default weights and messages.

A campaign's anti-fraud settings (`campaign.fraud.weights`) may override any weight, so the
list lives here, below both the campaign's validation and the scoring in `fraud/risk.py`,
which reads it from here.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _

# code: (default weight, message). Weights are 0..1; 1.0 blocks on its own.
REASONS: dict[str, tuple[float, Any]] = {
    "self_referral_email": (1.0, _("Referrer and friend share an e-mail mailbox.")),
    "self_referral_phone": (1.0, _("Referrer and friend share a phone number.")),
    "self_referral_device": (0.9, _("Referrer and friend used the same device or browser.")),
    "self_referral_card": (1.0, _("Referrer and friend paid with the same card.")),
    "same_ip": (0.3, _("Referrer and friend came from the same IP address or subnet.")),
    # Not a reason of its own: the weight of `same_ip` when the user agent matches too.
    "same_ip_and_user_agent": (
        0.6,
        _("Referrer and friend came from the same IP address with the same browser."),
    ),
    "similar_name": (0.2, _("Referrer and friend have similar names.")),
    "disposable_email": (0.6, _("The friend's e-mail is on a disposable (throw-away) domain.")),
    "blocklisted": (1.0, _("The friend matches the project's block list.")),
    "flagged_signal": (1.0, _("The friend shares a device, card, IP or contact with a fraudster.")),
    "referrer_flagged": (1.0, _("The referrer is marked as a fraudster.")),
    "high_refund_rate": (0.5, _("Many of the referrer's referred orders were refunded.")),
    "paid_ad_traffic": (0.5, _("The friend arrived through a paid ad, not a personal share.")),
    "banned_referrer": (1.0, _("The click came from a site banned for this campaign.")),
    "velocity_ip": (0.6, _("Too many customers from one IP address within the hour.")),
    "velocity_device": (0.7, _("Too many customers from one device within the hour.")),
    "velocity_referrer": (0.5, _("The referrer brought too many friends within the hour.")),
    "fast_conversion": (0.4, _("The order followed the click suspiciously fast.")),
    "conversion_spike": (0.5, _("The referrer's conversion is far above the campaign's.")),
}
