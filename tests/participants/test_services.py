"""Participant services called directly, as the events engine and the console call them."""

import threading

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from sarafan.core.codes import ALPHABET, normalize_code
from sarafan.core.errors import InvalidRequest
from sarafan.links.models import Link
from sarafan.participants.models import Participant
from sarafan.participants.services import create_link, upsert_participant
from sarafan.rewards.erasure import erase_participant


def test_upsert_returns_created_then_not_created(project):
    participant, created = upsert_participant(project=project, livemode=False, external_id="u-7")
    again, created_again = upsert_participant(
        project=project, livemode=False, external_id="u-7", email="anna@example.ru"
    )
    assert (created, created_again) == (True, False)
    assert again.pk == participant.pk
    assert again.email == "anna@example.ru"
    assert len(participant.portal_token_value()) >= 40


def test_upsert_normalizes_contacts(project):
    participant, _ = upsert_participant(
        project=project,
        livemode=False,
        external_id="u-7",
        email=" Anna@Example.RU ",
        phone="+7 (916) 123-45-67",
        tags=["vip", "vip", "new"],
    )
    assert participant.email == "Anna@example.ru"
    assert participant.phone == "+79161234567"
    assert participant.tags == ["vip", "new"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"external_id": ""}, "external_id"),
        ({"external_id": "a\nb"}, "external_id"),
        ({"email": "anna@"}, "email"),
        ({"phone": "+7 916 abc"}, "phone"),
        ({"phone": "+0123456789"}, "phone"),
        ({"attributes": "city"}, "attributes"),
        ({"tags": [""]}, "tags"),
        ({"consent": {"marketing": 1}}, "consent.marketing"),
    ],
)
def test_upsert_rejects_bad_input_before_writing(project, fields, param):
    kwargs = {"project": project, "livemode": False, "external_id": "u-7", **fields}
    with pytest.raises(InvalidRequest) as raised:
        upsert_participant(**kwargs)
    assert raised.value.param == param
    assert not Participant.objects.exists()


def test_upsert_retries_when_a_new_code_collides(project, monkeypatch):
    taken, _ = upsert_participant(project=project, livemode=False, external_id="u-1")
    codes = iter([taken.referral_code, taken.referral_code, "NEWCQDE2"])
    monkeypatch.setattr("sarafan.participants.services.new_referral_code", lambda: next(codes))
    participant, created = upsert_participant(project=project, livemode=False, external_id="u-2")
    assert created
    assert participant.referral_code == "NEWCQDE2"


def test_erasing_twice_changes_nothing(project):
    participant, _ = upsert_participant(
        project=project, livemode=False, external_id="u-7", email="anna@example.ru"
    )
    first = erase_participant(participant=participant)
    second = erase_participant(participant=participant)
    assert first.erased_at == second.erased_at
    assert second.external_id == f"erased-{participant.public_id}"
    assert second.referral_code == participant.referral_code


def test_create_link_keeps_only_known_utm_keys_in_a_fixed_order(project):
    participant, _ = upsert_participant(project=project, livemode=False, external_id="u-7")
    link = create_link(
        participant=participant,
        channel="sms",
        utm={"utm_term": "t", "utm_source": "s", "utm_medium": ""},
    )
    assert link.utm == {"utm_source": "s", "utm_term": "t"}
    assert link.participant == participant
    assert not link.is_primary


@settings(max_examples=25, deadline=None)
@given(st.text(alphabet=ALPHABET.lower() + ALPHABET, min_size=8, max_size=8))
def test_codes_compare_case_insensitively(text):
    assert normalize_code(text) == normalize_code(text.lower()) == text.upper()


@pytest.mark.django_db
@settings(max_examples=10, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_referral_codes_use_only_the_unambiguous_alphabet(number):
    from sarafan.projects.services import create_project

    project, _ = create_project(name=f"P{number}")
    participant, _ = upsert_participant(project=project, livemode=False, external_id=f"u{number}")
    link = create_link(participant=participant, channel="email", utm=None)
    for code in (participant.referral_code, link.code):
        assert set(code) <= set(ALPHABET)
        assert not set(code) & set("0O1IL")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("on_postgres")
def test_simultaneous_upserts_of_one_external_id_make_one_participant():
    from sarafan.projects.services import create_project

    project, _ = create_project(name="Race")
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    created: list[bool] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            _, was_created = upsert_participant(
                project=project, livemode=False, external_id="u-7", name=f"N{index}"
            )
            created.append(was_created)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(created) == [False] * (threads_count - 1) + [True]
    assert Participant.objects.filter(external_id="u-7").count() == 1
    assert Link.objects.filter(is_primary=True).count() == 1
