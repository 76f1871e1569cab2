"""Error codes are declared once, per app (<app>/errors.py), each with its translated message."""

import re
from pathlib import Path

import pytest
from django.utils import translation

import sarafan
from sarafan.core.errors import Conflict, ErrorCode, declared, refusal, registered
from sarafan.moderation.errors import ModerationError
from sarafan.rewards.errors import RewardError

SRC = Path(sarafan.__file__).parent
# A member named in code: RewardError.NOT_WAITING, ModerationError.NOT_IN_REVIEW, …
MEMBER = re.compile(r"\b([A-Z][A-Za-z]*Error)\.([A-Z][A-Z0-9_]+)\b")
LITERAL = re.compile(r"\bcode=\"([a-z_]+)\"")
# The codes the console pages had their own texts for, and those rewards/ raises.
CONSOLE_CODES = {
    "not_in_review",
    "already_reversed",
    "already_paid_out",
    "budget_exhausted",
    "invalid_decision",
    "invalid_status_transition",
    "not_waiting",
    "brand_final",
    "limit_per_referrer",
    "nothing_to_send",
    "no_email",
    "email_disabled",
    "address_not_allowed",
    "csv_header",
    "too_many_rows",
    "csv_malformed",
}


def _sources() -> list[tuple[Path, str]]:
    return [
        (path, path.read_text())
        for path in sorted(SRC.rglob("*.py"))
        if "migrations" not in path.parts
    ]


def _enums() -> dict[str, type[ErrorCode]]:
    return {type(code).__name__: type(code) for code in declared()}


def test_every_code_named_in_the_source_is_declared_with_a_translated_message():
    enums = _enums()
    named = set()
    for path, text in _sources():
        for enum_name, member in MEMBER.findall(text):
            if enum_name not in enums:
                continue  # another class's attribute (ValidationError.…, and the like)
            assert member in enums[enum_name].__members__, f"{path}: {enum_name}.{member}"
            named.add(enums[enum_name][member])
    assert named >= {RewardError.NOT_WAITING, ModerationError.NOT_IN_REVIEW}
    for code in declared():
        assert registered(code.value) is code
        with translation.override("en"):
            english = str(code.message)
        with translation.override("ru"):
            russian = str(code.message)
        assert english.strip(), code
        assert russian != english, f"{code.value}: no Russian for {english!r}"
        assert re.search("[а-яё]", russian, re.IGNORECASE), code


def test_a_declared_code_is_raised_by_its_member_never_by_its_name_in_quotes():
    names = {code.value for code in declared()}
    for path, text in _sources():
        relative = path.relative_to(SRC)
        for literal in LITERAL.findall(text):
            # campaigns/ and referrals/ (below rewards) refuse their own status changes
            # under the same code.
            if literal == "invalid_status_transition" and relative.parts[0] in (
                "campaigns",
                "referrals",
            ):
                continue
            assert literal not in names, f"{relative}: code={literal!r}"
        if relative.parts[0] == "rewards":
            assert not LITERAL.search(text), f"{relative} names a code in quotes"


def test_the_console_codes_are_declared_once():
    assert {code for code in CONSOLE_CODES if registered(code) is None} == set()
    assert len({code.value for code in declared()}) == len(declared())
    with pytest.raises(TypeError, match="declared twice"):

        class Again(ErrorCode):
            NOT_WAITING = "not_waiting", "again"


def test_the_api_answers_english_and_the_console_the_readers_language():
    refused = Conflict(RewardError.NOT_WAITING)
    detailed = Conflict(
        "The referral is approved, not in review.", code=ModerationError.NOT_IN_REVIEW
    )
    with translation.override("ru"):
        assert refused.as_body()["error"] == {
            "type": "conflict",
            "code": "not_waiting",
            "message": "This reward is not waiting to be issued any more.",
            "param": None,
        }
        assert detailed.as_body()["error"]["message"] == "The referral is approved, not in review."
        assert refusal(refused) == "Это вознаграждение уже не ждёт выдачи."
        assert refusal(detailed) == str(ModerationError.NOT_IN_REVIEW.message)
        assert refusal(Conflict("Something else.", code="other")) == "Something else."
    assert type(refused.code) is str
