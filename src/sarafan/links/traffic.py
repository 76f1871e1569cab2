"""Whether a click on a referral link came from a program rather than a person.

A link shared in a messenger is fetched at once by the messenger's link-preview robot, and
search engines, scripts and headless browsers follow links too. Their clicks are recorded
like any other (they still get the 302) but flagged, so that analytics and attribution
leave them out.

The verdict depends on the User-Agent alone (plus one client hint, checked on each call),
so it is remembered per User-Agent: a redirect parses a given one once per process. Only
the first MAX_USER_AGENT characters are looked at, which is what the click stores, and
what keeps the remembered strings small.
"""

from collections.abc import Mapping
from functools import lru_cache

from ua_parser import parse_device

from .models import BotReason

MAX_USER_AGENT = 500
# Distinct User-Agents remembered per process: a day of a busy installation's browsers.
# A few MB with real ones; about 15 MB at worst, were every string 500 characters long.
CACHE_SIZE = 20_000

# Substrings, not regular expressions: a case-insensitive alternation took 50 µs on a long
# User-Agent, these few `in` tests on the lower-cased string take a couple.

# Link previews and robots that ua_parser's regexes (as locked) do not call "Spider";
# TelegramBot, WhatsApp, facebookexternalhit, Facebot, Twitterbot, Slackbot, Discordbot,
# LinkedInBot, every Yandex robot, Googlebot, AdsBot-Google and many more it does.
MORE_CRAWLERS = (
    "vkshare",
    "skypeuripreview",
    "facebookcatalog",
    "embedly",
    "iframely",
    "link preview",  # Bitrix24, Quora, ICQ, …
    "url preview",
    "mediapartners-google",
    "googleother",
    "google-read-aloud",
    "chrome-lighthouse",
    "flipboardproxy",
    "xing-contenttabreceiver",
    "mattermost-",  # its server's fetcher; the desktop app is "Mattermost/5…"
    "yandex.com/bots",
)
# The Viber app's own fetch of a preview (its in-app browser sends a browser's User-Agent).
CRAWLER_PREFIXES = ("viber/",)
# Headless browsers as they announce themselves. "(KHTML, like Gecko) Electron/" is an
# Electron program that set no name of its own there: a script (Nightmare's default), not a
# desktop app such as Slack or Discord, which put theirs.
HEADLESS = (
    "headlesschrome",
    "phantomjs",
    "slimerjs",
    "puppeteer",
    "playwright",
    "nightmare",
    "(khtml, like gecko) electron/",
)
# HTTP libraries and command-line tools put their name first (the Apache-HttpClient inside
# LinkedInBot's User-Agent is a crawler's).
HTTP_CLIENT_PREFIXES = (
    "curl/",
    "wget/",
    "python",  # python-requests, Python-urllib, python-httpx, "Python/3.12 aiohttp/…"
    "aiohttp/",
    "httpx/",
    "go-http-client/",
    "java/",
    "apache-httpclient/",
    "okhttp/",
    "libwww-perl/",
    "lwp::",
    "postmanruntime/",
    "insomnia/",
    "httpie/",
    "node-fetch",
    "node/",
    "axios/",
    "undici",
    "got ",
    "guzzlehttp/",
    "php/",
    "ruby",
    "faraday ",
    "http.rb/",
    "dart/",
    "reqwest/",
    "winhttp",
)
HTTP_CLIENT_NAMES = frozenset({"node", "got", "curl", "wget"})
HTTP_CLIENT_TOKENS = ("powershell/",)


def bot_reason(user_agent: str, headers: Mapping[str, str]) -> str:
    """Why the client is a bot, or "" for a person's browser (in-app browsers included).

    `headers` are the request's by name; only the Sec-CH-UA client hint is read, whose
    brand list names HeadlessChrome where the User-Agent may not. The reason is a BotReason
    value: crawler (robots and link previews), headless, http_client or no_user_agent.
    The first call of a process loads ua_parser's rules (about 150 ms).
    """
    if "HeadlessChrome" in headers.get("Sec-CH-UA", ""):
        return BotReason.HEADLESS.value
    return _user_agent_reason(user_agent[:MAX_USER_AGENT])


@lru_cache(maxsize=CACHE_SIZE)
def _user_agent_reason(user_agent: str) -> str:
    lowered = user_agent.strip().lower()
    if not lowered:
        return BotReason.NO_USER_AGENT.value
    # Headless browsers and HTTP clients first: ua_parser calls some of them (Java,
    # Python-urllib, any name with "scraper" in it) spiders too.
    if any(token in lowered for token in HEADLESS):
        return BotReason.HEADLESS.value
    if (
        lowered.startswith(HTTP_CLIENT_PREFIXES)
        or lowered in HTTP_CLIENT_NAMES
        or any(token in lowered for token in HTTP_CLIENT_TOKENS)
    ):
        return BotReason.HTTP_CLIENT.value
    if lowered.startswith(CRAWLER_PREFIXES) or any(token in lowered for token in MORE_CRAWLERS):
        return BotReason.CRAWLER.value
    device = parse_device(user_agent)
    if device is not None and device.family == "Spider":
        return BotReason.CRAWLER.value
    return ""
