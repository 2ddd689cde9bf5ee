"""Batched generation: what eval, predict and merge's checks all decode with, so a prediction is exactly what the
evaluation scored. How it decodes is one settings object, `Decoding` (greedy by default), passed whole from
`PredictConfig` / `EvalConfig` to `generate_outputs`: a new setting is a field there and a line in
`Decoding.generation_config`, nothing between.

Rows are sorted by prompt length (little padding per batch, and the batch that needs the most memory runs first, so
an out-of-memory batch size fails at once); prompts are left-padded so every row's next token is predicted at the
same position; `generate` stops a batch as soon as every row has emitted EOS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..config import ConfigError, flag
from ..prompt import prompt_messages
from ..schema import KEYS, MAX_VALUE, to_json
from .chat_format import render_ids

# Tokens a model may spend after the longest valid object (and its EOS) before we cut it off: enough to show
# what it would have added (trailing text makes the output invalid), small enough to stop a rambling model early.
MAX_NEW_TOKENS_MARGIN = 8
DEFAULT_BATCH_SIZE = 64


@dataclass
class Decoding:
    """How answers are generated. Greedy by default (temperature 0): the headline of an evaluation, and what a
    deployment gets. A temperature above 0 samples, seeded, so a sampled evaluation can be repeated to the token on the
    same device, batch size and versions. Each field is a flag of `eval` and `predict` and part of their config hash:
    a sampled run never shares a greedy run's hash."""

    temperature: float = field(default=0.0, metadata=flag("Sampling temperature; 0 decodes greedily (the default)."))
    top_p: float = field(default=1.0, metadata=flag("Sample from the smallest set of tokens this probable (nucleus)."))
    seed: int = field(default=0, metadata=flag("Seed of the sampling (with --temperature above 0)."))
    max_new_tokens: int | None = field(
        default=None,
        metadata=flag("Tokens generated per row at most (default: the longest valid object, its EOS and a margin)."),
    )
    batch_size: int = field(default=DEFAULT_BATCH_SIZE, metadata=flag("Rows generated together."))

    def validate(self, source: str = "config") -> None:
        rules = {  # field: (holds, what it must be)
            "temperature": (self.temperature >= 0, ">= 0 (0 decodes greedily)"),
            "top_p": (0 < self.top_p <= 1, "in (0, 1]"),
            "batch_size": (self.batch_size >= 1, ">= 1"),
            "max_new_tokens": (self.max_new_tokens is None or self.max_new_tokens >= 1, ">= 1"),
        }
        for name, (holds, rule) in rules.items():
            if not holds:
                raise ConfigError(f"{source}: field '{name}': must be {rule}, got {getattr(self, name)}")

    @classmethod
    def recorded(cls, decoding: dict[str, Any]) -> Decoding:
        """The settings a report's `decoding` records (a report from before sampling existed was greedy)."""
        return cls(**{f.name: decoding[f.name] for f in fields(cls) if f.name in decoding})

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def sampling(self) -> dict[str, Any]:
        """The settings that shape a sampled answer (what a report names); empty when decoding greedily."""
        if self.greedy:
            return {}
        return {k: v for k, v in asdict(self).items() if k not in ("max_new_tokens", "batch_size")}

    def label(self) -> str:
        """`greedy decoding`, or `sampling (temperature=0.7, seed=0)`: what a comparison names as its reference."""
        if self.greedy:
            return "greedy decoding"
        return "sampling (" + ", ".join(f"{k}={v}" for k, v in self.sampling().items()) + ")"

    def to_dict(self, tokenizer: Any = None) -> dict[str, Any]:
        """What a report records: every setting, the mode, and the token budget in effect (`max_new_tokens_for` when
        unset and a tokenizer is given)."""
        budget = self.max_new_tokens or (max_new_tokens_for(tokenizer) if tokenizer is not None else None)
        return {"mode": "greedy" if self.greedy else "sampling", **asdict(self), "max_new_tokens": budget}

    def generation_config(self, tokenizer: Any) -> Any:
        """An explicit generation config, so a repo's own defaults (its `generation_config.json` may sample) cannot
        leak into what is evaluated."""
        from transformers import GenerationConfig

        sampled = {} if self.greedy else {"temperature": self.temperature, "top_p": self.top_p}
        return GenerationConfig(
            max_new_tokens=self.max_new_tokens or max_new_tokens_for(tokenizer),
            do_sample=not self.greedy,
            num_beams=1,
            use_cache=True,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            **sampled,
        )


