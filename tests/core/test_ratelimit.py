"""Rate limits: brute force of keys, certificate codes, portal tokens and console passwords stops.

Each test first does what the outside probe did (wrong guesses as fast as it can) and then
checks that the guesser is refused, with API.md's 429 shape, while everyone else is not.
"""

import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from sarafan.core import ratelimit
from sarafan.core.models import RateCounter
from sarafan.rewards.models import Certificate
from tests.core.test_tasks_rq import redis_url  # noqa: F401 - the fixture
from tests.factories import create_campaign, create_referrer, signup
from tests.processes import Server, create_project, installation


def _get(client: Client, path: str, key: str, address: str = "10.0.0.7") -> object:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=address)


def _assert_rate_limited(response: object) -> None:
    assert response.status_code == 429  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error"]["type"] == "rate_limited"
    assert body["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1  # type: ignore[attr-defined]
    assert response.headers["RateLimit-Remaining"] == "0"  # type: ignore[attr-defined]
    assert int(response.headers["RateLimit-Limit"]) >= 1  # type: ignore[attr-defined]


@override_settings(SARAFAN_RATE_LIMIT_AUTH_FAILURES="5/60")
def test_wrong_api_keys_from_one_address_are_stopped_and_the_right_key_waits_too(project_keys):
    client = Client()
    right = project_keys.keys["secret_key_test"]
    answers = [_get(client, "/api/v1/campaigns", f"sk_test_guess{n}").status_code for n in range(8)]
    assert answers[:5] == [401] * 5
    assert answers[5:] == [429] * 3
    _assert_rate_limited(_get(client, "/api/v1/campaigns", "sk_test_guess9"))
    # The guesser's address is refused even with the right key until the window ends...
    _assert_rate_limited(_get(client, "/api/v1/campaigns", right))
    # ...while the shop's own server, elsewhere, is not.
    assert _get(client, "/api/v1/campaigns", right, address="10.0.0.8").status_code == 200


@override_settings(SARAFAN_RATE_LIMIT_AUTH_FAILURES="5/60")
def test_failed_guesses_are_counted_in_a_store_every_process_shares(project_keys):
    client = Client()
    for n in range(5):
        assert _get(client, "/api/v1/campaigns", f"sk_test_guess{n}").status_code == 401
    [counter] = RateCounter.objects.all()
    assert counter.count == 5
    assert counter.bucket.startswith("auth:10.0.0.7:")
    # Another process has no block in memory: the shared count still refuses the next guess.
    ratelimit._blocks.clear()
    _assert_rate_limited(_get(client, "/api/v1/campaigns", "sk_test_guess5"))


@override_settings(SARAFAN_RATE_LIMIT_CERTIFICATE_MISSES="4/60")
def test_unknown_certificate_codes_are_limited_per_key(api, project_keys):
    create_campaign(api)
    code = create_referrer(api, "u-7")["referral_code"]
    signup(api, "u-42", code)
    certificate = Certificate.objects.get()
    real = certificate.code_value()
    key = project_keys.keys["secret_key_test"]
    client = Client()
    # A key's guesses come from many addresses (a botnet): counted per key all the same.
    answers = [
        _get(client, f"/api/v1/certificates/GUESS{n:04d}", key, address=f"10.1.0.{n}").status_code
        for n in range(6)
    ]
    assert answers == [404] * 4 + [429] * 2
    refused = _get(client, f"/api/v1/certificates/{real}", key, address="10.1.0.99")
    _assert_rate_limited(refused)
    # The key's other calls go on; only certificate look-ups are paused.
    assert _get(client, "/api/v1/campaigns", key, address="10.1.0.99").status_code == 200


@override_settings(SARAFAN_RATE_LIMIT_CERTIFICATE_MISSES="4/60")
def test_redeem_guesses_count_as_certificate_misses(api, project_keys):
    key = project_keys.keys["secret_key_test"]
    client = Client()
    answers = [
        client.post(
            f"/api/v1/certificates/GUESS{n:04d}/redeem",
            json.dumps({"amount": "1.00", "order_id": f"o-{n}"}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            REMOTE_ADDR="10.2.0.1",
        ).status_code
        for n in range(5)
    ]
    assert answers == [404] * 4 + [429]


@override_settings(SARAFAN_RATE_LIMIT_KEY="3/60")
def test_every_api_answer_tells_the_limit_and_a_key_over_it_is_told_when_to_retry(project_keys):
    key = project_keys.keys["secret_key_test"]
    client = Client()
    seen = [_get(client, "/api/v1/campaigns", key) for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r.headers["RateLimit-Remaining"] for r in seen] == ["2", "1", "0"]
    assert {r.headers["RateLimit-Limit"] for r in seen} == {"3"}
    _assert_rate_limited(_get(client, "/api/v1/campaigns", key))
    # Another project's key is counted on its own.
    other = create_project_keys()
    assert _get(client, "/api/v1/campaigns", other).status_code == 200


def create_project_keys() -> str:
    from sarafan.projects.services import create_project as create

    _, keys = create(name="Other shop")
    return str(keys["secret_key_test"])


@override_settings(SARAFAN_RATE_LIMIT_IP="4/60")
def test_requests_without_a_key_are_limited_per_address(db):
    client = Client()
    answers = [
        client.get("/api/v1/campaigns", REMOTE_ADDR="10.3.0.1").status_code for _ in range(6)
    ]
    assert answers == [401] * 4 + [429] * 2


@override_settings(SARAFAN_RATE_LIMIT_PORTAL_MISSES="3/60")
def test_portal_token_guesses_are_limited_per_address(api):
    path = urlsplit(create_referrer(api, "u-7")["portal_url"]).path
    client = Client()
    answers = [client.get(f"/p/guess-{n}", REMOTE_ADDR="10.4.0.1").status_code for n in range(5)]
    assert answers == [404] * 3 + [429] * 2
    refused = client.get(path, REMOTE_ADDR="10.4.0.1")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert client.get(path, REMOTE_ADDR="10.4.0.2").status_code == 200


@pytest.fixture
def director(db: None) -> User:
    return User.objects.create_superuser("director", "director@example.ru", "right password")


def _login(client: Client, password: str, address: str = "10.5.0.1") -> object:
    return client.post(
        "/console/login/",
        {"username": "director", "password": password, "next": "/console/"},
        REMOTE_ADDR=address,
    )


@override_settings(AXES_FAILURE_LIMIT=5)
def test_console_sign_in_is_locked_out_after_repeated_failures(director):
    client = Client()
    for n in range(4):
        assert _login(client, f"wrong {n}").status_code == 200  # the form again, with an error
    assert _login(client, "wrong 4").status_code == 429  # the fifth failure locks out
    locked = _login(client, "right password")
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 60
    assert "Вход приостановлен" in locked.content.decode()  # the console speaks Russian first
    assert "_auth_user_id" not in client.session
    # The same person from another address is not locked out by someone else's guesses.
    other = Client()
    assert _login(other, "right password", address="10.5.0.2").status_code == 302


@override_settings(AXES_FAILURE_LIMIT=5)
def test_a_successful_sign_in_clears_the_failures(director):
    client = Client()
    for n in range(4):
        _login(client, f"wrong {n}")
    assert _login(client, "right password").status_code == 302
    client.logout()
    for n in range(4):
        _login(client, f"wrong again {n}")
    assert _login(client, "right password").status_code == 302


def test_counts_in_redis_are_shared_and_expire(redis_url):  # noqa: F811
    caches = {"default": {"BACKEND": "sarafan.core.redis_cache.RedisCache", "LOCATION": redis_url}}
    with override_settings(REDIS_URL=redis_url, CACHES=caches):
        assert isinstance(ratelimit.guess_store(), ratelimit.RedisStore)
        rate = ratelimit.Rate(3, 60)
        verdicts = [
            ratelimit.count(ratelimit.guess_store(), [("t", "x", rate)])[0] for _ in range(4)
        ]
        assert [v.allowed for v in verdicts] == [True, True, True, False]
        assert [v.remaining for v in verdicts] == [2, 1, 0, 0]
        import redis

        client = redis.Redis.from_url(redis_url)
        [name] = client.keys("sarafan:rl:t:x:*")
        assert int(client.get(name) or 0) == 4
        assert 0 < client.ttl(name) <= 61


def test_the_rate_setting_must_be_well_formed():
    from django.core.exceptions import ImproperlyConfigured

    assert ratelimit.Rate.parse("600/60") == ratelimit.Rate(600, 60)
    assert ratelimit.Rate.parse("20/1") == ratelimit.Rate(20, 1)
    assert ratelimit.Rate.parse("600") == ratelimit.Rate(600, 60)  # per minute by default
    for bad in ("0/60", "x/60", "10/0", "-1/5", "5/x"):
        with pytest.raises(ImproperlyConfigured):
            ratelimit.Rate.parse(bad)


def test_a_running_server_stops_a_key_guesser_across_its_processes(tmp_path):
    """The probe's attack on `sarafan serve --workers 2`: 120 wrong keys as fast as it can."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "SARAFAN_TASK_BACKEND"}}
    env["SARAFAN_RATE_LIMIT_AUTH_FAILURES"] = "20/60"
    with installation(env, tmp_path) as installed:
        keys = create_project(installed)
        server = Server(installed, "--workers", "2")
        try:

            def guess(n: int) -> int:
                request = urllib.request.Request(
                    f"{server.url}/api/v1/campaigns",
                    headers={"Authorization": f"Bearer sk_test_guess{n:05d}"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        return int(response.status)
                except urllib.error.HTTPError as exc:
                    return int(exc.code)

            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(guess, range(120)))
            # Each process may let one guess through before it learns the count is over.
            assert answers.count(401) <= 20 + 2
            assert answers.count(429) >= 120 - 22
            assert set(answers) <= {401, 429}
            request = urllib.request.Request(
                f"{server.url}/api/v1/campaigns",
                headers={"Authorization": f"Bearer {keys['secret_key_test']}"},
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=60)
            assert refused.value.code == 429
            assert int(refused.value.headers["Retry-After"]) >= 1
        finally:
            server.stop()
