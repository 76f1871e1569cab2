"""Reward brands and pools: CSV upload with row checks, encryption at rest, the API, and
handing out each code exactly once."""

import copy
import logging
import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from sarafan.alerts.models import Alert
from sarafan.core.errors import InvalidRequest
from sarafan.rewards import pools
from sarafan.rewards.models import CertificatePool, PoolCode, PoolCodeStatus

HEADER = "code,pin,nominal,expiry\n"
FUTURE = (timezone.now() + timedelta(days=365)).date().isoformat()


def _csv(*rows: str) -> str:
    return HEADER + "".join(f"{row}\n" for row in rows)


def _codes(count: int, prefix: str = "GIFT") -> str:
    return _csv(*(f"{prefix}-{i:06d},{i:04d},500.00,{FUTURE}" for i in range(count)))


@pytest.fixture
def brand(project):
    return pools.create_brand(project=project, livemode=False, name="Ozon", currency="RUB")


@pytest.fixture
def pool(brand):
    return pools.create_pool(brand=brand, denomination=Decimal("500.00"), low_stock_threshold=2)


# -- upload --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("ABCDEFGH,1,500.00", "malformed_row"),
        (f",1,500.00,{FUTURE}", "invalid_code"),
        (f"{'X' * 129},1,500.00,{FUTURE}", "invalid_code"),
        (f"ABCDEFGH,{'9' * 65},500.00,{FUTURE}", "invalid_pin"),
        (f"ABCDEFGH,1,five hundred,{FUTURE}", "invalid_nominal"),
        (f"ABCDEFGH,1,５００,{FUTURE}", "invalid_nominal"),
        (f"ABCDEFGH,1,5_00,{FUTURE}", "invalid_nominal"),
        (f"ABCDEFGH,1,1000.00,{FUTURE}", "wrong_nominal"),
        ("ABCDEFGH,1,500.00,31.12.2030", "invalid_expiry"),
        ("ABCDEFGH,1,500.00,2020-01-01", "expired"),
        ("ABCDEFGH,1,500.00,2020-01-01T10:00:00+03:00", "expired"),
    ],
)
def test_each_bad_row_is_rejected_with_its_reason(pool, row, error):
    report = pools.upload_codes(
        pool=pool, csv_text=_csv(f"GOOD-0001,,500,{FUTURE}", row), dry_run=False
    )
    assert (report["rows"], report["accepted"], report["rejected"]) == (2, 1, 1)
    assert [(e["row"], e["error"]) for e in report["errors"]] == [(3, error)]
    assert "ABCDEFGH" not in str(report)


@pytest.mark.django_db
def test_good_rows_accept_dates_datetimes_empty_pin_and_expiry(pool):
    report = pools.upload_codes(
        pool=pool,
        csv_text=_csv(
            f"A-1,1111,500,{FUTURE}",
            f"A-2,,500.00,{FUTURE}T12:00:00+03:00",
            f"A-3,3333,500.0,{FUTURE}T12:00:00",
            "A-4,4444,500.00,",
        ),
        dry_run=False,
    )
    assert (report["accepted"], report["rejected"], report["errors"]) == (4, 0, [])
    assert report["batch"].startswith("upl_")
    assert PoolCode.objects.filter(pool=pool, expires_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_duplicates_in_the_file_and_against_stored_codes_are_rejected_per_row(pool, brand):
    first = pools.upload_codes(pool=pool, csv_text=_codes(3), dry_run=False)
    assert first["accepted"] == 3
    other_pool = pools.create_pool(brand=brand, denomination=Decimal("500.00"))
    again = pools.upload_codes(
        pool=other_pool,
        csv_text=_csv(
            f"GIFT-000001,1,500,{FUTURE}",
            f"NEW-00000001,1,500,{FUTURE}",
            f"NEW-00000001,2,500,{FUTURE}",
        ),
        dry_run=False,
    )
    assert (again["accepted"], again["rejected"]) == (1, 2)
    assert [(e["row"], e["error"]) for e in again["errors"]] == [
        (2, "duplicate_code"),
        (4, "duplicate_in_file"),
    ]
    assert again["errors"][0]["code_hint"] == "…0001"
    assert PoolCode.objects.count() == 4


@pytest.mark.django_db
def test_dry_run_reports_but_writes_nothing(pool):
    report = pools.upload_codes(
        pool=pool, csv_text=_codes(5) + f"BAD-0001,1,100,{FUTURE}\n", dry_run=True
    )
    assert report == {
        "rows": 6,
        "accepted": 5,
        "rejected": 1,
        "errors": [
            {
                "row": 7,
                "code_hint": "…0001",
                "error": "wrong_nominal",
                "message": "The nominal must be the pool's denomination 500.00.",
            }
        ],
        "dry_run": True,
        "batch": None,
    }
    assert not PoolCode.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text", ["", "code,pin,nominal\nA,1,500\n", "code;pin;nominal;expiry\n", "\n\n"]
)
def test_a_file_without_the_header_is_refused_whole(pool, text):
    with pytest.raises(InvalidRequest) as caught:
        pools.upload_codes(pool=pool, csv_text=text, dry_run=False)
    assert caught.value.code == "csv_header"


