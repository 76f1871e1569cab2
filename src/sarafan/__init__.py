"""Sarafan: a self-hosted referral-program engine."""

__version__ = "0.1.0"
