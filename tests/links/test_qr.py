"""QR codes of links, as SVG and PNG."""

import pytest

from tests.links.support import make_campaign


@pytest.fixture
def code(api, project):
    make_campaign(project)
    return api.put("participants/u-7", {}).json()["referral_code"]


def test_qr_svg_is_an_svg_image(client, code):
    response = client.get(f"/r/{code.lower()}/qr.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Cache-Control"] == "public, max-age=86400"
    assert b"<svg" in response.content
    assert response.content.rstrip().endswith(b"</svg>")


def test_qr_png_is_a_png_image(client, code):
    response = client.get(f"/r/{code}/qr.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "public, max-age=86400"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(response.content) > 200


def test_qr_encodes_the_absolute_referral_url(client, code, settings):
    svg = client.get(f"/r/{code}/qr.svg").content.decode()
    assert f"{settings.BASE_URL}/r/{code}" in svg  # segno titles the image with its data


@pytest.mark.parametrize("kind", ["svg", "png"])
def test_qr_of_unknown_code_is_404(client, db, kind):
    response = client.get(f"/r/NOSUCH22/qr.{kind}")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
