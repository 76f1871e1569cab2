"""A pool code's expiry outside 2000–2100 is that row's error, never a 500 or a date that
cannot be read back (9999-12-31 with a negative offset is past year 9999 in UTC)."""

import pytest

from sarafan.rewards.models import PoolCode


@pytest.mark.parametrize(
    "expiry", ["9999-12-31T23:59:59-12:00", "9999-12-31", "2100-01-01", "0001-01-01T00:00:00+14:00"]
)
def test_an_expiry_out_of_range_is_the_rows_error(api, expiry):
    brand = api.post("brands", {"name": "Ozon"}).json()
    pool = api.post("pools", {"brand": brand["id"], "denomination": "500.00"}).json()
    csv = f"code,pin,nominal,expiry\nAAA-1,1,500.00,{expiry}\nAAA-2,2,500.00,2031-12-31\n"

    response = api.post(f"pools/{pool['id']}/codes", {"csv": csv})

    assert response.status_code == 201, response.content
    report = response.json()
    assert (report["accepted"], report["rejected"]) == (1, 1)
    [error] = report["errors"]
    assert (error["row"], error["error"]) == (2, "invalid_expiry")
    assert PoolCode.objects.count() == 1
    assert api.get(f"pools/{pool['id']}").status_code == 200