@pytest.mark.django_db
def test_header_columns_may_come_in_any_order_and_blank_lines_are_skipped(pool):
    report = pools.upload_codes(
        pool=pool, csv_text=f"\ufeffExpiry,Code,Nominal,PIN\n\n{FUTURE},Z-1,500,77\n", dry_run=False
    )
    assert (report["rows"], report["accepted"]) == (1, 1)
    code = PoolCode.objects.get()
    assert (code.code_value(), code.pin_value()) == ("Z-1", "77")


@pytest.mark.django_db
def test_codes_and_pins_are_stored_encrypted(pool):
    pools.upload_codes(
        pool=pool, csv_text=_csv(f"SECRETCODE-42,987654,500,{FUTURE}"), dry_run=False
    )
    row = PoolCode.objects.values().get()
    assert "SECRETCODE" not in str(row)
    assert "987654" not in str(row)
    code = PoolCode.objects.get()
    assert (code.code_value(), code.pin_value()) == ("SECRETCODE-42", "987654")
    assert code.code_hash == pools.code_hash("SECRETCODE-42")


def test_code_hint_never_shows_the_whole_code():
    assert pools.code_hint("GIFT-00001234") == "…1234"
    assert pools.code_hint("ABC") == "…C"
    assert pools.code_hint("A") == "…"
    assert pools.code_hint("") == "…"


@pytest.mark.django_db
def test_error_list_is_capped_but_rejected_counts_every_row(pool):
    report = pools.upload_codes(
        pool=pool, csv_text=_csv(*(f"C{i:05d},1,1,{FUTURE}" for i in range(1200))), dry_run=True
    )
    assert (report["rejected"], len(report["errors"])) == (1200, 1000)


# -- allocation ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_codes_are_handed_out_oldest_first_once_each_then_none(pool):
    pools.upload_codes(pool=pool, csv_text=_codes(5), dry_run=False)
    given = [pools.allocate_code(pool=pool) for _ in range(5)]
    assert [code.code_value() for code in given if code] == [f"GIFT-{i:06d}" for i in range(5)]
    assert all(code and code.status == PoolCodeStatus.ALLOCATED for code in given)
    assert pools.allocate_code(pool=pool) is None
    assert pools.stock(pool) == {"available": 0, "allocated": 5, "expired": 0}


@pytest.mark.django_db
def test_expired_codes_are_never_handed_out(pool):
    pools.upload_codes(pool=pool, csv_text=_codes(2), dry_run=False)
    PoolCode.objects.filter(code_hash=pools.code_hash("GIFT-000000")).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert pools.stock(pool) == {"available": 1, "allocated": 0, "expired": 1}
    code = pools.allocate_code(pool=pool)
    assert code is not None and code.code_value() == "GIFT-000001"
    assert pools.allocate_code(pool=pool) is None


