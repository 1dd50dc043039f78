"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with keys from settings.

Keys, in order:
- `TALLY_ENCRYPTION_KEY`: one Fernet key, or several separated by commas (the first encrypts,
  all decrypt, so a key can be rotated without re-encrypting first);
- a key derived from `SECRET_KEY` with HKDF-SHA256. It encrypts when no explicit key is set and
  always decrypts, so values written before TALLY_ENCRYPTION_KEY was introduced stay readable.

    token_encrypted = encrypt_text("s3cret")
    decrypt_text(token_encrypted)  # "s3cret"
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_HKDF_INFO = b"tally:fernet:v1"


class DecryptionFailed(Exception):
    """The value was not encrypted with any key this installation knows."""


def derive_key(secret: str) -> bytes:
    """A Fernet key (urlsafe base64 of 32 bytes) derived from an arbitrary secret."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


def _configured_keys() -> list[bytes]:
    raw = (getattr(settings, "TALLY_ENCRYPTION_KEY", "") or "").strip()
    keys = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            Fernet(part.encode())
        except ValueError:
            raise ImproperlyConfigured(
                "TALLY_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64-encoded bytes, e.g. from "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
                ", separated by commas."
            ) from None
        keys.append(part.encode())
    return keys


def _fernet() -> MultiFernet:
    derived = derive_key(settings.SECRET_KEY)
    keys = _configured_keys()
    ordered = [*keys, derived] if derived not in keys else keys
    return MultiFernet([Fernet(k) for k in ordered])


def encrypt_text(plaintext: str) -> str:
    """The encrypted form of `plaintext`, as ASCII text fit for a TextField."""
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt_text(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionFailed(
            "The value cannot be decrypted with TALLY_ENCRYPTION_KEY or the SECRET_KEY-derived key."
        ) from exc
