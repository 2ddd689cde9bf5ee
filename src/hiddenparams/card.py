"""Model cards for what we push or write: base model, library, the exact prompt, the data and eval numbers."""

from __future__ import annotations

import json
from typing import Any

import yaml

from .prompt import SYSTEM_PROMPT, user_message
from .schema import KEYS, MAX_VALUE, MIN_VALUE


def model_card(base_model: str, kind: str, data_summary: dict[str, Any] | None = None,
               eval_summary: dict[str, Any] | None = None, extra: str = "") -> str:
    """`kind` is "adapter-only" (a PEFT LoRA adapter) or "full" (merged weights)."""
    meta: dict[str, Any] = {
        "base_model": base_model,
        "library_name": "peft" if kind == "adapter-only" else "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["hiddenparams", "lora" if kind == "adapter-only" else "merged-lora", "structured-output"],
    }
    lines = [
        "---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "",
        f"# hiddenparams {'LoRA adapter' if kind == 'adapter-only' else 'merged model'} for {base_model}", "",
        f"Maps a free-text music request to six hidden parameters ({', '.join(KEYS)}), each an integer "
        f"{MIN_VALUE}..{MAX_VALUE}, answered as one strict JSON object.", "",
        "## Prompt", "", "System prompt:", "", "```text", SYSTEM_PROMPT, "```", "",
        "User message:", "", "```text", user_message("<request text>"), "```", "",
    ]  # fmt: skip
    if kind == "full":
        lines += ["Merging simplifies deployment (one model, no PEFT at inference); it does not improve quality.", ""]
    if data_summary:
        lines += ["## Data", "", "```json", json.dumps(data_summary, indent=2), "```", ""]
    if eval_summary:
        lines += ["## Evaluation (strict scorer, real generations)", "", "```json", json.dumps(eval_summary, indent=2), "```", ""]
    if extra:
        lines += [extra, ""]
    return "\n".join(lines)
