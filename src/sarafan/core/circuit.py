"""A circuit breaker kept on the row of what is called (an issuer; a webhook endpoint).

After CIRCUIT_THRESHOLD unavailable answers in a row, calls stop for a pause (CircuitOpen)
that doubles with each further failure, so a failing receiver is not hammered; when the
pause is over, one call is let through as a probe, and its outcome closes the circuit or
reopens it for longer. The bookkeeping is a few short UPDATEs on the row, so workers in
many processes share one circuit. The row's model inherits core.models.Circuit; a client
makes each call through `call_through`.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Circuit

logger = logging.getLogger("sarafan.circuit")

CIRCUIT_THRESHOLD = 5
CIRCUIT_FIRST_PAUSE = timedelta(seconds=30)
CIRCUIT_MAX_PAUSE = timedelta(minutes=10)
# How long a half-open circuit stays reserved for its probe beyond the probe's timeout; a
# probe whose process died frees the circuit for the next one after this.
PROBE_MARGIN = timedelta(seconds=5)
CIRCUIT_FIELDS = ["consecutive_failures", "circuit_open_until", "last_error", "last_success_at"]
MAX_ERROR_LENGTH = 500


class CircuitState(models.TextChoices):
    CLOSED = "closed", _("closed: calls go through")
    OPEN = "open", _("open: calls are paused")
    HALF_OPEN = "half_open", _("half-open: the next call tests the provider")


class CircuitOpen(Exception):
    """Calls are paused until `until` after failures in a row."""

    def __init__(self, until: datetime, failures: int) -> None:
        super().__init__(
            f"Calls are paused until {until.isoformat()} after {failures} failures in a row."
        )
        self.until = until


def circuit_state(row: Circuit, *, now: datetime | None = None) -> CircuitState:
    until = row.circuit_open_until
    if until is None:
        return CircuitState.CLOSED
    return CircuitState.OPEN if until > (now or timezone.now()) else CircuitState.HALF_OPEN


def circuit_pause(failures: int) -> timedelta:
    """How long calls stop after `failures` in a row (at least CIRCUIT_THRESHOLD)."""
    doublings = min(max(failures - CIRCUIT_THRESHOLD, 0), 20)
    return min(CIRCUIT_FIRST_PAUSE * 2**doublings, CIRCUIT_MAX_PAUSE)


def _same(row: Circuit) -> models.QuerySet[Circuit]:
    return type(row)._default_manager.filter(pk=row.pk)


def enter(row: Circuit, *, call_timeout: timedelta) -> None:
    """Raises CircuitOpen while calls are paused; when the pause is over, lets one caller
    through as the probe (the one whose UPDATE moves the pause on) and keeps the rest out.
    """
    row.refresh_from_db(fields=CIRCUIT_FIELDS)
    until = row.circuit_open_until
    if until is None:
        return
    now = timezone.now()
    if until > now:
        raise CircuitOpen(until, row.consecutive_failures)
    probe_until = now + call_timeout + PROBE_MARGIN
    if _same(row).filter(circuit_open_until=until).update(circuit_open_until=probe_until):
        row.circuit_open_until = probe_until
        return
    row.refresh_from_db(fields=CIRCUIT_FIELDS)
    if row.circuit_open_until is not None:
        raise CircuitOpen(row.circuit_open_until, row.consecutive_failures)


def record_success(row: Circuit) -> None:
    now = timezone.now()
    _same(row).update(consecutive_failures=0, circuit_open_until=None, last_success_at=now)
    row.consecutive_failures, row.circuit_open_until, row.last_success_at = 0, None, now


def record_refusal(row: Circuit, error: str) -> None:
    """The receiver answered, so it is up: the run of failures is over."""
    error = error[:MAX_ERROR_LENGTH]
    _same(row).update(consecutive_failures=0, circuit_open_until=None, last_error=error)
    row.consecutive_failures, row.circuit_open_until, row.last_error = 0, None, error


def record_failure(row: Circuit, error: str) -> None:
    error = error[:MAX_ERROR_LENGTH]
    same = _same(row)
    same.update(consecutive_failures=F("consecutive_failures") + 1, last_error=error)
    failures = same.values_list("consecutive_failures", flat=True).get()
    row.consecutive_failures, row.last_error = failures, error
    if failures >= CIRCUIT_THRESHOLD:
        until = timezone.now() + circuit_pause(failures)
        # Conditional: a success recorded meanwhile (failures back to 0) keeps it closed.
        if same.filter(consecutive_failures=failures).update(circuit_open_until=until):
            row.circuit_open_until = until
            logger.warning(
                "%s: %d failures in a row, calls paused until %s", row, failures, until.isoformat()
            )


def call_through[T](
    row: Circuit,
    call: Callable[[], T],
    *,
    call_timeout: timedelta,
    unavailable: type[Exception],
    refused: type[Exception],
    describe: Callable[[Exception], str] = str,
) -> T:
    """Make `call` through the row's circuit; CircuitOpen while calls are paused.

    An `unavailable` error is a failure in a row, a `refused` one ends the run (the receiver
    answered), a result is a success. `describe` gives the text kept as the row's last
    error; the error itself goes on to the caller.
    """
    enter(row, call_timeout=call_timeout)
    try:
        result = call()
    except unavailable as exc:
        record_failure(row, describe(exc))
        raise
    except refused as exc:
        record_refusal(row, describe(exc))
        raise
    record_success(row)
    return result
