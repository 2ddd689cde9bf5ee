"""The one source of the system prompt and the user message. Every stage builds its messages here."""

from __future__ import annotations

from .schema import KEYS, MAX_VALUE, MIN_VALUE, Params, to_json

SYSTEM_PROMPT = (
    "You turn a music request into six hidden parameters. "
    f"Answer with exactly one JSON object with the keys {', '.join(KEYS)}, "
    f"each an integer from {MIN_VALUE} to {MAX_VALUE}, and nothing else."
)


def user_message(request_text: str) -> str:
    return f"Request: {request_text.strip()}"


def prompt_messages(request_text: str) -> list[dict[str, str]]:
    """System + user turns: what the model sees at training and at inference."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_message(request_text)},
    ]


def completion_messages(params: Params) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": to_json(params)}]
