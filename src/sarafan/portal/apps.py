from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The referrer's own page /p/<token> (an interface: composes links, referrals, rewards)."""

    name = "sarafan.portal"
    label = "portal"
