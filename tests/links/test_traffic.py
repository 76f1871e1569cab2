"""Bots among the clicks: told apart by their User-Agent, recorded, and never blocked.

Also the ad networks' click ids (SARAFAN_PAID_AD_PARAMS) the redirect keeps on a click.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client, override_settings

from sarafan.links import spool as spool_module
from sarafan.links import spool_file
from sarafan.links.models import Click
from sarafan.links.selectors import NewClick
from sarafan.links.spool import ClickSpool, flush_clicks
from sarafan.links.traffic import MAX_USER_AGENT, _user_agent_reason, bot_reason
from tests.links.support import make_campaign

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)
TELEGRAM_PREVIEW = "TelegramBot (like TwitterBot)"

CRAWLERS = {
    # Link previews of messengers and social networks, fetched when a link is shared.
    "telegram": TELEGRAM_PREVIEW,
    "whatsapp": "WhatsApp/2.23.20.0 A",
    "whatsapp-ios": "WhatsApp/2.23.18.78 i",
    "facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "facebot": "Facebot",
    "facebook-catalog": "facebookcatalog/1.0",
    "meta": "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
    "twitter": "Twitterbot/1.0",
    "slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "discord": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "vk": "Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)",
    "ok": "Mozilla/5.0 (compatible; OdklBot/1.0 like Linux; klass@odnoklassniki.ru)",
    "linkedin": (
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"
    ),
    "skype": (
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5"
        " skype-url-preview@microsoft.com"
    ),
    "viber": "Viber/20.9.0.8 CFNetwork/1410.0.3 Darwin/22.6.0",
    "imessage": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko)"
        " Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0"
    ),
    "snapchat": (
        "Mozilla/5.0 (compatible; Snap URL Preview Service; bot; snapchat;"
        " https://developers.snap.com/robots)"
    ),
    "bitrix": "Bitrix link preview",
    "embedly": "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
    "pinterest": "Pinterest/0.2 (+https://www.pinterest.com/bot.html)",
    # Search engines and other robots.
    "yandex": "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "yandex-mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 15_4 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Version/15.4 Mobile/15E148 Safari/604.1"
        " (compatible; YandexMobileBot/3.0; +http://yandex.com/bots)"
    ),
    "yandex-direct": "Mozilla/5.0 (compatible; YandexDirect/3.0; +http://yandex.com/bots)",
    "yandex-metrika": "Mozilla/5.0 (compatible; YandexMetrika/2.0; +http://yandex.com/bots)",
    "google": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "google-smartphone": (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36"
        " (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36"
        " (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    ),
    "google-ads": "AdsBot-Google (+http://www.google.com/adsbot.html)",
    "google-other": "GoogleOther",
    "bing": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "mail-ru": "Mozilla/5.0 (compatible; Linux x86_64; Mail.RU_Bot/2.0; +http://go.mail.ru/help/robots)",
    "gpt": (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2;"
        " +https://openai.com/gptbot)"
    ),
    "ahrefs": "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "scrapy": "Scrapy/2.11.0 (+https://scrapy.org)",
}
HEADLESS = {
    "headless-chrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " HeadlessChrome/120.0.6099.109 Safari/537.36"
    ),
    "phantomjs": (
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko)"
        " PhantomJS/2.1.1 Safari/538.1"
    ),
    "slimerjs": "Mozilla/5.0 (X11; Linux x86_64; rv:38.0) Gecko/20100101 SlimerJS/0.10.3",
    "nameless-electron": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Electron/1.8.8 Safari/537.36"
    ),
}
HTTP_CLIENTS = {
    "curl": "curl/8.5.0",
    "wget": "Wget/1.21.4",
    "requests": "python-requests/2.32.3",
    "urllib": "Python-urllib/3.12",
    "aiohttp": "Python/3.12 aiohttp/3.9.5",
    "httpx": "python-httpx/0.27.0",
    "go": "Go-http-client/2.0",
    "java": "Java/17.0.2",
    "apache": "Apache-HttpClient/4.5.14 (Java/17.0.2)",
    "okhttp": "okhttp/4.12.0",
    "perl": "libwww-perl/6.72",
    "postman": "PostmanRuntime/7.36.0",
    "node-fetch": "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "node": "node",
    "axios": "axios/1.6.8",
    "guzzle": "GuzzleHttp/7",
    "powershell": (
        "Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.22631; en-US) PowerShell/7.4.1"
    ),
}
PEOPLE = {
    "chrome": CHROME,
    "firefox": "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "safari": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
    ),
    "edge": CHROME + " Edg/131.0.0.0",
    "iphone": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
    ),
    "android": (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/131.0.0.0 Mobile Safari/537.36"
    ),
    "samsung": (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36"
        " (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
    ),
    "miui": (
        "Mozilla/5.0 (Linux; U; Android 13; ru-ru; Redmi Note 12 Build/TKQ1.221114.001)"
        " AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/112.0.5615.136"
        " Mobile Safari/537.36 XiaoMi/MiuiBrowser/14.9.1-gn"
    ),
    "yandex-browser": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/128.0.0.0 YaBrowser/24.10.0.0 Safari/537.36"
    ),
    "yandex-browser-android": (
        "Mozilla/5.0 (Linux; arm_64; Android 14; SM-A546E) AppleWebKit/537.36"
        " (KHTML, like Gecko) Chrome/128.0.0.0 YaBrowser/24.10.2.89.00 SA/3"
        " Mobile Safari/537.36"
    ),
    "yandex-app": (
        "Mozilla/5.0 (Linux; arm_64; Android 13; 2201117TY) AppleWebKit/537.36"
        " (KHTML, like Gecko) Chrome/118.0.5993.164 YaBrowser/23.11.5.81.00 SA/3"
        " Mobile Safari/537.36 YandexSearch/23.112.1"
    ),
    # In-app browsers: a person who tapped the link inside the app.
    "instagram": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Mobile/15E148 Instagram 329.0.3.29.120 (iPhone14,5; iOS 17_4;"
        " en_US; en; scale=3.00; 1170x2532; 590478424)"
    ),
    "instagram-android": (
        "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv)"
        " AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/123.0.6312.99"
        " Mobile Safari/537.36 Instagram 326.0.0.42.90 Android (33/13; 450dpi; 1080x2177;"
        " samsung; SM-A536B; a53x; s5e8825; en_US; 586987573)"
    ),
    "facebook-app": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/457.0.0.38.109;FBBV/581155366;"
        "FBDV/iPhone14,2;FBMD/iPhone;FBSN/iOS;FBSV/17.4;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]"
    ),
    "telegram-ios": (  # Telegram's in-app browser sends Safari's User-Agent
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    ),
    "telegram-android": (
        "Mozilla/5.0 (Linux; Android 13; SM-A515F Build/TP1A.220624.014; wv)"
        " AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82"
        " Mobile Safari/537.36 Telegram-Android/10.12.0 (Samsung SM-A515F; Android 13;"
        " SDK 33; AVERAGE)"
    ),
    "vk-app": (
        "Mozilla/5.0 (Linux; Android 12; M2101K6G Build/SKQ1.210908.001; wv)"
        " AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/123.0.6312.118"
        " Mobile Safari/537.36 VKAndroidApp/8.77-17770 (Android 12; SDK 31; arm64-v8a;"
        " Xiaomi M2101K6G; ru; 2400x1080)"
    ),
    "vk-ios": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Mobile/15E148 com.vk.vkclient/3920"
    ),
    "ok-app": (
        "Mozilla/5.0 (Linux; Android 11; Redmi Note 8 Pro Build/RP1A.200720.011; wv)"
        " AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.193"
        " Mobile Safari/537.36 OKApp/24.1.8"
    ),
    "tiktok": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Mobile/15E148 musical_ly_33.3.0 JsSdk/2.0 NetType/WIFI"
        " Channel/App Store ByteLocale/en Region/US WKWebView/1 BytedanceWebview/d8a21c6"
    ),
    "slack-desktop": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36"
        " (KHTML, like Gecko) Slack/4.38.125 Chrome/124.0.6367.243 Electron/30.0.6"
        " Safari/537.36 Sonic Slack_SSB/4.38.125"
    ),
}
TABLE = [
    *((name, agent, "crawler") for name, agent in CRAWLERS.items()),
    *((name, agent, "headless") for name, agent in HEADLESS.items()),
    *((name, agent, "http_client") for name, agent in HTTP_CLIENTS.items()),
    ("empty", "", "no_user_agent"),
    ("blank", "  ", "no_user_agent"),
    *((name, agent, "") for name, agent in PEOPLE.items()),
]


@pytest.mark.parametrize(
    ("agent", "reason"),
    [pytest.param(agent, reason, id=name) for name, agent, reason in TABLE],
)
def test_user_agent_tells_bots_from_people(agent, reason):
    assert bot_reason(agent, {}) == reason


def test_headless_client_hint_is_a_bot_whatever_the_user_agent():
    hint = '"HeadlessChrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'
    assert bot_reason(CHROME, {"Sec-CH-UA": hint}) == "headless"
    person = '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'
    assert bot_reason(CHROME, {"Sec-CH-UA": person}) == ""


def test_verdict_is_remembered_per_user_agent():
    agent = CHROME + " remembered"
    before = _user_agent_reason.cache_info()
    assert bot_reason(agent, {}) == bot_reason(agent, {}) == ""
    after = _user_agent_reason.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)


def test_only_the_stored_part_of_a_user_agent_is_looked_at():
    # What the click keeps decides, and an endless header is not remembered whole.
    assert bot_reason(CHROME.ljust(MAX_USER_AGENT) + " curl/8.5.0 Googlebot/2.1", {}) == ""


# --- the redirect ----------------------------------------------------------------------------


@pytest.fixture
def code(api, project):
    make_campaign(project)
    return api.put("participants/u-7", {"email": "anna@example.ru"}).json()["referral_code"]


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClickSpool]:
    """This process's spool, flushed by the test instead of its thread."""
    spool = ClickSpool(tmp_path / "spool" / "clicks", fsync=True)
    monkeypatch.setattr(spool_module, "_process_spool", spool)
    yield spool
    spool.close()


