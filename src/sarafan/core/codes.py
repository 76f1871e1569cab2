"""Human-facing codes: referral codes and certificate codes.

The alphabet leaves out 0/O and 1/I/L so a code read aloud or off a receipt is never
ambiguous; codes are compared in upper case.
"""

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERRAL_CODE_LENGTH = 8
CERTIFICATE_CODE_GROUPS = 4
PIN_LENGTH = 6


def new_referral_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


def new_certificate_code() -> str:
    """`SF-XXXX-XXXX-XXXX-XXXX`: 16 symbols, about 79 bits."""
    groups = (
        "".join(secrets.choice(ALPHABET) for _ in range(4)) for _ in range(CERTIFICATE_CODE_GROUPS)
    )
    return "SF-" + "-".join(groups)


def new_pin() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(PIN_LENGTH))


def normalize_code(code: str) -> str:
    return code.strip().upper()
