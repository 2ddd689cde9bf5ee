"""What a deployment calls: load a model once, turn request texts into parameters many times.

Same batched greedy generation and the same strict parser as the evaluation, so a prediction here is exactly what
`hiddenparams eval` scored.

    predictor = Predictor.load(model_id="user/merged")           # or base_model_id=..., adapter_model_id=...
    predictor.predict(["rainy-day jazz"])
    # [{"request_text": "rainy-day jazz", "params": {"energy": 2, ...}}]
    # or, when the output is not a valid object: {"request_text": ..., "error": "<reason>", "output": "<raw text>"}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .evaluate import DEFAULT_BATCH_SIZE, generate_all
from .model import load_for_inference
from .schema import parse_strict


def check_texts(texts: Sequence[str]) -> None:
    """A blank request has nothing to answer; say which one before any model work."""
    for i, text in enumerate(texts, start=1):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"request {i} is blank: give non-blank request texts")


def prediction(request_text: str, output: str) -> dict[str, Any]:
    parsed = parse_strict(output)
    if parsed.valid:
        return {"request_text": request_text, "params": parsed.params}
    return {"request_text": request_text, "error": parsed.message, "output": output}


@dataclass
class Predictor:
    model: Any
    tokenizer: Any
    description: dict[str, Any]
    batch_size: int = DEFAULT_BATCH_SIZE

    @classmethod
    def load(
        cls,
        model_id: str | None = None,
        base_model_id: str | None = None,
        adapter_model_id: str | None = None,
        device: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Predictor:
        """Full-model mode (`model_id`) or base+adapter mode; raises `model.ModelLoadError` with what to do."""
        model, tokenizer, description = load_for_inference(model_id, base_model_id, adapter_model_id, device)
        return cls(model, tokenizer, description, batch_size)

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One result per text, in order (see the module docstring for its shape)."""
        check_texts(texts)
        outputs = generate_all(self.model, self.tokenizer, list(texts), self.batch_size)
        return [prediction(text, output) for text, output in zip(texts, outputs)]