@pytest.fixture(params=["spool", "direct"])
def writes(request: pytest.FixtureRequest, settings, spool: ClickSpool) -> str:
    """Each SARAFAN_CLICK_WRITES mode (these tests run outside a transaction, as a server)."""
    settings.SARAFAN_CLICK_WRITES = request.param
    return str(request.param)


def _stored() -> list[Click]:
    flush_clicks()  # nothing to do with direct writes
    return list(Click.objects.order_by("id"))


def _visit(client: Client, code: str, agent: str, **headers: str):
    response = client.get(f"/r/{code}", HTTP_USER_AGENT=agent, **headers)
    assert response.status_code == 302
    return response


@pytest.mark.django_db(transaction=True)
def test_bot_clicks_are_recorded_as_bots_in_both_write_modes(code, writes):
    # Twice each: the first request goes through the redirect view, the second through the
    # middleware that answers remembered links.
    for agent in (TELEGRAM_PREVIEW, TELEGRAM_PREVIEW, "", "", PEOPLE["instagram"], CHROME):
        _visit(Client(), code, agent)
    _visit(Client(), code, CHROME, HTTP_SEC_CH_UA='"HeadlessChrome";v="131"')
    assert Click.objects.count() == (7 if writes == "direct" else 0)
    clicks = _stored()
    assert [(c.is_bot, c.bot_reason) for c in clicks] == [
        (True, "crawler"),
        (True, "crawler"),
        (True, "no_user_agent"),
        (True, "no_user_agent"),
        (False, ""),
        (False, ""),
        (True, "headless"),
    ]
    assert clicks[0].user_agent == TELEGRAM_PREVIEW


