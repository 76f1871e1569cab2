"""Builders shared by the participants and links tests."""

from sarafan.campaigns.models import Campaign
from sarafan.projects.models import Project

LANDING = "https://shop.example/welcome?x=1"


def make_campaign(project: Project, *, livemode: bool = False, **fields: object) -> Campaign:
    """A campaign made directly: these tests do not depend on the campaigns API."""
    values: dict[str, object] = {
        "name": "C",
        "landing_url": LANDING,
        "allowed_redirect_hosts": ["shop.example"],
        **fields,
    }
    return Campaign.objects.create(project=project, livemode=livemode, **values)
