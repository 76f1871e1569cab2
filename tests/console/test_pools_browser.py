"""A manager fills a certificate pool in Chromium: from the sidebar to the pool's page, a CSV
with one bad row, the dry run's preview, the confirmation, the report and the stock risen."""

from pathlib import Path
from typing import Any

import pytest

from sarafan.rewards import pools
from sarafan.rewards.models import PoolCode

from .data import Chain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = (
    "code,pin,nominal,expiry\n"
    "SPRING-000001,1111,1000.00,2099-12-31\n"
    "SPRING-000002,2222,1000.00,\n"
    "SPRING-000003,3333,950.00,\n"  # line 4: not the pool's denomination
    "SPRING-000004,,1000.00,\n"
)


def _available(page: Any) -> int:
    return int(page.inner_text("#pool-stock [data-stock=available]").strip())


def test_manager_uploads_codes_with_a_bad_row_previews_and_confirms(
    page: Any, chain: Chain, tmp_path: Path
) -> None:
    pool = chain.pool
    before = pools.stock(pool)["available"]
    stored = PoolCode.objects.count()
    csv_file = tmp_path / "весна.csv"
    csv_file.write_text(CSV, encoding="utf-8")

    # From the sidebar to the pool's page: its stock, low, and the upload button.
    page.click("#nav-sidebar-apps a[href$='/rewards/certificatepool/']")
    page.click(f"#result_list a:has-text('{pool.public_id}')")
    page.wait_for_selector("#pool-stock")
    assert _available(page) == before

    page.click(f"#pool-stock a[href$='/certificatepool/{pool.pk}/upload/']")
    page.set_input_files("#upload-form input[type=file]", str(csv_file))
    page.click("#upload-form button[type=submit]")

    # The dry run: three codes would be added, line 4 is refused; nothing is stored yet.
    page.wait_for_selector("#upload-preview")
    summary = page.locator("#upload-preview [data-accepted]")
    assert summary.get_attribute("data-accepted") == "3"
    assert summary.get_attribute("data-rejected") == "1"
    bad = page.locator("#upload-errors tr[data-row='4']")
    assert bad.get_attribute("data-error") == "wrong_nominal"
    assert "…0003" in bad.inner_text()
    assert "SPRING-000003" not in page.inner_text("#content")
    assert PoolCode.objects.count() == stored

    page.click("#upload-confirm button[type=submit]")
    page.wait_for_selector("#upload-report")
    report = page.locator("#upload-report [data-accepted]")
    assert report.get_attribute("data-accepted") == "3"
    assert report.get_attribute("data-rejected") == "1"
    batch = page.inner_text("#upload-report [data-batch]").strip()
    assert batch.startswith("upl_")
    assert PoolCode.objects.filter(pool=pool, batch=batch).count() == 3

    # Back on the pool's page the stock has risen by three and the batch is listed.
    page.click(f"#upload-report a[href$='/certificatepool/{pool.pk}/change/']")
    page.wait_for_selector("#pool-stock")
    assert _available(page) == before + 3
    assert page.locator(f"#pool-batches tr[data-batch='{batch}']").count() == 1
    assert pools.stock(pool)["available"] == before + 3
