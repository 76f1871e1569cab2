"""The click spool: a redirect's click goes to a durable file, then into links_click once.

These tests run outside a transaction (transactional_db), as a server does: inside one, a
click is inserted directly. Each test gets its own spool in its own directory, without the
flusher thread, and flushes it on the test's connection with flush_clicks().
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from sarafan.core.hashing import keyed_hash
from sarafan.links import spool as spool_module
from sarafan.links.models import Click, ClickSpoolMark
from sarafan.links.spool import ClickSpool, flush_clicks
from sarafan.participants.models import Participant
from tests.links.support import make_campaign

pytestmark = pytest.mark.django_db(transaction=True)
IP = "203.0.113.7"


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "clicks"


@pytest.fixture
def spool(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClickSpool]:
    """This process's spool for the test: a real one, flushed by the test instead of a thread."""
    spool = ClickSpool(directory, fsync=True)
    monkeypatch.setattr(spool_module, "_process_spool", spool)
    yield spool
    spool.close()


@pytest.fixture
def campaign(project):
    return make_campaign(project)


@pytest.fixture
def code(api, campaign):
    return api.put("participants/u-7", {"email": "anna@example.ru"}).json()["referral_code"]


def _visit(client: Client, code: str, n: int = 0) -> None:
    response = client.get(
        f"/r/{code}?utm_source=tg&gclid=g{n}",
        REMOTE_ADDR=IP,
        HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 600,
        HTTP_REFERER=f"https://t.me/chat/{n}",
    )
    assert response.status_code == 302


def _lines(directory: Path) -> int:
    return sum(len(path.read_bytes().splitlines()) for path in directory.glob("*.jsonl"))


def test_spooled_clicks_reach_links_click_with_every_column(
    client, code, spool, directory, settings
):
    for n in range(25):
        _visit(client, code, n)
    assert not Click.objects.exists()
    assert _lines(directory) == 25

    assert flush_clicks() == 25

    clicks = list(Click.objects.order_by("id"))
    assert [c.click_ids for c in clicks] == [{"gclid": f"g{n}"} for n in range(25)]
    first = clicks[0]
    assert first.participant.external_id == "u-7"
    assert (first.channel, first.livemode, first.campaign is not None) == ("link", False, True)
    assert first.ip_hash == keyed_hash(IP, purpose="ip")
    assert len(first.user_agent) == 500
    assert first.referer == "https://t.me/chat/0"
    assert first.utm == {"utm_source": "tg"}
    assert first.visitor_id == client.cookies["sf_vid"].value
    # The same visit written directly gives the same row, but for id and time.
    settings.SARAFAN_CLICK_WRITES = "direct"
    _visit(client, code, 0)
    direct = Click.objects.order_by("id").values().last()
    spooled = Click.objects.filter(pk=first.pk).values().get()
    for row in (direct, spooled):
        del row["id"], row["created_at"]
    assert spooled == direct
    assert flush_clicks() == 0


def test_spooled_click_keeps_its_own_time(client, code, spool):
    _visit(client, code)
    [line] = next(spool.directory.glob("*.jsonl")).read_bytes().splitlines()
    flush_clicks()
    assert Click.objects.get().created_at.isoformat() == json.loads(line)["created_at"]


def test_cached_spooled_redirect_makes_no_query(client, code, spool, django_assert_num_queries):
    _visit(client, code)  # looks the link up, and tells the database of the new spool file
    with django_assert_num_queries(0):
        _visit(client, code, 1)
    assert flush_clicks() == 2


def test_flush_after_a_crash_inserts_only_what_was_not_in(client, code, spool, directory):
    for n in range(5):
        _visit(client, code, n)
    flush_clicks()
    for n in range(5, 8):
        _visit(client, code, n)
    spool.close()  # the process dies: its file stays, with 5 of its 8 clicks in the database

    survivor = ClickSpool(directory, fsync=True)
    assert survivor.claim_orphans() == 1
    assert survivor.flush() == 3
    assert sorted(c.click_ids["gclid"] for c in Click.objects.all()) == [f"g{n}" for n in range(8)]
    assert not list(directory.glob("*.jsonl"))
    assert not ClickSpoolMark.objects.exists()


def test_crash_between_commit_and_deletion_inserts_nothing_twice(client, code, spool, directory):
    for n in range(3):
        _visit(client, code, n)
    flush_clicks()
    spool.close()  # every click is in, the file was not deleted yet

    survivor = ClickSpool(directory, fsync=True)
    assert survivor.claim_orphans() == 1
    assert survivor.flush() == 0
    assert Click.objects.count() == 3
    assert not list(directory.glob("*.jsonl"))


