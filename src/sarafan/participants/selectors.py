"""Participant reads shared by the API, the events engine and the portal."""

from sarafan.core.errors import NotFound
from sarafan.projects.models import Project

from .models import Participant


def get_participant(*, project: Project, livemode: bool, external_id: str) -> Participant | None:
    """The participant a key of this project and mode may see; erased ones keep no external_id."""
    return Participant.objects.filter(
        project=project, livemode=livemode, external_id=external_id
    ).first()


def find_participant(
    *, project: Project, livemode: bool, external_id: str, param: str
) -> Participant:
    """The participant a caller named, or NotFound naming the parameter that named them."""
    participant = get_participant(project=project, livemode=livemode, external_id=external_id)
    if participant is None:
        raise NotFound(f"No participant '{external_id}'.", param=param)
    return participant
