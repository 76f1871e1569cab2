"""Public ids: a type prefix and a random, URL-safe body (`rwd_4fX…`)."""

import re
import secrets
import string
from collections.abc import Callable

_ALPHABET = string.ascii_letters + string.digits
BODY_LENGTH = 20


# A database row id as a console form or query string gives it: ASCII digits that fit in a
# bigint (str.isdigit() also takes "²", which int() refuses, and any length).
_ROW_ID = re.compile(r"[0-9]{1,18}", re.ASCII)


def row_id(text: str) -> int | None:
    """The row id written in `text`, or None when it is not one."""
    return int(text) if _ROW_ID.fullmatch(text) else None


def new_public_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(BODY_LENGTH))


def public_id_factory(prefix: str) -> Callable[[], str]:
    """A model field default that makes ids of one type; named so migrations can import it."""
    factory = _FACTORIES.get(prefix)
    if factory is None:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return factory


def _campaign_id() -> str:
    return new_public_id("cmp")


def _participant_id() -> str:
    return new_public_id("prt")


def _link_id() -> str:
    return new_public_id("lnk")


def _event_id() -> str:
    return new_public_id("evt")


def _referral_id() -> str:
    return new_public_id("ref")


def _reward_id() -> str:
    return new_public_id("rwd")


def _certificate_id() -> str:
    return new_public_id("crt")


def _project_id() -> str:
    return new_public_id("prj")


def _stop_rule_id() -> str:
    return new_public_id("srl")


def _alert_id() -> str:
    return new_public_id("alr")


def _decision_id() -> str:
    return new_public_id("dec")


def _brand_id() -> str:
    return new_public_id("brd")


def _pool_id() -> str:
    return new_public_id("pol")


def _issuer_id() -> str:
    return new_public_id("iss")


_FACTORIES: dict[str, Callable[[], str]] = {
    "cmp": _campaign_id,
    "prt": _participant_id,
    "lnk": _link_id,
    "evt": _event_id,
    "ref": _referral_id,
    "rwd": _reward_id,
    "crt": _certificate_id,
    "prj": _project_id,
    "srl": _stop_rule_id,
    "alr": _alert_id,
    "dec": _decision_id,
    "brd": _brand_id,
    "pol": _pool_id,
    "iss": _issuer_id,
}
