"""The demo project `sarafan up` makes on first run, and the credentials it prints each run."""

import json
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from sarafan.campaigns.services import create_demo_campaign
from sarafan.core.files import write_private
from sarafan.projects.models import Project
from sarafan.projects.services import create_project
from sarafan.rewards.pools import create_demo_pool
from sarafan.rewards.sources import CAMPAIGN_SOURCES

DEMO_FILE = "demo.json"


def _demo_path() -> Any:
    return settings.DATA_DIR / DEMO_FILE


@transaction.atomic
def ensure_demo() -> dict[str, str]:
    """Create the demo project, campaign and admin once; later runs read what was saved."""
    path = _demo_path()
    if path.exists():
        saved: dict[str, str] = json.loads(path.read_text())
        if Project.objects.filter(public_id=saved.get("project")).exists():
            return saved
    project, keys = create_project(name="Demo shop")
    campaign = create_demo_campaign(project=project, sources=CAMPAIGN_SOURCES)
    create_demo_pool(project=project)
    password = secrets.token_urlsafe(12)
    user_model = get_user_model()
    user = user_model.objects.filter(username="admin").first()
    if user is None:
        user_model.objects.create_superuser("admin", "admin@example.com", password)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    saved = {
        "project": project.public_id,
        "campaign": campaign.public_id,
        "username": "admin",
        "password": password,
        **keys,
    }
    write_private(path, json.dumps(saved, indent=2))
    return saved