@pytest.mark.django_db
def test_low_stock_is_flagged_once_and_a_refill_rearms_it(pool, caplog):
    pools.upload_codes(pool=pool, csv_text=_codes(4), dry_run=False)
    with caplog.at_level(logging.WARNING, logger="sarafan.rewards.pools"):
        pools.allocate_code(pool=pool)  # 3 left, threshold 2
        pool.refresh_from_db()
        assert pool.low_stock_alerted_at is None
        pools.allocate_code(pool=pool)  # 2 left
        pool.refresh_from_db()
        alerted_at = pool.low_stock_alerted_at
        assert alerted_at is not None
        pools.allocate_code(pool=CertificatePool.objects.get(pk=pool.pk))
        pool.refresh_from_db()
        assert pool.low_stock_alerted_at == alerted_at
    warnings = [r for r in caplog.records if "low on stock" in r.getMessage()]
    assert len(warnings) == 1
    assert "GIFT" not in caplog.text
    alert = Alert.objects.get(kind="pool.low_stock")
    assert alert.subject == pool.public_id
    assert "2 left" in alert.message

    pools.upload_codes(pool=pool, csv_text=_codes(5, prefix="MORE"), dry_run=False)
    pool.refresh_from_db()
    assert pool.low_stock_alerted_at is None
    # Re-armed: running low again after the refill (6 left, threshold 2) raises a second alert.
    for _ in range(3):
        pools.allocate_code(pool=CertificatePool.objects.get(pk=pool.pk))
    assert Alert.objects.filter(kind="pool.low_stock").count() == 1
    pools.allocate_code(pool=CertificatePool.objects.get(pk=pool.pk))
    assert Alert.objects.filter(kind="pool.low_stock").count() == 2


THREADS = 20


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("on_postgres")
def test_concurrent_allocations_hand_out_each_code_once_and_lose_none(pool):
    pools.upload_codes(pool=pool, csv_text=_codes(50), dry_run=False)
    barrier = threading.Barrier(THREADS)
    results: list[list[int | None]] = [[] for _ in range(THREADS)]
    failures: list[BaseException] = []

    def run(index: int) -> None:
        # The barrier comes before any query: the process's connection pool (8) is smaller
        # than the number of threads, so threads may wait for a connection, not hold one.
        mine = copy.copy(pool)
        try:
            barrier.wait()
            for _ in range(3):
                code = pools.allocate_code(pool=mine)
                results[index].append(code.pk if code else None)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    given = Counter(pk for result in results for pk in result)
    nones = given.pop(None, 0)
    assert nones == THREADS * 3 - 50
    assert len(given) == 50 and set(given.values()) == {1}
    allocated = set(
        PoolCode.objects.filter(status=PoolCodeStatus.ALLOCATED).values_list("pk", flat=True)
    )
    assert allocated == set(given) == set(PoolCode.objects.values_list("pk", flat=True))
    assert CertificatePool.objects.get(pk=pool.pk).low_stock_alerted_at is not None


# -- API -----------------------------------------------------------------------------------


def _brand(api, **fields):
    body = {"name": "Золотое яблоко", "logo_url": "https://cdn.example/ga.png", **fields}
    response = api.post("brands", body)
    assert response.status_code == 201, response.content
    return response.json()


def _pool(api, brand_id, **fields):
    response = api.post("pools", {"brand": brand_id, "denomination": "1000.00", **fields})
    assert response.status_code == 201, response.content
    return response.json()


def test_brand_is_created_listed_and_read(api):
    brand = _brand(api, terms="Действует во всех магазинах")
    assert brand["id"].startswith("brd_")
    assert {k: brand[k] for k in ("object", "name", "logo_url", "currency", "livemode")} == {
        "object": "brand",
        "name": "Золотое яблоко",
        "logo_url": "https://cdn.example/ga.png",
        "currency": "RUB",
        "livemode": False,
    }
    assert api.get(f"brands/{brand['id']}").json() == brand
    listed = api.get("brands").json()
    assert listed["data"] == [brand] and listed["has_more"] is False