def prompt_ids(tokenizer: Any, request_text: str) -> list[int]:
    """The prompt exactly as training rendered it, ending where the assistant's answer starts."""
    return render_ids(tokenizer, prompt_messages(request_text), add_generation_prompt=True)


def max_new_tokens_for(tokenizer: Any) -> int:
    """Tokens of the longest valid object (every value 10: two digit tokens each in tekken), its EOS, a margin."""
    longest = to_json(dict.fromkeys(KEYS, MAX_VALUE))
    return len(tokenizer(longest, add_special_tokens=False)["input_ids"]) + 1 + MAX_NEW_TOKENS_MARGIN


def context_length(model: Any) -> int | None:
    """The longest sequence the model was built for (a VLM keeps it in its text config); None when unknown."""
    config = model.config
    config = getattr(config, "text_config", None) or config
    return getattr(config, "max_position_embeddings", None)


def too_long(model: Any, tokenizer: Any, texts: Sequence[str], max_new_tokens: int | None = None) -> list[int]:
    """Positions of the texts whose prompt plus answer does not fit the model's context: its output is not to be
    trusted (positions past the context were never trained)."""
    limit = context_length(model)
    if limit is None:
        return []
    budget = limit - (max_new_tokens or max_new_tokens_for(tokenizer))
    return [i for i, text in enumerate(texts) if len(prompt_ids(tokenizer, text)) > budget]


def context_warnings(
    model: Any, tokenizer: Any, texts: Sequence[str], names: Sequence[str], max_new_tokens: int | None = None
) -> list[str]:
    """A warning per over-long request (named by `names`), naming the model's context length."""
    return [
        f"{names[i]}: the prompt and its answer do not fit the model's context of {context_length(model)} tokens;"
        " the answer is unreliable (shorten the request)"
        for i in too_long(model, tokenizer, texts, max_new_tokens)
    ]


@dataclass(frozen=True)
class Batch:
    indices: list[int]  # positions of the rows in the caller's order
    outputs: list[Any]


def model_device(model: Any) -> Any:
    return next(model.parameters()).device


def sorted_batches(
    tokenizer: Any, texts: Sequence[str], batch_size: int
) -> Iterator[tuple[list[int], list[list[int]]]]:
    """(indices, prompt ids) per batch, longest prompts first."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    prompts = [prompt_ids(tokenizer, t) for t in texts]
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        yield indices, [prompts[i] for i in indices]


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int, device: Any) -> tuple[Any, Any]:
    """Left padding: every row's next token is then predicted at the same (last) position."""
    import torch

    width = max(map(len, sequences))
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq) :] = torch.tensor(seq)
            mask[row, width - len(seq) :] = 1
    return ids.to(device), mask.to(device)


def _decode(tokenizer: Any, tokens: Sequence[int]) -> str:
    """Text up to the first EOS. Special tokens are kept as text: a stray control token makes the output invalid
    instead of disappearing."""
    tokens = list(tokens)
    if tokenizer.eos_token_id in tokens:
        tokens = tokens[: tokens.index(tokenizer.eos_token_id)]
    return tokenizer.decode(tokens, skip_special_tokens=False)


def generate_outputs(
    model: Any, tokenizer: Any, texts: Sequence[str], decoding: Decoding | None = None
) -> Iterator[Batch]:
    """The generations for `texts` as `decoding` says (greedy by default), one `Batch` at a time as each finishes
    (rows sorted by prompt length)."""
    import torch

    decoding = decoding or Decoding()
    config = decoding.generation_config(tokenizer)
    if not decoding.greedy:
        torch.manual_seed(decoding.seed)
    device = model_device(model)
    for indices, prompts in sorted_batches(tokenizer, texts, decoding.batch_size):
        ids, mask = left_pad(prompts, tokenizer.pad_token_id, device)
        with torch.inference_mode():
            generated = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
        yield Batch(indices, [_decode(tokenizer, row) for row in generated[:, ids.shape[1] :].tolist()])


def generate_all(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    decoding: Decoding | None = None,
    on_batch: Callable[[Batch], None] | None = None,
) -> list[str]:
    """Every generation, in the order of `texts`; `on_batch` sees each batch as soon as it is done."""
    outputs: list[str] = [""] * len(texts)
    for batch in generate_outputs(model, tokenizer, texts, decoding):
        for i, output in zip(batch.indices, batch.outputs):
            outputs[i] = output
        if on_batch:
            on_batch(batch)
    return outputs
