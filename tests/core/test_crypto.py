"""Encryption at rest: round trip, key rotation, tampered tokens, the no-setup default key."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from sarafan.core.crypto import DecryptionFailed, decrypt, encrypt, rotate


def test_round_trip_keeps_unicode_and_hides_the_value():
    token = encrypt("Код-1234 ПИН")
    assert "1234" not in token
    assert decrypt(token) == "Код-1234 ПИН"
    assert encrypt("same") != encrypt("same")  # random IV: equal values do not look equal


def test_without_keys_a_key_derived_from_secret_key_is_used(settings):
    settings.SARAFAN_ENCRYPTION_KEYS = ()
    token = encrypt("abc")
    assert decrypt(token) == "abc"
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    with pytest.raises(DecryptionFailed):
        decrypt(token)


def test_rotation_new_key_encrypts_old_key_still_decrypts(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SARAFAN_ENCRYPTION_KEYS = (old,)
    old_token = encrypt("code-1")

    settings.SARAFAN_ENCRYPTION_KEYS = (new, old)
    assert decrypt(old_token) == "code-1"
    new_token = encrypt("code-2")
    assert Fernet(new.encode()).decrypt(new_token.encode()) == b"code-2"
    rotated = rotate(old_token)
    assert Fernet(new.encode()).decrypt(rotated.encode()) == b"code-1"

    settings.SARAFAN_ENCRYPTION_KEYS = (new,)
    assert decrypt(rotated) == "code-1"
    with pytest.raises(DecryptionFailed):
        decrypt(old_token)


def test_tampered_or_garbage_token_fails_cleanly():
    token = encrypt("code-1")
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    for bad in (flipped, token[:-5], "not a token", "", "ключ"):
        with pytest.raises(DecryptionFailed):
            decrypt(bad)


def test_a_malformed_key_is_a_configuration_error(settings):
    settings.SARAFAN_ENCRYPTION_KEYS = ("too-short",)
    with pytest.raises(ImproperlyConfigured):
        encrypt("x")