def test_flush_that_lost_its_place_resumes_from_the_mark(client, code, spool):
    for n in range(4):
        _visit(client, code, n)
    flush_clicks()
    spool._current.flushed = 0  # as if the commit went through and the process forgot it
    _visit(client, code, 4)
    flush_clicks()
    assert sorted(c.click_ids["gclid"] for c in Click.objects.all()) == [f"g{n}" for n in range(5)]


def test_clicks_of_a_deleted_participant_are_dropped_the_others_kept(
    api, client, code, spool, caplog
):
    other = api.put("participants/u-8", {}).json()["referral_code"]
    _visit(client, code, 1)
    _visit(client, other, 2)
    _visit(client, code, 3)
    Participant.objects.filter(external_id="u-7").delete()  # its links go with it

    assert flush_clicks() == 3
    assert [c.click_ids for c in Click.objects.all()] == [{"gclid": "g2"}]
    assert "2 spooled clicks dropped" in caplog.text


def test_click_made_before_an_erasure_is_stored_erased(api, client, code, spool):
    _visit(client, code)
    assert api.delete("participants/u-7").status_code == 200
    flush_clicks()
    click = Click.objects.get()
    assert (click.user_agent, click.referer, click.ip_hash) == ("", "", "")
    assert click.participant.erased_at is not None


def test_clicks_after_an_erasure_keep_their_details_as_before(api, client, code, spool):
    assert api.delete("participants/u-7").status_code == 200
    _visit(client, code)
    flush_clicks()
    assert Click.objects.get().referer == "https://t.me/chat/0"


def test_deleted_campaign_is_cleared_not_the_click(client, code, spool, campaign):
    _visit(client, code)
    campaign.delete()
    flush_clicks()
    assert Click.objects.get().campaign is None


def test_unfinished_last_line_of_a_dead_process_is_dropped(client, code, spool, directory):
    _visit(client, code, 1)
    _visit(client, code, 2)
    spool.close()
    [path] = directory.glob("*.jsonl")
    with path.open("ab") as file:
        file.write(b'{"project_id": 1, "livemo')

    survivor = ClickSpool(directory, fsync=True)
    survivor.claim_orphans()
    assert survivor.flush() == 2
    assert Click.objects.count() == 2
    assert not path.exists()


def test_file_of_another_database_is_left_alone(spool, directory):
    directory.mkdir(parents=True)
    foreign = directory / "4242-0123456789abcdef.jsonl"
    foreign.write_bytes(b'{"project_id": 1}\n')
    empty = directory / "4243-0123456789abcdef.jsonl"
    empty.touch()
    assert spool.claim_orphans() == 0
    assert foreign.exists()
    assert not empty.exists()  # its process died before the database learnt of it


def test_full_file_is_sealed_and_deleted_once_copied(client, code, directory, monkeypatch):
    spool = ClickSpool(directory, fsync=True, file_bytes=1000)
    monkeypatch.setattr(spool_module, "_process_spool", spool)
    for n in range(3):
        _visit(client, code, n)
    [first] = directory.glob("*.jsonl")
    assert flush_clicks() == 3  # seals the full file, starts the next, copies, deletes
    assert not first.exists()
    _visit(client, code, 3)
    assert flush_clicks() == 1
    assert Click.objects.count() == 4
    assert len(list(directory.glob("*.jsonl"))) == 1  # the file being written to
    assert ClickSpoolMark.objects.count() == 1
    spool.stop()
    assert not list(directory.glob("*.jsonl"))
    assert not ClickSpoolMark.objects.exists()


def test_without_fsync_clicks_are_spooled_all_the_same(client, code, directory, monkeypatch):
    spool = ClickSpool(directory, fsync=False)
    monkeypatch.setattr(spool_module, "_process_spool", spool)
    _visit(client, code)
    assert _lines(directory) == 1
    assert flush_clicks() == 1
    spool.close()


def test_unwritable_spool_sends_the_click_to_the_database(client, code, tmp_path, monkeypatch):
    (tmp_path / "not-a-directory").write_text("")
    spool = ClickSpool(tmp_path / "not-a-directory" / "clicks", fsync=True)
    monkeypatch.setattr(spool_module, "_process_spool", spool)
    _visit(client, code)
    assert Click.objects.count() == 1


def test_head_request_spools_nothing(client, code, spool, directory):
    assert client.head(f"/r/{code}").status_code == 302
    assert not directory.exists()
    assert flush_clicks() == 0


def test_exit_flushes_and_deletes_the_file(client, code, spool, directory):
    _visit(client, code)
    spool.stop()
    assert Click.objects.count() == 1
    assert not list(directory.glob("*.jsonl"))
    assert not ClickSpoolMark.objects.exists()


def test_file_is_private_to_its_process(client, code, spool, directory):
    _visit(client, code)
    [path] = directory.glob("*.jsonl")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.name.startswith(f"{os.getpid()}-")
