"""Reward brands and pools of pre-bought certificate codes: CSV upload and allocation.

A code is uploaded once per project (a keyed hash of it is unique), stored encrypted with
its PIN, and handed out exactly once by `allocate_code`, however many workers ask at once.
Full codes and PINs never appear in logs, errors or upload reports.
"""

import csv
import io
import logging
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypedDict

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from sarafan.core.crypto import encrypt
from sarafan.core.errors import Conflict, InvalidRequest
from sarafan.core.hashing import keyed_hash
from sarafan.core.ids import new_public_id
from sarafan.core.money import DEFAULT_CURRENCY, is_currency_code, is_plain_decimal, quantize
from sarafan.core.schemas import EARLIEST, LATEST
from sarafan.core.validation import refuse_control_characters
from sarafan.projects.models import Project

from . import announce, queue
from .errors import RewardError
from .models import (
    Brand,
    CertificatePool,
    PoolCode,
    PoolCodeStatus,
    Reward,
    RewardStatus,
    Waiting,
)

logger = logging.getLogger("sarafan.rewards.pools")

COLUMNS = ("code", "pin", "nominal", "expiry")
MAX_ROWS = 100_000
MAX_REPORTED_ERRORS = 1000
MAX_CODE_LENGTH = 128
MAX_PIN_LENGTH = 64
BATCH_SIZE = 1000
# SQLite path of allocate_code: each retry means another writer took the candidate, so a
# long run of misses means heavy contention, reported rather than spun on.
ALLOCATION_ATTEMPTS = 50
HASH_PURPOSE = "pool_code"


def code_hash(code: str) -> str:
    return keyed_hash(code, purpose=HASH_PURPOSE)


# -- brands and pools ----------------------------------------------------------------------


def create_brand(
    *,
    project: Project,
    livemode: bool,
    name: str,
    logo_url: str = "",
    terms: str = "",
    currency: str = "RUB",
) -> Brand:
    """A brand of reward certificates; the logo, if any, is an http(s) URL."""
    name = name.strip()
    if not name:
        raise InvalidRequest("A brand needs a name.", param="name")
    refuse_control_characters(logo_url, param="logo_url")
    if logo_url and not logo_url.lower().startswith(("http://", "https://")):
        raise InvalidRequest("logo_url must be an http(s) URL.", param="logo_url")
    if not is_currency_code(currency):
        raise InvalidRequest("currency must be an ISO 4217 code such as RUB.", param="currency")
    return Brand.objects.create(
        project=project,
        livemode=livemode,
        name=name,
        logo_url=logo_url,
        terms=terms,
        currency=currency,
    )


def create_pool(
    *,
    brand: Brand,
    denomination: Decimal,
    currency: str | None = None,
    low_stock_threshold: int = 50,
) -> CertificatePool:
    """A pool of one brand's codes of one denomination, in the brand's currency."""
    if denomination <= 0 or quantize(denomination) != denomination:
        raise InvalidRequest(
            "denomination must be a positive amount with at most two decimal places.",
            param="denomination",
        )
    if currency is not None and currency != brand.currency:
        raise InvalidRequest(
            f"The brand's certificates are in {brand.currency}, not {currency}.",
            param="currency",
        )
    if low_stock_threshold < 0:
        raise InvalidRequest("low_stock_threshold cannot be negative.", param="low_stock_threshold")
    return CertificatePool.objects.create(
        project=brand.project,
        livemode=brand.livemode,
        brand=brand,
        denomination=denomination,
        currency=brand.currency,
        low_stock_threshold=low_stock_threshold,
    )


# -- stock ---------------------------------------------------------------------------------


class Stock(TypedDict):
    available: int
    allocated: int
    expired: int


def _unexpired(now: datetime) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def with_stock(pools: QuerySet[CertificatePool]) -> QuerySet[CertificatePool]:
    """Pools annotated with stock_available, stock_allocated and stock_expired (one query)."""
    now = timezone.now()
    available = Q(codes__status=PoolCodeStatus.AVAILABLE)
    return pools.annotate(
        stock_available=Count(
            "codes",
            filter=available & (Q(codes__expires_at__isnull=True) | Q(codes__expires_at__gt=now)),
        ),
        stock_allocated=Count("codes", filter=Q(codes__status=PoolCodeStatus.ALLOCATED)),
        stock_expired=Count("codes", filter=available & Q(codes__expires_at__lte=now)),
    )


