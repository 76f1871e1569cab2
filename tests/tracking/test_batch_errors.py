"""/events/batch: a bad item answers its own error in its place; the items before it stay
recorded and the ones after it are processed — never a bare 500 for the whole batch."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from sarafan.participants.models import Participant
from tests.factories import create_campaign, create_referrer


def _signup(customer: str, **fields: object) -> dict[str, object]:
    return {"type": "signup", "customer": {"external_id": customer, **fields}}


def _recorded() -> set[str]:
    return set(Participant.objects.values_list("external_id", flat=True))


def test_a_refused_item_answers_its_own_error_by_name(api):
    create_campaign(api)
    code = create_referrer(api, "u-7")["referral_code"]
    items = [
        _signup("c-1"),
        _signup("c-2", name="Борис\x00"),
        {**_signup("c-3"), "referral_code": code},
        {**_signup("c-4"), "occurred_at": "0001-01-01T00:00:00+14:00"},
        {"type": "order", "customer": {"external_id": "c-5"}, "order": {"id": "o\r\n1"}},
        _signup("c-6", name="Вера"),
    ]
    response = api.post("events/batch", {"events": items})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r.get("error", {}).get("param") for r in results] == [
        None,
        "customer.name",
        None,
        "occurred_at",
        "order.id",
        None,
    ]
    assert results[2]["referral"]["referrer"] == "u-7"
    assert _recorded() == {"u-7", "c-1", "c-3", "c-6"}


@contextmanager
def refused_participant(external_id: str) -> Iterator[None]:
    """The database refuses to store this participant, as a failing disk or a constraint
    nobody foresaw would: an error no rule of Sarafan expects. The test's transaction takes
    the trigger away again."""
    table = Participant._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION sarafan_test_refuse() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'participant refused'; END; $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER sarafan_test_refuse BEFORE INSERT ON {table} FOR EACH ROW "
                f"WHEN (NEW.external_id = '{external_id}') EXECUTE FUNCTION sarafan_test_refuse()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER sarafan_test_refuse BEFORE INSERT ON {table} "
                f"WHEN NEW.external_id = '{external_id}' "
                "BEGIN SELECT RAISE(ABORT, 'participant refused'); END"
            )
    yield


def test_an_item_that_fails_unforeseen_answers_a_server_error_in_its_place(api):
    with refused_participant("c-2"):
        response = api.post(
            "events/batch", {"events": [_signup("c-1"), _signup("c-2"), _signup("c-3")]}
        )
    assert response.status_code == 200, response.content
    first, failed, last = response.json()["results"]
    assert failed == {
        "error": {
            "type": "server",
            "code": "server_error",
            "message": "This event could not be recorded; it was logged.",
            "param": None,
        }
    }
    assert (first["customer"], last["customer"]) == ("c-1", "c-3")
    assert _recorded() == {"c-1", "c-3"}
