"""What a deployment calls: load a model once, turn request texts into parameters many times.

Same batched generation (`generation.py`, greedy unless `Decoding` says otherwise) and the same strict parser as the
evaluation, so a prediction here is exactly what `hiddenparams eval` scored.

    predictor = Predictor.load(PredictConfig(model_id="user/merged"))  # or base_model_id=..., adapter_model_id=...
    predictor.predict(["rainy-day jazz"])
    # [{"request_text": "rainy-day jazz", "params": {"energy": 2, ...}}]
    # or, when the output is not a valid object: {"request_text": ..., "error": "<reason>", "output": "<raw text>"}

`read_requests` turns input lines into requests, one entry per line: a line that is no request (not JSON, no
"request_text", blank) becomes `{"line", "error"}` in its place, so output line N always answers input line N.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import flag
from ..errors import HiddenParamsError
from ..schema import parse_strict
from .generation import Decoding, context_warnings, generate_all
from .load import check_model_mode, load_for_inference


class RequestError(HiddenParamsError, ValueError):
    """A request cannot be answered as given (a blank text); the message names which one."""


def check_texts(texts: Sequence[str]) -> None:
    """A blank request has nothing to answer; say which one before any model work."""
    for i, text in enumerate(texts, start=1):
        if not isinstance(text, str) or not text.strip():
            raise RequestError(f"request {i} is blank: give non-blank request texts")


def _request(line: str, where: str, as_json: bool) -> dict[str, Any]:
    if not line.strip():
        return {"error": f"{where}: blank line: no request"}
    if not as_json:
        return {"request_text": line.strip()}
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"error": f"{where}: not a JSON line ({exc.msg})"}
    if not isinstance(obj, dict) or not isinstance(obj.get("request_text"), str) or not obj["request_text"].strip():
        return {"error": f'{where}: expected {{"request_text": "<non-blank text>"}}'}
    return {k: obj[k] for k in ("id", "request_text") if k in obj}


def read_requests(lines: Iterable[str], source: str, as_json: bool) -> list[dict[str, Any]]:
    """One entry per input line: a request (`request_text`, and `id` when a JSON line gives one), or
    `{"line", "error"}` for a line that is none. `as_json`: lines are `{"request_text": ...}` objects, else texts."""
    entries = []
    for lineno, line in enumerate(lines, start=1):
        entry = _request(line, f"{source}:{lineno}", as_json)
        entries.append({"line": lineno, **entry} if "error" in entry else entry)
    while entries and entries[-1].get("error", "").endswith("blank line: no request"):
        entries.pop()  # a file's trailing blank lines are its end, not requests
    return entries


def prediction(request_text: str, output: str) -> dict[str, Any]:
    parsed = parse_strict(output)
    if parsed.valid:
        return {"request_text": request_text, "params": parsed.params}
    return {"request_text": request_text, "error": parsed.message, "output": output}


@dataclass
class PredictConfig:
    """Which model answers (a full model, or a base and its adapter), how it decodes (`Decoding`: greedy by default,
    the batch size), on which device. A field here, and one of `Decoding`, is a `predict` (and `eval`) flag."""

    model_id: str | None = field(default=None, metadata=flag("Full model: Hub repo id or local folder."))
    base_model_id: str | None = field(
        default=None, metadata=flag("Base model of the adapter: Hub repo id or local folder.")
    )
    adapter_model_id: str | None = field(default=None, metadata=flag("PEFT adapter: Hub repo id or local folder."))
    device: str | None = field(default=None, metadata=flag("cpu, cuda, cuda:1 ... (default: cuda when available)."))
    decoding: Decoding = field(default_factory=Decoding)

    def validate(self, source: str = "config") -> None:
        check_model_mode(self.model_id, self.base_model_id, self.adapter_model_id)
        self.decoding.validate(source)

    def model_args(self) -> dict[str, str]:
        """The model fields that are set: what answers."""
        return {n: getattr(self, n) for n in ("model_id", "base_model_id", "adapter_model_id") if getattr(self, n)}


@dataclass
class Predictor:
    model: Any
    tokenizer: Any
    description: dict[str, Any]
    decoding: Decoding = field(default_factory=Decoding)
    warnings: list[str] = field(default_factory=list)  # of the last call: requests too long for the model

    @classmethod
    def load(cls, cfg: PredictConfig) -> Predictor:
        """Full-model mode (`model_id`) or base+adapter mode; raises `model.load.ModelLoadError` with what to do."""
        model, tokenizer, description = load_for_inference(
            cfg.model_id, cfg.base_model_id, cfg.adapter_model_id, cfg.device
        )
        return cls(model, tokenizer, description, cfg.decoding)

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One result per text, in order (see the module docstring for its shape)."""
        check_texts(texts)
        names = [f"request {i}" for i in range(1, len(texts) + 1)]
        self.warnings = context_warnings(self.model, self.tokenizer, texts, names, self.decoding.max_new_tokens)
        outputs = generate_all(self.model, self.tokenizer, list(texts), self.decoding)
        return [prediction(text, output) for text, output in zip(texts, outputs)]

    def predict_requests(self, entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One result per `read_requests` entry, in order: requests answered (their `id` kept), errors as given."""
        asked = [i for i, e in enumerate(entries) if "request_text" in e]
        answers = self.predict([entries[i]["request_text"] for i in asked])
        results = [dict(e) for e in entries]
        for i, answer in zip(asked, answers):
            results[i] |= answer
        return results
