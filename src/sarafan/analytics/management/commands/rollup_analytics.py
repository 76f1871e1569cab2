"""`sarafan manage rollup_analytics [--days N]`: rebuild the analytics rollups from raw."""

from argparse import ArgumentParser
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sarafan.analytics.services import rollup_days


class Command(BaseCommand):
    help = (
        "Recompute the analytics daily rollups from the raw tables: every day of every "
        "project, or with --days N the last N days before today (and any day not rolled "
        "up yet). Safe to run at any time, also while the worker rolls up."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--days", type=int, help="only the last N days before today")

    def handle(self, *args: Any, days: int | None = None, **options: Any) -> None:
        if days is not None and days < 1:
            raise CommandError("--days must be 1 or more.")
        since = date.min
        if days is not None:
            today = timezone.localdate(timezone=timezone.get_default_timezone())
            since = today - timedelta(days=days)
        count = rollup_days(since=since)
        self.stdout.write(f"Rolled up {count} project-days.")