def test_bad_brand_input_is_422_in_the_error_shape(api):
    for body in (
        {"name": ""},
        {"name": "X", "currency": "rub"},
        {"name": "X", "currency": "ÄÖÜ"},
        {"name": "X", "currency": "ＲＵＢ"},
        {"name": "X", "logo_url": "javascript:alert(1)"},
        {"name": "X", "colour": "red"},
    ):
        response = api.post("brands", body)
        assert response.status_code == 422, body
        assert response.json()["error"]["type"] == "invalid_request"


def test_unknown_brand_or_pool_is_404_and_other_mode_is_invisible(api, live_api):
    brand = _brand(api)
    pool = _pool(api, brand["id"])
    for path in (f"brands/{brand['id']}", f"pools/{pool['id']}", "pools/pol_nope"):
        response = live_api.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found"
    missing = live_api.post("pools", {"brand": brand["id"], "denomination": "1000.00"})
    assert missing.status_code == 404
    assert missing.json()["error"]["param"] == "brand"
    assert live_api.get("pools").json()["data"] == []


def test_pool_shows_stock_and_upload_through_the_api(api):
    brand = _brand(api)
    pool = _pool(api, brand["id"], low_stock_threshold=1)
    assert pool["id"].startswith("pol_")
    assert pool["stock"] == {"available": 0, "allocated": 0, "expired": 0}
    assert (pool["denomination"], pool["currency"], pool["low_stock"]) == ("1000.00", "RUB", True)

    csv_text = _csv(f"AA-0001,1,1000,{FUTURE}", f"AA-0002,,1000,{FUTURE}", "AA-0003,,999,")
    path = f"pools/{pool['id']}/codes"
    preview = api.post(path, {"csv": csv_text, "dry_run": True})
    assert preview.status_code == 200
    assert (preview.json()["accepted"], preview.json()["rejected"]) == (2, 1)
    assert api.get(f"pools/{pool['id']}").json()["stock"]["available"] == 0

    uploaded = api.post(path, {"csv": csv_text})
    assert uploaded.status_code == 201
    report = uploaded.json()
    assert (report["dry_run"], report["accepted"]) == (False, 2)
    assert report["errors"][0]["error"] == "wrong_nominal"
    assert "AA-0003" not in uploaded.content.decode()

    again = api.post(path, {"csv": csv_text})
    assert again.status_code == 200
    assert [e["error"] for e in again.json()["errors"]] == [
        "duplicate_code",
        "duplicate_code",
        "wrong_nominal",
    ]
    shown = api.get(f"pools/{pool['id']}").json()
    assert shown["stock"]["available"] == 2 and shown["low_stock"] is False
    assert api.get("pools", brand=brand["id"]).json()["data"] == [shown]


def test_bad_pool_and_upload_input_is_422(api):
    brand = _brand(api)
    for body in (
        {"brand": brand["id"], "denomination": "0"},
        {"brand": brand["id"], "denomination": "10.001"},
        {"brand": brand["id"], "denomination": "10", "currency": "USD"},
        {"brand": brand["id"], "denomination": "10", "low_stock_threshold": -1},
    ):
        assert api.post("pools", body).status_code == 422, body
    pool = _pool(api, brand["id"])
    bad_header = api.post(f"pools/{pool['id']}/codes", {"csv": "a,b\n1,2\n"})
    assert bad_header.status_code == 422
    assert bad_header.json()["error"] == {
        "type": "invalid_request",
        "code": "csv_header",
        "message": "The CSV header must be code,pin,nominal,expiry; got a,b.",
        "param": "csv",
    }
    assert api.post(f"pools/{pool['id']}/codes", {"csv": "x", "extra": 1}).status_code == 422
    assert api.post("pools/pol_nope/codes", {"csv": HEADER}).status_code == 404
