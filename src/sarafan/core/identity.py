"""Identities in canonical form, so that aliases of one person compare equal.

Pure functions: e-mail (provider alias rules), phone (E.164), IP address and its
subnet, user agent, personal names; block-list matching. What a person told or showed
us travels as an Identity; the anti-fraud app turns it into signals (fraud/signals.py).
"""

import contextlib
import difflib
import fnmatch
import ipaddress
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from disposable_email_domains import blocklist

# Providers that deliver login+tag@domain to login@domain. None of them allows "+" in a
# login, so dropping the tag never merges two real mailboxes. For GMX and Rambler the
# delivery of +tag is not documented; they are listed on that safety argument alone.
PLUS_TAG_DOMAINS = frozenset(
    {
        # Microsoft consumer mail
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        # Apple iCloud Mail
        "icloud.com",
        "me.com",
        "mac.com",
        # Fastmail
        "fastmail.com",
        "fastmail.fm",
        # Zoho Mail
        "zoho.com",
        "zohomail.com",
        # Mail.ru group
        "mail.ru",
        "bk.ru",
        "inbox.ru",
        "list.ru",
        "internet.ru",
        # Rambler
        "rambler.ru",
    }
)
# gmx.de, gmx.net, gmx.co.uk, …: same rule as PLUS_TAG_DOMAINS.
PLUS_TAG_FAMILY = re.compile(r"gmx\.(?:com?\.)?[a-z]{2,3}")

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})  # dots are ignored, +tag dropped

# Proton's own web client canonicalizes its addresses by dropping +tag and ".", "_", "-".
PROTON_DOMAINS = frozenset({"protonmail.com", "protonmail.ch", "proton.me", "pm.me"})

# One Yandex mailbox answers on all these domains; "." and "-" in a login are the same.
YANDEX_DOMAINS = frozenset(
    {
        "yandex.ru",
        "yandex.com",
        "yandex.by",
        "yandex.kz",
        "yandex.ua",
        "yandex.com.tr",
        "ya.ru",
        "narod.ru",
    }
)

# Yahoo disposable addresses are basename-keyword@yahoo.*; a Yahoo login cannot contain
# "-", so everything from the first "-" on names the same account.
YAHOO_FAMILY = re.compile(r"yahoo\.(?:com?\.)?[a-z]{2,3}")

MAX_USER_AGENT = 500
GLOB_CHARS = frozenset("*?[")


# A quoted local part ("kira"@…, "k\\ira"@…) is the same mailbox as the bare one
# (RFC 5321 4.1.2): quotes go, and a backslash stands for the character after it.
_QUOTING = re.compile(r'\\(.)|"')


def _unquote_local(local: str) -> str:
    return _QUOTING.sub(lambda match: match.group(1) or "", local)


def split_email(email: str) -> tuple[str, str] | None:
    """Lower-cased, unquoted local part and domain (IDN as punycode), or None if not one "@"."""
    value = email.strip().casefold()
    # A quoted local part may itself hold an "@": the domain follows the last one.
    split = value.rpartition if value.startswith('"') else value.partition
    local, at, domain = split("@")
    if not at or not local or not domain or "@" in domain:
        return None
    local = _unquote_local(local)
    if not local:
        return None
    if not domain.isascii():
        # An invalid IDN is compared as written.
        with contextlib.suppress(UnicodeError):
            domain = domain.encode("idna").decode("ascii")
    return local, domain


def _canonical_mailbox(local: str, domain: str) -> tuple[str, str]:
    if domain in GMAIL_DOMAINS:
        return local.partition("+")[0].replace(".", ""), "gmail.com"
    if domain in YANDEX_DOMAINS:
        return local.partition("+")[0].replace(".", "-"), "yandex.ru"
    if domain in PROTON_DOMAINS:
        return re.sub(r"[._-]", "", local.partition("+")[0]), domain
    if YAHOO_FAMILY.fullmatch(domain):
        return local.partition("-")[0], domain
    if domain in PLUS_TAG_DOMAINS or PLUS_TAG_FAMILY.fullmatch(domain):
        return local.partition("+")[0], domain
    return local, domain


def normalize_email(email: str) -> str:
    """The canonical mailbox: lower-case, punycode domain, provider aliases folded.

    Input without exactly one "@" or with an empty side comes back stripped and
    lower-cased; an address whose alias rules would leave an empty login is kept as is.
    """
    parts = split_email(email)
    if parts is None:
        return email.strip().casefold()
    local, domain = parts
    canonical_local, canonical_domain = _canonical_mailbox(local, domain)
    return f"{canonical_local or local}@{canonical_domain}"


