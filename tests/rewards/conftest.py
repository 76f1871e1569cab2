"""Fixtures of the rewards tests."""

from tests.rewards.provider import provider
from tests.rewards.smtp import smtp

__all__ = ["provider", "smtp"]
