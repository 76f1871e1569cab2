"""Encryption at rest for personal data and secrets: Fernet tokens under rotating keys.

Keys come from SARAFAN_ENCRYPTION_KEYS (comma-separated Fernet keys). The first key
encrypts; every key decrypts, so rotation is: put a new key first, re-encrypt at leisure,
then drop the old one. With no keys configured, one key is derived from SECRET_KEY so a
laptop works with no setup (changing SECRET_KEY then makes old tokens unreadable).
"""

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_HKDF_INFO = b"sarafan encryption key v1"


class DecryptionFailed(Exception):
    """A token was tampered with, truncated, or made under a key no longer configured."""


def derive_key(secret: str) -> bytes:
    """A Fernet key derived from a secret with HKDF-SHA256 (no salt: the secret is random)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(raw)


@cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        return MultiFernet([Fernet(derive_key(secret_key))])
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "SARAFAN_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64-encoded bytes), "
            "comma-separated; make one with `python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'`."
        ) from exc


def _current() -> MultiFernet:
    # Read on every call (cached by value) so settings are never read at import time and
    # tests can override them.
    return _fernet(tuple(settings.SARAFAN_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(value: str) -> str:
    """The value as a Fernet token (text) under the first configured key."""
    return _current().encrypt(value.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """The clear text of a token made by `encrypt` under any configured key."""
    try:
        return _current().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionFailed(
            "the encrypted value cannot be read with the configured keys"
        ) from exc


def encrypt_bytes(value: bytes) -> bytes:
    """The bytes as a Fernet token (ASCII bytes) under the first configured key."""
    return _current().encrypt(value)


def decrypt_bytes(token: bytes) -> bytes:
    """The clear bytes of a token made by `encrypt_bytes` under any configured key."""
    try:
        return _current().decrypt(token)
    except InvalidToken as exc:
        raise DecryptionFailed(
            "the encrypted value cannot be read with the configured keys"
        ) from exc


def rotate(token: str) -> str:
    """The same value re-encrypted under the first key (for re-encrypting after rotation)."""
    try:
        return _current().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionFailed(
            "the encrypted value cannot be read with the configured keys"
        ) from exc