def email_domain(email: str) -> str:
    """The domain of the normalized address, "" if there is none."""
    parts = split_email(normalize_email(email))
    return parts[1] if parts else ""


def is_disposable_email(email: str) -> bool:
    """Whether the domain, or a parent domain of it, is a known throw-away mail service."""
    labels = email_domain(email).split(".")
    return any(".".join(labels[i:]) in blocklist for i in range(len(labels) - 1))


def normalize_phone(phone: str, region: str = "RU") -> str | None:
    """E.164 form, or None when it does not parse or has an impossible length.

    `region` reads national numbers ("8 912 …" in RU). Only the length is checked
    (is_possible_number), not the numbering plan, so test and newly issued ranges pass.
    """
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def normalize_ip(ip: str) -> str | None:
    """The canonical address (IPv4-mapped IPv6 as IPv4), or None if it is not one."""
    address = _ip(ip)
    return str(address) if address else None


def ip_network(ip: str) -> str | None:
    """The /24 of an IPv4 address or the /64 of an IPv6 one, or None if invalid.

    One household or one mobile carrier's customer usually stays inside these.
    """
    address = _ip(ip)
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Network((int(address), 24), strict=False))
    return str(ipaddress.IPv6Network((int(address), 64), strict=False))


def ip_in_range(ip: str, cidr: str) -> bool:
    """Whether the address is inside the network; a bare address is a /32 or /128."""
    address = _ip(ip)
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return False
    return address is not None and address.version == network.version and address in network


def normalize_user_agent(ua: str) -> str:
    """Whitespace collapsed, cut to 500 characters."""
    return " ".join(ua.split())[:MAX_USER_AGENT].rstrip()


def email_matches(email: str, pattern: str) -> bool:
    """Whether a block-list pattern (shell glob, any case) matches the address.

    The glob is tried on the address as written and on its normalized form; a pattern
    without wildcards is a mailbox, so all of its aliases match too.
    """
    glob = pattern.strip().casefold()
    if not glob:
        return False
    candidates = {email.strip().casefold(), normalize_email(email)}
    if any(fnmatch.fnmatchcase(candidate, glob) for candidate in candidates):
        return True
    return not GLOB_CHARS & set(glob) and normalize_email(glob) in candidates


# A plain romanization (close to the passport one); "ё" is folded to "е" first.
CYRILLIC_TO_LATIN = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh",
        "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n",
        "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
        "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y",
        "ь": "", "э": "e", "ю": "yu", "я": "ya", "і": "i", "ї": "yi", "є": "ye",
        "ґ": "g", "ў": "u",
    }
)  # fmt: skip
NAME_TYPO_RATIO = 0.85
MIN_SINGLE_NAME = 5


def _name_tokens(name: str) -> list[str]:
    """Latin letters only, without diacritics, in sorted order."""
    text = unicodedata.normalize("NFC", name).casefold().replace("ё", "е")
    text = text.translate(CYRILLIC_TO_LATIN)
    text = unicodedata.normalize("NFKD", text).replace("'", "").replace("’", "")
    letters = "".join(ch if ch.isalpha() else " " for ch in text if not unicodedata.combining(ch))
    return sorted(letters.split())


def similar_names(a: str, b: str) -> bool:
    """Whether two personal names plausibly belong to one person (a weak signal).

    Both names are folded (case, diacritics, "ё", punctuation, Cyrillic romanized) and
    their words sorted, so swapped first and last names compare equal. With at least two
    words on both sides they match when equal or when difflib's ratio is >= 0.85 (a typo).
    Otherwise only an exact match of one word of 5+ letters counts: "Ivan" alone, or
    names under 3 letters in all, never match.
    """
    tokens_a, tokens_b = _name_tokens(a), _name_tokens(b)
    if min(len("".join(tokens_a)), len("".join(tokens_b))) < 3:
        return False
    if len(tokens_a) < 2 or len(tokens_b) < 2:
        return tokens_a == tokens_b and len(tokens_a[0]) >= MIN_SINGLE_NAME
    first, second = sorted([" ".join(tokens_a), " ".join(tokens_b)])
    if first == second:
        return True
    # ratio() depends on argument order; a fixed order keeps the answer symmetric.
    return difflib.SequenceMatcher(None, first, second).ratio() >= NAME_TYPO_RATIO


@dataclass(frozen=True, slots=True)
class Identity:
    """What a participant or a visitor told or showed us, as received."""

    email: str | None = None
    phone: str | None = None
    device_id: str | None = None
    visitor_id: str | None = None
    card_fingerprint: str | None = None
    ip: str | None = None
    user_agent: str | None = None
