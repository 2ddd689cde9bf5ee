"""Secrets never leave this process in text: every ledger line, log line, report, card and error message passes
through `redact` (or `redact_obj`), which replaces anything shaped like a Hugging Face token and the exact value of
every token this process knows (HF_TOKEN, HUGGING_FACE_HUB_TOKEN, and any a backend resolved: `register_secret`)."""

from __future__ import annotations

import os
import re
from enum import Enum
from typing import Any

# Hugging Face user access tokens. The exact value of the current token is redacted too, whatever its shape.
TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{20,}")
REDACTED = "hf_***REDACTED***"
_MIN_SECRET_LENGTH = 8  # shorter values would redact ordinary words
_registered_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Redact this exact value from now on (the token a backend resolved, wherever it came from)."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _registered_secrets.add(value)


def redact(text: str) -> str:
    """`text` with every token-like string and every known secret value replaced."""
    secrets = set(_registered_secrets)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):  # the variables huggingface_hub reads a token from
        value = os.environ.get(name)
        if value and len(value) >= _MIN_SECRET_LENGTH:
            secrets.add(value)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return TOKEN_PATTERN.sub(REDACTED, text)


def redact_obj(obj: Any) -> Any:
    """`redact` applied to every string (keys included) of a JSON-like structure."""
    if isinstance(obj, Enum):
        obj = obj.value
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact(str(k)): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    return redact(str(obj))
