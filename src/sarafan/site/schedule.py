"""Periodic tasks, enqueued by every `sarafan worker` on a fixed interval.

Each periodic task is an idempotent sweep, so several workers enqueueing it is harmless.
"""

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger("sarafan.schedule")
DAY = 24 * 60 * 60.0


def periodic_tasks() -> list[tuple[float, Callable[[], object]]]:
    from sarafan.analytics.tasks import rollup_analytics
    from sarafan.core.tasks import ensure_partitions, fail_stalled_tasks, purge_rate_counters
    from sarafan.events.tasks import dispatch_events, purge_events
    from sarafan.moderation.tasks import apply_review_deadlines, run_stop_rules
    from sarafan.rewards.tasks import (
        expire_certificates,
        recover_deliveries,
        release_due_rewards,
        resume_waiting_rewards,
        send_expiry_reminders,
        sync_issued_externally,
    )

    return [
        # Events whose on-commit dispatch was lost, or whose handlers wait for a retry.
        (30.0, dispatch_events.enqueue),
        (60.0, release_due_rewards.enqueue),
        # Issuer retries that are due, choices past their deadline, pools refilled.
        (30.0, resume_waiting_rewards.enqueue),
        # Certificate e-mails a crash interrupted or lost, past SARAFAN_DELIVERY_GRACE_SECONDS.
        (5 * 60.0, recover_deliveries.enqueue),
        # Task rows a dead worker left running (their work is redone by the sweeps).
        (5 * 60.0, fail_stalled_tasks.enqueue),
        (15 * 60.0, expire_certificates.enqueue),
        (60 * 60.0, send_expiry_reminders.enqueue),
        # Certificates redeemed, expired or cancelled at external issuers.
        (60 * 60.0, sync_issued_externally.enqueue),
        # Stop-rules over many events (velocity, conversion spikes, budget burn).
        (5 * 60.0, run_stop_rules.enqueue),
        (60 * 60.0, apply_review_deadlines.enqueue),
        # How stale a rolled-up day can be after a late or changed row.
        (15 * 60.0, rollup_analytics.enqueue),
        (DAY, ensure_partitions.enqueue),
        (60 * 60.0, purge_rate_counters.enqueue),
        (DAY, purge_events.enqueue),
    ]


def run_scheduler(stop: threading.Event, *, tick: float = 1.0) -> None:
    schedule = periodic_tasks()
    last_run = [0.0] * len(schedule)
    elapsed = 0.0
    while not stop.is_set():
        for index, (every, enqueue) in enumerate(schedule):
            if last_run[index] == 0.0 or elapsed - last_run[index] >= every:
                try:
                    enqueue()
                except Exception:
                    logger.exception("could not enqueue a periodic task")
                last_run[index] = elapsed or tick
        stop.wait(tick)
        elapsed += tick
