"""The participant's portal /p/<token>."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sarafan.participants.models import Participant
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Certificate, Reward
from tests.links.support import make_campaign


@pytest.fixture
def anna(api, project):
    make_campaign(project, name="Приведи друга")
    data = api.put("participants/u-7", {"name": "Анна"}).json()
    return Participant.objects.get(public_id=data["id"])


def _path(participant):
    return f"/p/{participant.portal_token_value()}"


def test_portal_shows_link_qr_and_share_buttons(client, anna, settings):
    response = client.get(_path(anna), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    url = f"{settings.BASE_URL}/r/{anna.referral_code}"
    assert url in html
    assert "Анна" in html
    assert "Приведи друга" in html
    assert "<svg" in html
    assert "https://t.me/share/url?url=" in html
    assert "https://wa.me/?text=" in html
    assert "https://vk.com/share.php?url=" in html
    assert "mailto:?" in html
    assert 'id="copy"' in html
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"


def test_portal_counts_friends_and_lists_certificates(client, anna, project):
    campaign = make_campaign(project, name="Second")
    for number in range(2):
        friend = Participant.objects.create(
            project=project,
            external_id=f"f{number}",
            referral_code=f"FRND{number}AAA",
        )
        Referral.objects.create(
            project=project, campaign=campaign, referrer=anna, referee=friend, source="code"
        )
    reward = Reward.objects.create(
        project=project,
        recipient=anna,
        amount=Decimal("500.00"),
        status="issued",
        available_at=datetime(2026, 1, 1, tzinfo=UTC),
        dedupe_key="r1",
    )
    certificate = Certificate(
        project=project,
        reward=reward,
        amount=Decimal("500.00"),
        balance=Decimal("300.00"),
        expires_at=datetime(2027, 6, 30, 12, tzinfo=UTC),
    )
    certificate.keep_own_code("SF-ABCD-EFGH-JKMN-PQRS", "123456")
    certificate.save()
    html = client.get(_path(anna)).content.decode()
    assert '<p class="count">2</p>' in html
    assert "SF-ABCD-EFGH-JKMN-PQRS" in html
    assert "300.00" in html
    assert "500.00" in html
    assert "2027" in html


def test_portal_speaks_russian_and_english(client, anna):
    russian = client.get(_path(anna), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    english = client.get(_path(anna), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="ru">' in russian
    assert '<html lang="en">' in english
    assert "Friends invited" in english


def test_unknown_portal_token_is_404(client, db):
    response = client.get("/p/not-a-real-token")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_erased_participant_has_no_portal(api, client, anna):
    api.delete("participants/u-7")
    assert client.get(_path(anna)).status_code == 404
