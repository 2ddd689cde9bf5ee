"""Reading the values the model believes in, not only the text it writes: one pass scores every candidate 0..10 of
every key, for constrained decoding and for the value distribution (see evaluate.py for how they are reported).

Each value is scored as its whole continuation (its digit tokens and the delimiter after it, `,` or `}`). Later keys
are conditioned on the argmax values chosen for earlier keys, as constrained decoding would generate them. The
candidates of one key are fed side by side in one forward (tree attention) on one KV cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..data.rows import Row
from ..errors import HiddenParamsError
from ..model.generation import DEFAULT_BATCH_SIZE, Batch, left_pad, model_device, sorted_batches
from ..schema import KEYS, VALUES, json_prefix_for, to_json
from .score import Case, to_scale


class ConstrainedDecodingError(HiddenParamsError, ValueError):
    """The tokenizer cannot score values piece by piece (it merges tokens across a value's boundaries)."""


@dataclass(frozen=True)
class ValuePieces:
    """Token pieces of the canonical object: forced[k] precedes key k's value, candidates[k][v] is value v
    followed by its delimiter. forced[0] + candidates[0][v0] + forced[1] + ... + candidates[5][v5] == to_json."""

    forced: list[list[int]]
    candidates: list[list[list[int]]]


def value_pieces(tokenizer: Any) -> ValuePieces:
    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    last = len(KEYS) - 1
    delimiters = ["," if k < last else "}" for k in range(len(KEYS))]
    # json_prefix_for(key) starts with the previous value's delimiter, which belongs to that value's candidates.
    forced_text = [json_prefix_for(key).removeprefix(delimiters[k - 1] if k else "") for k, key in enumerate(KEYS)]
    pieces = ValuePieces(
        forced=[encode(t) for t in forced_text],
        candidates=[[encode(f"{v}{delimiters[k]}") for v in VALUES] for k in range(len(KEYS))],
    )
    # Piece-by-piece scoring is only the model's probability of the canonical text if the pieces tokenise as the
    # whole does; check on objects that use every candidate.
    for offset in range(len(VALUES)):
        values = [VALUES[(offset + k) % len(VALUES)] for k in range(len(KEYS))]
        text = to_json(dict(zip(KEYS, values)))
        joined_text = "".join(f"{forced_text[k]}{v}{delimiters[k]}" for k, v in enumerate(values))
        joined_ids = [t for k, v in enumerate(values) for t in pieces.forced[k] + pieces.candidates[k][v]]
        if joined_text != text or joined_ids != encode(text):
            raise ConstrainedDecodingError(
                f"the tokenizer does not split {text!r} at the value boundaries; constrained decoding and the "
                "distribution need a tokenizer that encodes digits and delimiters as separate tokens"
            )
    return pieces


@dataclass(frozen=True)
class _CandidateTree:
    """One key's candidates laid side by side after the context, fed in a single forward: each candidate token
    sees the context and the earlier tokens of its own candidate only (tree attention), so one pass gives every
    candidate's probability without copying the KV cache per candidate."""

    tokens: Any  # (T,) every candidate's tokens, one candidate after another
    depth: Any  # (T,) position of each token inside its candidate
    owner: Any  # (T,) the candidate (value index) each token belongs to
    # (T,) the logits slot that predicts each token: 0 is the last context token, 1 + t is tree token t
    source: Any
    visible: Any  # (T, T) bool: token t may attend to token u (same candidate, u <= t)

    @classmethod
    def build(cls, candidates: Sequence[Sequence[int]], device: Any) -> _CandidateTree:
        import torch

        tokens, depth, owner, source = [], [], [], []
        for v, candidate in enumerate(candidates):
            for j, token in enumerate(candidate):
                source.append(0 if j == 0 else len(tokens))  # the previous token is tree token len(tokens) - 1
                tokens.append(token)
                depth.append(j)
                owner.append(v)
        owner_t, depth_t = torch.tensor(owner), torch.tensor(depth)
        visible = (owner_t[:, None] == owner_t[None, :]) & (depth_t[None, :] <= depth_t[:, None])
        return cls(
            torch.tensor(tokens, device=device),
            depth_t.to(device),
            owner_t.to(device),
            torch.tensor(source, device=device),
            visible.to(device),
        )


def _score_batch(model: Any, pieces: ValuePieces, prompts: list[list[int]], pad_id: int) -> np.ndarray:
    """(rows, keys, values) log P(value's tokens + delimiter | prompt, forced text, argmax values of earlier keys).

    One forward per key on one KV cache: the tokens new to each row (the previous key's argmax candidate and this
    key's forced text; the prompt at the first key), left-padded, followed by this key's candidate tree. A
    candidate may be several tokens ("10" is two digit tokens in tekken) and is scored as a whole continuation.
    The tree is then cropped from the cache. Padding stays in the cache, masked; explicit position ids skip it.
    """
    import torch

    device = model_device(model)
    dtype = next(model.parameters()).dtype
    n_rows = len(prompts)
    scores = torch.empty((n_rows, len(KEYS), len(VALUES)))
    seen = torch.zeros((n_rows, 0), dtype=torch.bool, device=device)  # real (non-padding) slots in the cache
    next_position = torch.zeros(n_rows, dtype=torch.long, device=device)
    pending = [p + pieces.forced[0] for p in prompts]
    cache = None
    for k in range(len(KEYS)):
        tree = _CandidateTree.build(pieces.candidates[k], device)
        ids, real = left_pad(pending, pad_id, device)
        real = real.bool()
        width, size = ids.shape[1], len(tree.tokens)
        end = next_position + real.sum(-1)  # the first tree token's position
        # Padding gets a real token's position, never -1: Ministral-3's Llama-4 attention scaling takes
        # log(1 + floor(position / original context)), and log(0) would turn the padding's states into NaN.
        positions = torch.cat(
            [next_position[:, None] + (real.cumsum(-1) - 1).clamp(min=0), end[:, None] + tree.depth], -1
        )

        # keys: [cache | pending | tree]; queries: [pending | tree]
        causal = torch.ones((width, width), dtype=torch.bool, device=device).tril()
        pending_rows = torch.cat(
            [
                seen[:, None, :].expand(-1, width, -1),
                # a padding query sees itself only: a fully masked row would be NaN
                (causal & real[:, None, :]) | torch.eye(width, dtype=torch.bool, device=device),
                torch.zeros((n_rows, width, size), dtype=torch.bool, device=device),
            ],
            -1,
        )
        tree_rows = torch.cat(
            [
                seen[:, None, :].expand(-1, size, -1),
                real[:, None, :].expand(-1, size, -1),
                tree.visible.expand(n_rows, -1, -1),
            ],
            -1,
        )
        allowed = torch.cat([pending_rows, tree_rows], 1)[:, None]
        # An additive float mask works with every attention implementation that takes a 4D mask (eager, sdpa).
        mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)

        out = model(
            input_ids=torch.cat([ids, tree.tokens.expand(n_rows, -1)], -1),
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            logits_to_keep=size + 1,
        )
        logits = out.logits.float()  # slot 0: the last pending token (always real: left padding); then the tree
        picked = logits[:, tree.source, tree.tokens] - logits.logsumexp(-1)[:, tree.source]
        total = torch.zeros((n_rows, len(VALUES)), device=device).index_add_(1, tree.owner, picked)
        scores[:, k] = total.cpu()

        cache = out.cache
        cache.crop(-size)  # the tree was only for scoring; the chosen candidate is fed with the next key
        seen = torch.cat([seen, real], -1)
        next_position = end
        if k + 1 < len(KEYS):
            pending = [pieces.candidates[k][v] + pieces.forced[k + 1] for v in total.argmax(-1).tolist()]
    return scores.numpy()


