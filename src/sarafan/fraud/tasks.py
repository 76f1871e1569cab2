"""Anti-fraud background tasks.

The stop-rule scan and the review deadlines are moderation's tasks now
(sarafan.moderation.tasks). Task rows queued before the upgrade name them by their old path,
sarafan.fraud.tasks.<name>; these names keep those rows running.
"""

from sarafan.moderation.tasks import apply_review_deadlines, run_stop_rules

__all__ = ["apply_review_deadlines", "run_stop_rules"]
