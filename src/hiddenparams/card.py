"""Model cards for what we push or write: base model, library, the exact prompt, the data and eval numbers."""

from __future__ import annotations

import json
from typing import Any

import yaml

from .prompt import SYSTEM_PROMPT, user_message
from .schema import KEYS, MAX_VALUE, MIN_VALUE

# kind -> (library, kind tag, title). A full fine-tune is full weights but no merge: no merge tag, no merge note.
KINDS = {
    "adapter-only": ("peft", "lora", "LoRA adapter"),
    "full": ("transformers", "full-finetune", "fully fine-tuned model"),
    "merged": ("transformers", "merged-lora", "merged model (base + LoRA adapter)"),
}


def model_card(base_model: str, kind: str, data_summary: dict[str, Any] | None = None,
               eval_summary: dict[str, Any] | None = None, extra: str = "") -> str:
    """`kind`: "adapter-only" (a PEFT LoRA adapter), "full" (a full fine-tune) or "merged" (base + adapter merged;
    the merge stage passes its note as `extra`)."""
    library, tag, title = KINDS[kind]
    meta: dict[str, Any] = {
        "base_model": base_model,
        "library_name": library,
        "pipeline_tag": "text-generation",
        "tags": ["hiddenparams", tag, "structured-output"],
    }
    lines = [
        "---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "",
        f"# hiddenparams {title} for {base_model}", "",
        f"Maps a free-text music request to six hidden parameters ({', '.join(KEYS)}), each an integer "
        f"{MIN_VALUE}..{MAX_VALUE}, answered as one strict JSON object.", "",
        "## Prompt", "", "System prompt:", "", "```text", SYSTEM_PROMPT, "```", "",
        "User message:", "", "```text", user_message("<request text>"), "```", "",
    ]  # fmt: skip
    if extra:
        lines += [extra, ""]
    if data_summary:
        lines += ["## Data", "", "```json", json.dumps(data_summary, indent=2), "```", ""]
    if eval_summary:
        lines += ["## Evaluation (strict scorer, real generations)", "", "```json", json.dumps(eval_summary, indent=2), "```", ""]
    return "\n".join(lines)