def score_values(
    model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[Batch]:
    """Per batch, `outputs` holds one (keys, values) array of candidate log-probabilities per row."""
    import torch

    pieces = value_pieces(tokenizer)
    for indices, prompts in sorted_batches(tokenizer, texts, batch_size):
        with torch.inference_mode():
            yield Batch(indices, list(_score_batch(model, pieces, prompts, tokenizer.pad_token_id)))


@dataclass(frozen=True)
class ValueDistribution:
    """Arrays over (rows, keys[, values]) from the candidate log-probabilities."""

    probs: np.ndarray  # normalised over 0..10
    argmax: np.ndarray
    expected: np.ndarray
    std: np.ndarray
    mass: np.ndarray  # unnormalised probability of all 11 candidates: how much the model puts on valid values

    @classmethod
    def from_logprobs(cls, logprobs: np.ndarray) -> ValueDistribution:
        values = np.array(VALUES, dtype=np.float64)
        peak = logprobs.max(-1, keepdims=True)
        weights = np.exp(logprobs - peak)
        probs = weights / weights.sum(-1, keepdims=True)
        expected = (probs * values).sum(-1)
        std = np.sqrt((probs * (values - expected[..., None]) ** 2).sum(-1))
        mass = np.exp(peak[..., 0]) * weights.sum(-1)
        return cls(probs, values[logprobs.argmax(-1)].astype(np.int64), expected, std, mass)


def _mae(pred: np.ndarray, target: np.ndarray) -> tuple[float | None, dict[str, float | None]]:
    if len(target) == 0:
        return None, dict.fromkeys(KEYS)
    per_key = np.abs(pred - target).mean(0)
    return float(per_key.mean()), {k: float(v) for k, v in zip(KEYS, per_key)}


@dataclass
class VsHeadline:
    """The readings against the evaluation's headline (its free generations, as its decoding settings say), on the
    rows where the headline gave a valid object. `against` names that reference: `greedy decoding`, or the sampling
    settings and seed."""

    against: str
    rows: int
    note: str
    mae: dict[str, float | None]  # headline, argmax, expected, expected_rounded
    expected_beats_headline: bool | None  # None: the headline produced no valid object to compare with
    expected_rounded_beats_headline: bool | None


@dataclass
class DistributionReport:
    """Argmax, expected value (unrounded and rounded to the scale) and spread per key. `to_json()` is
    distribution.json; `context` (model, inputs, provenance, config) is what the eval run adds in front."""

    total: int
    conditioning: str
    mae: dict[str, float | None]  # argmax, expected, expected_rounded
    mae_per_key: dict[str, dict[str, float | None]]
    mean_std: dict[str, float]
    mean_valid_mass: dict[str, float]
    vs_headline: VsHeadline | None
    cases: list[dict[str, Any]]
    context: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        own = {k: v for k, v in asdict(self).items() if k != "context" and not (k == "vs_headline" and v is None)}
        return {**self.context, **own}


def distribution_report(
    rows: Sequence[Row], dist: ValueDistribution, headline: Sequence[Case] | None, against: str = "greedy decoding"
) -> DistributionReport:
    """The distribution against the targets and, on the rows where the headline (`against`: how it decoded) gave a
    valid object, against the headline."""
    targets = np.array([[r.hidden_params[k] for k in KEYS] for r in rows], dtype=np.float64)
    readings = {"argmax": dist.argmax, "expected": dist.expected, "expected_rounded": to_scale(dist.expected)}
    maes = {name: _mae(pred, targets) for name, pred in readings.items()}
    vs_headline = None
    if headline is not None:
        valid = np.array([c.valid for c in headline])
        headline_pred = np.array([c.prediction for c in headline if c.valid], dtype=np.float64)
        on_valid = {"headline": _mae(headline_pred.reshape(-1, len(KEYS)), targets[valid])[0]}
        on_valid |= {name: _mae(pred[valid], targets[valid])[0] for name, pred in readings.items()}
        headline_mae = on_valid["headline"]
        vs_headline = VsHeadline(
            against=against,
            rows=int(valid.sum()),
            note=f"MAE on the rows where {against} produced a valid object (the same rows for each reading)",
            mae=on_valid,
            expected_beats_headline=None if headline_mae is None else on_valid["expected"] < headline_mae,
            expected_rounded_beats_headline=None
            if headline_mae is None
            else on_valid["expected_rounded"] < headline_mae,
        )
    cases = [
        {
            "id": row.id,
            "target": [row.hidden_params[k] for k in KEYS],
            "argmax": dist.argmax[i].tolist(),
            "expected": np.round(dist.expected[i], 4).tolist(),
            "std": np.round(dist.std[i], 4).tolist(),
            "probs": {k: np.round(dist.probs[i, j], 4).tolist() for j, k in enumerate(KEYS)},
        }
        for i, row in enumerate(rows)
    ]
    return DistributionReport(
        total=len(rows),
        conditioning="each key given the argmax values of the keys before it (as constrained decoding)",
        mae={name: mae for name, (mae, _) in maes.items()},
        mae_per_key={name: per_key for name, (_, per_key) in maes.items()},
        mean_std={k: float(v) for k, v in zip(KEYS, dist.std.mean(0))},
        mean_valid_mass={k: float(v) for k, v in zip(KEYS, dist.mass.mean(0))},
        vs_headline=vs_headline,
        cases=cases,
    )