def stock(pool: CertificatePool) -> Stock:
    """Codes left to hand out (unexpired), handed out, and left unused past their expiry."""
    counted = with_stock(CertificatePool.objects.filter(pk=pool.pk)).get()
    return {
        "available": counted.stock_available,  # type: ignore[attr-defined]  # annotation
        "allocated": counted.stock_allocated,  # type: ignore[attr-defined]  # annotation
        "expired": counted.stock_expired,  # type: ignore[attr-defined]  # annotation
    }


# -- upload --------------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    code: str
    pin: str
    hash: str
    nominal: Decimal
    expires_at: datetime | None


@dataclass
class _Report:
    rows: int = 0
    accepted: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0

    def reject(self, line: int, code: str, error: str, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(
                {"row": line, "code_hint": code_hint(code), "error": error, "message": message}
            )


def code_hint(code: str) -> str:
    """At most the last four characters, and never more than half of the code."""
    visible = min(4, len(code) // 2)
    return "…" + code[-visible:] if visible else "…"


def _header(reader: Any) -> dict[str, int]:
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidRequest(
            "The CSV is empty; it needs the header row code,pin,nominal,expiry.",
            code=RewardError.CSV_HEADER,
            param="csv",
        ) from None
    names = [name.strip().lower().lstrip("\ufeff") for name in header]
    if sorted(names) != sorted(COLUMNS):
        raise InvalidRequest(
            f"The CSV header must be code,pin,nominal,expiry; got {','.join(names)[:200]}.",
            code=RewardError.CSV_HEADER,
            param="csv",
        )
    return {name: names.index(name) for name in COLUMNS}


def _expiry(value: str) -> datetime | None:
    """An ISO date (valid through that day) or datetime; naive times are in TIME_ZONE."""
    if not value:
        return None
    zone = timezone.get_current_timezone()
    if len(value) == 10:
        moment = datetime.combine(date.fromisoformat(value), time.max, tzinfo=zone)
    else:
        moment = datetime.fromisoformat(value)
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, zone)
    # 9999-12-31 with a negative offset cannot even be stored (or read back) as UTC.
    if not EARLIEST <= moment < LATEST:
        raise ValueError(value)
    return moment


def _parse_row(
    values: list[str], columns: dict[str, int], line: int, pool: CertificatePool, now: datetime
) -> _Row | tuple[str, str, str]:
    """A valid row, or (code, error, message)."""
    if len(values) != len(COLUMNS):
        code = values[columns["code"]].strip() if len(values) > columns["code"] else ""
        return code, "malformed_row", f"Expected 4 columns, got {len(values)}."
    code, pin, nominal_text, expiry_text = (values[columns[name]].strip() for name in COLUMNS)
    if not 1 <= len(code) <= MAX_CODE_LENGTH:
        return code, "invalid_code", f"The code must be 1 to {MAX_CODE_LENGTH} characters."
    if len(pin) > MAX_PIN_LENGTH:
        return code, "invalid_pin", f"The PIN must be at most {MAX_PIN_LENGTH} characters."
    try:
        if not is_plain_decimal(nominal_text):
            raise InvalidOperation
        nominal = Decimal(nominal_text)
    except InvalidOperation:
        return code, "invalid_nominal", "The nominal is not a number in ASCII digits."
    if not nominal.is_finite() or nominal != pool.denomination:
        return (
            code,
            "wrong_nominal",
            f"The nominal must be the pool's denomination {pool.denomination}.",
        )
    try:
        expires_at = _expiry(expiry_text)
    except ValueError:
        return (
            code,
            "invalid_expiry",
            "The expiry is not an ISO date or date-time from 2000 to before 2100.",
        )
    if expires_at is not None and expires_at <= now:
        return code, "expired", "The expiry is in the past."
    return _Row(line, code, pin, code_hash(code), pool.denomination, expires_at)


def upload_codes(*, pool: CertificatePool, csv_text: str, dry_run: bool) -> dict[str, Any]:
    """Checks every row of a code,pin,nominal,expiry CSV and, unless a dry run, stores the
    valid ones encrypted in one transaction; returns the report of accepted and rejected rows.
    """
    now = timezone.now()
    reader = csv.reader(io.StringIO(csv_text))
    columns = _header(reader)
    report = _Report()
    valid: list[_Row] = []
    first_line: dict[str, int] = {}
    try:
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            report.rows += 1
            if report.rows > MAX_ROWS:
                raise InvalidRequest(
                    f"At most {MAX_ROWS} codes per upload.",
                    code=RewardError.TOO_MANY_ROWS,
                    param="csv",
                )
            parsed = _parse_row(values, columns, reader.line_num, pool, now)
            if not isinstance(parsed, _Row):
                report.reject(reader.line_num, *parsed)
            elif parsed.hash in first_line:
                report.reject(
                    parsed.line,
                    parsed.code,
                    "duplicate_in_file",
                    f"The same code is on line {first_line[parsed.hash]}.",
                )
            else:
                first_line[parsed.hash] = parsed.line
                valid.append(parsed)
    except csv.Error as exc:
        raise InvalidRequest(
            f"The CSV cannot be read at line {reader.line_num}: {exc}.",
            code=RewardError.CSV_MALFORMED,
            param="csv",
        ) from None

    existing = _existing_hashes(pool, [row.hash for row in valid])
    fresh = []
    for row in valid:
        if row.hash in existing:
            report.reject(row.line, row.code, "duplicate_code", "This code was already uploaded.")
        else:
            fresh.append(row)

    batch = None
    if dry_run:
        report.accepted = len(fresh)
    else:
        batch = new_public_id("upl")
        stored = _store(pool, fresh, batch)
        for row in fresh:
            # Uploaded by someone else between our check and our insert.
            if row.hash not in stored:
                report.reject(
                    row.line, row.code, "duplicate_code", "This code was already uploaded."
                )
        report.accepted = len(stored)
        logger.info(
            "pool %s: upload %s stored %d codes, rejected %d rows",
            pool.public_id,
            batch,
            report.accepted,
            report.rejected,
        )
    report.errors.sort(key=lambda error: error["row"])
    return {
        "rows": report.rows,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "errors": report.errors,
        "dry_run": dry_run,
        "batch": batch,
    }


def resume_waiting_for(pool: CertificatePool) -> None:
    """After codes arrive: let the worker issue the rewards that waited for them."""
    waiting = Reward.objects.filter(
        project_id=pool.project_id,
        livemode=pool.livemode,
        status=RewardStatus.APPROVED,
        waiting=Waiting.POOL_EMPTY,
    )
    if waiting.exists():
        queue.on_commit("resume_waiting_rewards")


def _existing_hashes(pool: CertificatePool, hashes: list[str]) -> set[str]:
    found: set[str] = set()
    codes = PoolCode.objects.filter(project_id=pool.project_id, livemode=pool.livemode)
    for start in range(0, len(hashes), BATCH_SIZE):
        chunk = hashes[start : start + BATCH_SIZE]
        found.update(codes.filter(code_hash__in=chunk).values_list("code_hash", flat=True))
    return found


def _store(pool: CertificatePool, rows: list[_Row], batch: str) -> set[str]:
    """Inserts the rows, skipping any code uploaded concurrently; returns the stored hashes."""
    with transaction.atomic():
        PoolCode.objects.bulk_create(
            (
                PoolCode(
                    project_id=pool.project_id,
                    livemode=pool.livemode,
                    pool=pool,
                    code_encrypted=encrypt(row.code),
                    pin_encrypted=encrypt(row.pin) if row.pin else "",
                    code_hash=row.hash,
                    nominal=row.nominal,
                    expires_at=row.expires_at,
                    batch=batch,
                )
                for row in rows
            ),
            batch_size=BATCH_SIZE,
            # The unique (project, livemode, code_hash) decides between concurrent uploads.
            ignore_conflicts=True,
        )
        stored = set(
            PoolCode.objects.filter(pool=pool, batch=batch).values_list("code_hash", flat=True)
        )
        announce.pool_refilled(pool, len(stored))
        # A refill re-arms the low-stock alert.
        if stored and stock(pool)["available"] > pool.low_stock_threshold:
            CertificatePool.objects.filter(pk=pool.pk, low_stock_alerted_at__isnull=False).update(
                low_stock_alerted_at=None
            )
            pool.low_stock_alerted_at = None
    return stored


# -- allocation ----------------------------------------------------------------------------


def allocate_code(*, pool: CertificatePool) -> PoolCode | None:
    """Hands out the pool's oldest unexpired available code, exactly once even when many
    workers ask at the same moment; None when the pool is empty.
    """
    now = timezone.now()
    available = PoolCode.objects.filter(
        project_id=pool.project_id,
        livemode=pool.livemode,
        pool=pool,
        status=PoolCodeStatus.AVAILABLE,
    ).filter(_unexpired(now))
    if connection.features.has_select_for_update_skip_locked:
        # PostgreSQL: each worker locks the first row no other worker holds, so concurrent
        # allocations take different codes without waiting on each other.
        with transaction.atomic():
            code = available.select_for_update(skip_locked=True).order_by("id").first()
            if code is None:
                return None
            code.status = PoolCodeStatus.ALLOCATED
            code.allocated_at = now
            code.save(update_fields=["status", "allocated_at"])
    else:
        code = _allocate_by_conditional_update(available, now)
        if code is None:
            return None
    _alert_if_low(pool, now)
    return code


def _allocate_by_conditional_update(
    available: QuerySet[PoolCode], now: datetime
) -> PoolCode | None:
    # SQLite has no row locks (nor SKIP LOCKED) and runs one writer at a time. Two workers
    # may read the same first id; the UPDATE … WHERE status = 'available' lets only one of
    # them flip it (rowcount 1) and the other sees rowcount 0 and picks again. Each miss
    # means someone else got a code, so the retries are bounded.
    for _ in range(ALLOCATION_ATTEMPTS):
        candidate = available.order_by("id").values_list("pk", flat=True).first()
        if candidate is None:
            return None
        taken = PoolCode.objects.filter(pk=candidate, status=PoolCodeStatus.AVAILABLE).update(
            status=PoolCodeStatus.ALLOCATED, allocated_at=now
        )
        if taken:
            return PoolCode.objects.get(pk=candidate)
    raise Conflict(RewardError.POOL_BUSY)


def _alert_if_low(pool: CertificatePool, now: datetime) -> None:
    """Marks the pool low on stock once, when what is left falls to its threshold."""
    if pool.low_stock_alerted_at is not None:
        return
    left = PoolCode.objects.filter(pool=pool, status=PoolCodeStatus.AVAILABLE).filter(
        _unexpired(now)
    )
    if left.order_by("id")[pool.low_stock_threshold : pool.low_stock_threshold + 1].exists():
        return
    # The conditional UPDATE makes one worker of many raise the alert.
    marked = CertificatePool.objects.filter(pk=pool.pk, low_stock_alerted_at__isnull=True).update(
        low_stock_alerted_at=now
    )
    pool.low_stock_alerted_at = now
    if marked:
        from sarafan.alerts.services import raise_alert

        # Once per refill: the mark above is cleared only when an upload lifts the stock.
        raise_alert(
            project_id=pool.project_id,
            livemode=pool.livemode,
            kind="pool.low_stock",
            subject=pool.public_id,
            message=(
                f"Pool {pool} is low on codes: {left.count()} left "
                f"(threshold {pool.low_stock_threshold})."
            ),
            data={"pool": pool.public_id, "threshold": pool.low_stock_threshold},
            window=timedelta(0),
        )
        logger.warning(
            "pool %s (%s %s) is low on stock: %d codes left, threshold %d",
            pool.public_id,
            pool.denomination,
            pool.currency,
            left.count(),
            pool.low_stock_threshold,
        )


def create_demo_pool(*, project: Project) -> CertificatePool:
    """A brand with a pool of made-up codes in test mode, so the console has one to show."""
    brand = create_brand(
        project=project,
        livemode=False,
        name="Demo books",
        terms="Valid in any Demo books shop and online. Not exchangeable for cash.",
        currency=DEFAULT_CURRENCY,
    )
    pool = create_pool(brand=brand, denomination=Decimal("500.00"), low_stock_threshold=5)
    expiry = (timezone.localdate() + timedelta(days=365)).isoformat()
    rows = "".join(
        f"DEMO-{secrets.token_hex(4).upper()},{secrets.randbelow(10_000):04d},500.00,{expiry}\n"
        for _ in range(20)
    )
    upload_codes(pool=pool, csv_text="code,pin,nominal,expiry\n" + rows, dry_run=False)
    return pool
