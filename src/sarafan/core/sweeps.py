"""Periodic work that walks every project: one project's failure is that project's alone.

A sweep (the analytics rollup, the stop-rules, the review deadlines) does each project's
part inside `isolated(...)`: if that part fails, the failure is logged under the project's
public id, what the part wrote in its unfinished transaction is rolled back, and the sweep
goes on with the next project. Once a single stored date made the rollup fail on every run,
for every project, because one task walked them all.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

logger = logging.getLogger("sarafan.sweeps")


@contextmanager
def isolated(sweep: str, *, project: str) -> Iterator[None]:
    """Run one project's part of `sweep` (`project`: its public id); a failure is logged
    with its traceback (secrets masked like every sarafan log), never raised.

    Inside a caller's transaction the part runs in a savepoint, so that the sweep can still
    query after a database error; outside one (as in the worker) the part's own
    transactions stay as they are, and a long part keeps committing as it goes.
    """
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                yield
        else:
            yield
    except Exception:
        logger.exception("%s failed for project %s; the other projects go on", sweep, project)
