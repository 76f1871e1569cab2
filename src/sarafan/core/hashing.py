"""Keyed hashes for identifiers that must be compared but never stored in clear."""

import hashlib
import hmac

from django.conf import settings


def keyed_hash(value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of value under SECRET_KEY and a purpose, hex; equal inputs hash equal."""
    key = hashlib.sha256(f"{purpose}:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """Plain SHA-256 for high-entropy secrets (API keys): fast lookups, nothing to guess."""
    return hashlib.sha256(token.encode()).hexdigest()
