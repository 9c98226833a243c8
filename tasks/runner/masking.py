"""Masking of secret values in every line the runner persists or streams."""
import json

MASK = "***"


class Masker:
    """Replaces each known secret (and its JSON-encoded form) with ***. Short secrets are ignored: masking
    "a" would shred every line, and a one-character secret protects nothing anyway."""

    def __init__(self, secrets=()):
        self._found = set()
        self._secrets = []
        for value in secrets:
            self.add(value)

    def add(self, value):
        """Mask `value` too (a secret learned after the run started, e.g. its state credential)."""
        if value is None or isinstance(value, bool):
            return
        text = value if isinstance(value, str) else json.dumps(value)
        for form in (text, json.dumps(text)[1:-1]):
            if len(form) >= 3:
                self._found.add(form)
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted(self._found, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def data(self, value):
        """Mask every string inside a JSON-like structure."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value
