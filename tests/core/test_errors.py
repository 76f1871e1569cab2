"""API-wide behaviour: the error shape for every failure, body size, OpenAPI."""

from django.test import override_settings


def test_unknown_api_path_is_json_404(api):
    response = api.get("nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


@override_settings(SARAFAN_MAX_BODY_BYTES=1000)
def test_oversized_body_is_413(api):
    response = api.post("events", raw="x" * 2000)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_openapi_and_docs_are_served(anon_api):
    spec = anon_api.get("openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/api/v1/campaigns",
        "/api/v1/events",
        "/api/v1/events/batch",
        "/api/v1/participants/{external_id}",
        "/api/v1/rewards/{reward_id}",
        "/api/v1/certificates/{code}/redeem",
        "/api/v1/analytics/summary",
    ):
        assert path in paths, path
    docs = anon_api.get("docs")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()


def test_in_progress_idempotency_key_is_a_conflict(api, project):
    from sarafan.core.models import IdempotencyRecord

    IdempotencyRecord.objects.create(
        project=project,
        livemode=False,
        key="busy",
        method="POST",
        path="/api/v1/events",
        request_hash="x",
    )
    response = api.post(
        "events", {"type": "share", "participant": "x"}, headers={"Idempotency-Key": "busy"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"


def test_expired_key_is_refused(api, project_keys):
    from django.utils import timezone

    from sarafan.core.hashing import token_hash
    from sarafan.projects.models import ApiKey

    assert api.get("campaigns").status_code == 200
    ApiKey.objects.filter(key_hash=token_hash(project_keys.keys["secret_key_test"])).update(
        expires_at=timezone.now()
    )
    from sarafan.projects import services

    services._KEY_CACHE.clear()
    response = api.get("campaigns")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "expired_api_key"
