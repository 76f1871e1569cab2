"""A new project gets the default stop-rules, whichever path creates it: fraud writes them
on `project_created`, inside the creating transaction."""

import argparse
import json
from decimal import Decimal

import pytest
from django.db import transaction

from sarafan.cli import cmd_project_create
from sarafan.fraud.models import StopRule
from sarafan.fraud.stoprules import DEFAULT_RULES
from sarafan.projects.models import Project
from sarafan.projects.services import create_project
from sarafan.site.demo import ensure_demo

pytestmark = pytest.mark.django_db

DEFAULTS = sorted(
    (livemode, kind, Decimal(threshold), window, list(actions))
    for livemode in (False, True)
    for kind, threshold, window, actions in DEFAULT_RULES
)


def _rules(project: Project) -> list[tuple[bool, str, Decimal, int, list[str]]]:
    rules = StopRule.objects.filter(project=project)
    return sorted(
        (rule.livemode, rule.kind, rule.threshold, rule.window_minutes, rule.actions)
        for rule in rules
    )


def test_create_project_gives_the_default_stop_rules_in_both_modes():
    project, _keys = create_project(name="Shop")
    assert _rules(project) == DEFAULTS
    assert all(rule.enabled and rule.campaign_id is None for rule in StopRule.objects.all())


def test_the_rules_are_written_in_the_projects_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        create_project(name="Gone")
        assert StopRule.objects.count() == len(DEFAULTS)
        raise RuntimeError
    assert not Project.objects.filter(name="Gone").exists()
    assert StopRule.objects.count() == 0


def test_the_cli_and_the_demo_get_them_too(capsys, settings, tmp_path):
    cmd_project_create(argparse.Namespace(name="From the CLI", json=True))
    made = json.loads(capsys.readouterr().out)
    assert _rules(Project.objects.get(public_id=made["id"])) == DEFAULTS

    settings.DATA_DIR = tmp_path
    demo = ensure_demo()
    assert _rules(Project.objects.get(public_id=demo["project"])) == DEFAULTS


def test_the_fixture_project_has_them(project):
    assert _rules(project) == DEFAULTS