@pytest.mark.django_db(transaction=True)
def test_a_bot_gets_the_same_answer_as_a_person(code, writes):
    person = _visit(Client(), code, CHROME)
    bot = _visit(Client(), code, "curl/8.5.0")
    assert bot["Location"] == person["Location"]
    assert bot["Cache-Control"] == person["Cache-Control"]
    assert bot.cookies["sf_vid"].value
    assert {k: v for k, v in bot.cookies["sf_vid"].items() if k != "expires"} == {
        k: v for k, v in person.cookies["sf_vid"].items() if k != "expires"
    }
    assert [c.is_bot for c in _stored()] == [False, True]


@pytest.mark.django_db(transaction=True)
def test_cached_spooled_bot_redirect_makes_no_query(code, spool, django_assert_num_queries):
    _visit(Client(), code, TELEGRAM_PREVIEW)  # looks the link up, registers the spool file
    with django_assert_num_queries(0):
        _visit(Client(), code, TELEGRAM_PREVIEW)
    assert flush_clicks() == 2


@pytest.mark.django_db(transaction=True)
def test_click_spooled_before_the_upgrade_is_a_persons(code, spool, monkeypatch):
    """A line written without a bot reason (by the previous version) is read as not a bot."""

    def previous_encode(click: NewClick) -> bytes:
        record = json.loads(spool_file.encode(click))
        del record["bot_reason"]
        return json.dumps(record, separators=(",", ":")).encode() + b"\n"

    monkeypatch.setattr(spool_module, "encode", previous_encode)
    _visit(Client(), code, TELEGRAM_PREVIEW)
    assert flush_clicks() == 1
    click = Click.objects.get()
    assert (click.is_bot, click.bot_reason, click.user_agent) == (False, "", TELEGRAM_PREVIEW)


# --- paid-ad click ids ---------------------------------------------------------------------


def test_every_default_paid_ad_parameter_is_kept(client, code, settings):
    names = settings.SARAFAN_PAID_AD_PARAMS
    assert set(names) == {
        "gclid",
        "gbraid",
        "wbraid",
        "dclid",
        "yclid",
        "fbclid",
        "msclkid",
        "ttclid",
        "twclid",
        "li_fat_id",
        "epik",
        "rb_clickid",
    }
    client.get(f"/r/{code}", {name: f"v-{name}" for name in names} | {"other": "x"})
    assert Click.objects.get().click_ids == {name: f"v-{name}" for name in names}


@override_settings(SARAFAN_PAID_AD_PARAMS=("gclid", "msclkid"))
def test_paid_ad_parameters_are_those_of_the_setting(client, code):
    client.get(
        f"/r/{code}",
        {"MSCLKID": "m1", "gclid": "g1", "yclid": "y1", "prm_click_id": "p1", "utm_source": "x"},
    )
    click = Click.objects.get()
    assert click.click_ids == {"MSCLKID": "m1", "gclid": "g1", "prm_click_id": "p1"}
    assert click.utm == {"utm_source": "x"}
