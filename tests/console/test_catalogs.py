"""The Russian catalog is complete and compiled: a console for Russian-speaking marketers
must not fall back to English for any string the code has."""

import ast
import gettext
from pathlib import Path

import pytest

import sarafan

LOCALE = Path(sarafan.__file__).parent / "locale"


def _entries(po: Path) -> list[tuple[str, list[str]]]:
    """(msgid, [msgstr…]) of every entry but the header; msgctxt is folded into the id."""
    entries: list[tuple[str, list[str]]] = []
    msgid, field = "", ""
    strs: list[str] = []
    context: str | None = None

    def flush() -> None:
        if msgid:
            entries.append(((f"{context}\x04" if context is not None else "") + msgid, strs))

    for line in [*po.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            flush()
            msgid, strs, field, context = "", [], "", None
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            text = ast.literal_eval(line)
            if field == "msgid":
                msgid += text
            elif field == "msgctxt":
                context = (context or "") + text
            elif field == "msgstr":
                strs[-1] += text
        else:
            keyword, _space, rest = line.partition(" ")
            text = ast.literal_eval(rest)
            if keyword == "msgctxt":
                field, context = "msgctxt", text
            elif keyword == "msgid":
                field, msgid = "msgid", text
            elif keyword.startswith("msgstr"):
                field = "msgstr"
                strs.append(text)
            else:
                field = ""
    return entries


@pytest.mark.parametrize("language", ["ru", "en"])
def test_catalog_exists_and_is_compiled(language: str) -> None:
    assert (LOCALE / language / "LC_MESSAGES" / "django.po").exists()
    assert (LOCALE / language / "LC_MESSAGES" / "django.mo").exists()


def test_every_russian_message_is_translated_and_compiled() -> None:
    messages = LOCALE / "ru" / "LC_MESSAGES"
    entries = _entries(messages / "django.po")
    assert len(entries) > 100
    untranslated = [msgid for msgid, strs in entries if not all(strs)]
    assert untranslated == []

    with (messages / "django.mo").open("rb") as mo:
        compiled = vars(gettext.GNUTranslations(mo))["_catalog"]
    stale = [
        msgid for msgid, strs in entries if compiled.get(msgid, compiled.get((msgid, 0))) != strs[0]
    ]
    assert stale == [], "run compilemessages"
