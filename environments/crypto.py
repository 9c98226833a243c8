"""Encryption at rest for secrets (sensitive variables, Terraform state).

The key comes from `TERRACE_ENCRYPTION_KEY` (a Fernet key) or, if unset, is derived from `SECRET_KEY`.
"""
import base64
import hashlib
import json

from cryptography.fernet import Fernet
from django.conf import settings


def _fernet():
    key = getattr(settings, "TERRACE_ENCRYPTION_KEY", "") or base64.urlsafe_b64encode(
        hashlib.sha256(("terrace-encryption:" + settings.SECRET_KEY).encode()).digest()
    )
    return Fernet(key)


def encrypt_bytes(data: bytes) -> str:
    return _fernet().encrypt(data).decode()


def decrypt_bytes(token: str) -> bytes:
    return _fernet().decrypt(token.encode())


def encrypt_json(value) -> str:
    return encrypt_bytes(json.dumps(value).encode())


def decrypt_json(token: str):
    return json.loads(decrypt_bytes(token)) if token else {}
