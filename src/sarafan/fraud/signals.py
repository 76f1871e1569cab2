"""Identity signals: the canonical values (core/identity.py) of what a participant or a
visitor told or showed us, by signal kind, and the keyed hashes under which the anti-fraud
app stores each signal (never the clear value).
"""

from sarafan.core.hashing import keyed_hash
from sarafan.core.identity import (
    Identity,
    ip_network,
    normalize_email,
    normalize_ip,
    normalize_phone,
    normalize_user_agent,
    split_email,
)
from sarafan.fraud.models import SignalKind


def signal_values(identity: Identity, *, phone_region: str = "RU") -> dict[str, str]:
    """Normalized clear values by SignalKind; empty or invalid inputs are left out."""
    email = identity.email or ""
    ip = identity.ip or ""
    values = {
        SignalKind.EMAIL.value: normalize_email(email) if split_email(email) else None,
        SignalKind.PHONE.value: normalize_phone(identity.phone or "", phone_region),
        # Device ids (UUIDs, IDFAs, fingerprints) name one device in any letter case.
        SignalKind.DEVICE.value: (identity.device_id or "").strip().casefold(),
        SignalKind.VISITOR.value: (identity.visitor_id or "").strip(),
        SignalKind.CARD.value: (identity.card_fingerprint or "").strip(),
        SignalKind.IP.value: normalize_ip(ip),
        SignalKind.IP_NET.value: ip_network(ip),
        SignalKind.USER_AGENT.value: normalize_user_agent(identity.user_agent or ""),
    }
    return {kind: value for kind, value in values.items() if value}


def hashed_signals(identity: Identity, *, phone_region: str = "RU") -> dict[str, str]:
    """Keyed hashes of signal_values, purpose = kind (the redirect hashes click IPs so)."""
    values = signal_values(identity, phone_region=phone_region)
    return {kind: keyed_hash(value, purpose=kind) for kind, value in values.items()}
