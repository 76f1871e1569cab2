"""The development mailer: e-mails written to the console as readable text, secrets masked.

With an http base URL or no SMTP host (settings.py) certificate e-mails are printed instead
of sent, and whatever prints them ends up in the worker's log. This backend writes the
headers and the plain text a person reads, with the secrets the sender marked
(`mark_secrets`) and every known secret shape (core/logging.py) masked; the HTML
alternative and the attachments (a QR code is a certificate code too) are only named.
"""

from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends.console import EmailBackend as ConsoleBackend

from .logging import mask_secrets

SECRETS_ATTRIBUTE = "sarafan_secrets"
RULE = "-" * 79


def mark_secrets(message: EmailMessage, *values: str) -> None:
    """Tell the development mailer which strings of `message` must never be shown."""
    known = getattr(message, SECRETS_ATTRIBUTE, ())
    setattr(message, SECRETS_ATTRIBUTE, (*known, *(value for value in values if value)))


def readable(message: EmailMessage) -> str:
    """The message as a person reads it, its secrets masked."""
    secrets: tuple[str, ...] = getattr(message, SECRETS_ATTRIBUTE, ())
    lines = [
        f"From: {message.from_email}",
        f"To: {', '.join(message.to)}",
        *([f"Cc: {', '.join(message.cc)}"] if message.cc else []),
        f"Subject: {message.subject}",
        "",
        message.body.rstrip("\n"),
    ]
    alternatives = getattr(message, "alternatives", [])
    others = [
        f"[{alternative.mimetype} alternative, not shown]" for alternative in alternatives
    ] + [f"[attachment {_attachment_name(item)}, not shown]" for item in message.attachments]
    if others:
        lines += ["", *others]
    return mask_secrets("\n".join(lines), secrets)


def _attachment_name(item: Any) -> str:
    # An attachment is a (filename, content, mimetype) tuple or a MIME part.
    filename = item.get_filename() if hasattr(item, "get_filename") else item[0]
    return str(filename or "unnamed")


class MaskedConsoleBackend(ConsoleBackend):
    """Django's console mailer (stdout, one message after another), writing `readable`."""

    def write_message(self, message: EmailMessage) -> None:
        self.stream.write(f"{readable(message)}\n{RULE}\n")
