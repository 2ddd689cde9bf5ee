"""Evaluate real generations: batched greedy decoding -> `predictions.jsonl` -> the strict scorer (`score.py`).

Three ways of reading the model, reported apart (never mixed into the headline):
- greedy (the headline): free generation, scored strictly. This is what a deployment gets.
- constrained: only the values are chosen; the constant JSON text is forced, so every output is the valid object.
  Each value is the candidate 0..10 whose whole continuation (its digit tokens and the delimiter after it, `,` or
  `}`) the model finds most probable. Shows what the model knows when formatting cannot fail.
- distribution: the same per-position candidate probabilities, normalised over 0..10: argmax, expected value and
  its spread per key, and whether the expected value beats greedy decoding on MAE.
Constrained and distribution come from one pass (`score_values`). Later keys are conditioned on the argmax values
chosen for earlier keys, as constrained decoding would generate them.

Files written by `run_eval` under the output folder:
    predictions.jsonl             {"id", "output"} per row; written batch by batch (rows sorted by prompt length,
                                  so a crash keeps every finished batch, each line naming its row), then rewritten
                                  in data order once all rows are done
    eval_report.json              score.py's report + `model` (what was evaluated), `decoding` and `inputs`
    report.md, report.html        report.py's rendering
    constrained/                  the same three files for constrained decoding (with --constrained)
    distribution.json             `distribution_report` (with --distribution)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .chat_format import render_ids
from .rows import DataError, Row, read_rows
from .ledger import Ledger, LedgerEvent, RepoKind
from .prompt import prompt_messages
from .report import render_eval_report
from .schema import KEYS, MAX_VALUE, VALUES, json_prefix_for, to_json
from .score import _to_scale, score
from .errors import HiddenParamsError
from .hub import is_local

# Tokens a model may spend after the longest valid object (and its EOS) before we cut it off: enough to show
# what it would have added (trailing text makes the output invalid), small enough to stop a rambling model early.
MAX_NEW_TOKENS_MARGIN = 8
DEFAULT_BATCH_SIZE = 64

Progress = Callable[[int], None]  # called with the number of rows just finished


# --- batched greedy generation -------------------------------------------------------------------------------


def prompt_ids(tokenizer: Any, request_text: str) -> list[int]:
    """The prompt exactly as training rendered it, ending where the assistant's answer starts."""
    return render_ids(tokenizer, prompt_messages(request_text), add_generation_prompt=True)


def max_new_tokens_for(tokenizer: Any) -> int:
    """Tokens of the longest valid object (every value 10: two digit tokens each in tekken), its EOS, a margin."""
    longest = to_json(dict.fromkeys(KEYS, MAX_VALUE))
    return len(tokenizer(longest, add_special_tokens=False)["input_ids"]) + 1 + MAX_NEW_TOKENS_MARGIN


@dataclass(frozen=True)
class Batch:
    indices: list[int]  # positions of the rows in the caller's order
    outputs: list[Any]


def _device(model: Any) -> Any:
    return next(model.parameters()).device


def _sorted_batches(
    tokenizer: Any, texts: Sequence[str], batch_size: int
) -> Iterator[tuple[list[int], list[list[int]]]]:
    """(indices, prompt ids) per batch, longest prompts first: little padding per batch, and the batch that needs
    the most memory runs first, so an out-of-memory batch size fails at once rather than near the end."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    prompts = [prompt_ids(tokenizer, t) for t in texts]
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        yield indices, [prompts[i] for i in indices]


def _left_pad(sequences: Sequence[Sequence[int]], pad_id: int, device: Any) -> tuple[Any, Any]:
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
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_new_tokens: int | None = None,
) -> Iterator[Batch]:
    """Greedy generations for `texts`, one `Batch` at a time as each finishes (rows sorted by prompt length).

    Left padding, KV cache, stop at EOS; `generate` ends a batch as soon as every row has emitted EOS. An explicit
    generation config, so a repo's sampling defaults (temperature, top_p) cannot leak into the evaluation.
    """
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(
        max_new_tokens=max_new_tokens or max_new_tokens_for(tokenizer),
        do_sample=False,
        num_beams=1,
        use_cache=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    device = _device(model)
    for indices, prompts in _sorted_batches(tokenizer, texts, batch_size):
        ids, mask = _left_pad(prompts, tokenizer.pad_token_id, device)
        with torch.inference_mode():
            generated = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
        yield Batch(indices, [_decode(tokenizer, row) for row in generated[:, ids.shape[1] :].tolist()])


def generate_all(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[Batch], None] | None = None,
) -> list[str]:
    """Every generation, in the order of `texts`; `on_batch` sees each batch as soon as it is done."""
    outputs: list[str] = [""] * len(texts)
    for batch in generate_outputs(model, tokenizer, texts, batch_size):
        for i, output in zip(batch.indices, batch.outputs):
            outputs[i] = output
        if on_batch:
            on_batch(batch)
    return outputs


# --- value scoring: one mechanism for constrained decoding and the distribution ------------------------------


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

    device = _device(model)
    dtype = next(model.parameters()).dtype
    n_rows = len(prompts)
    scores = torch.empty((n_rows, len(KEYS), len(VALUES)))
    seen = torch.zeros((n_rows, 0), dtype=torch.bool, device=device)  # real (non-padding) slots in the cache
    next_position = torch.zeros(n_rows, dtype=torch.long, device=device)
    pending = [p + pieces.forced[0] for p in prompts]
    cache = None
    for k in range(len(KEYS)):
        tree = _CandidateTree.build(pieces.candidates[k], device)
        ids, real = _left_pad(pending, pad_id, device)
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
    for indices, prompts in _sorted_batches(tokenizer, texts, batch_size):
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


def distribution_report(
    rows: Sequence[Row], dist: ValueDistribution, greedy: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Argmax, expected value (unrounded and rounded to the scale) and spread per key, against the targets and, on
    the rows where greedy decoding gave a valid object, against greedy decoding."""
    targets = np.array([[r.hidden_params[k] for k in KEYS] for r in rows], dtype=np.float64)
    readings = {"argmax": dist.argmax, "expected": dist.expected, "expected_rounded": _to_scale(dist.expected)}
    maes = {name: _mae(pred, targets) for name, pred in readings.items()}
    report: dict[str, Any] = {
        "total": len(rows),
        "conditioning": "each key given the argmax values of the keys before it (as constrained decoding)",
        "mae": {name: mae for name, (mae, _) in maes.items()},
        "mae_per_key": {name: per_key for name, (_, per_key) in maes.items()},
        "mean_std": {k: float(v) for k, v in zip(KEYS, dist.std.mean(0))},
        "mean_valid_mass": {k: float(v) for k, v in zip(KEYS, dist.mass.mean(0))},
    }
    if greedy is not None:
        valid = np.array([c["valid"] for c in greedy["cases"]])
        greedy_pred = np.array([c["prediction"] for c in greedy["cases"] if c["valid"]], dtype=np.float64)
        on_valid = {"greedy": _mae(greedy_pred.reshape(-1, len(KEYS)), targets[valid])[0]}
        on_valid |= {name: _mae(pred[valid], targets[valid])[0] for name, pred in readings.items()}
        greedy_mae = on_valid["greedy"]
        report["vs_greedy"] = {
            "rows": int(valid.sum()),
            "note": "MAE on the rows where greedy decoding produced a valid object (the same rows for each reading)",
            "mae": on_valid,
            # None: greedy decoding produced no valid object to compare with
            "expected_beats_greedy": None if greedy_mae is None else on_valid["expected"] < greedy_mae,
            "expected_rounded_beats_greedy": None if greedy_mae is None else on_valid["expected_rounded"] < greedy_mae,
        }
    report["cases"] = [
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
    return report


# --- the cores ---------------------------------------------------------------------------------------------


class EvalData(NamedTuple):
    rows: list[Row]
    train_rows: list[Row]
    train_path: Path


def read_eval_data(data: Path, train: Path | None = None, max_rows: int | None = None) -> EvalData:
    """The rows to evaluate (the first `max_rows`) and the labelled train rows for the baselines (default:
    train.jsonl beside `data`), read before any model is loaded. Errors name the flag and the file."""
    train = train or data.with_name("train.jsonl")
    for flag, path in (("--data", data), ("--train", train)):
        if not path.is_file():
            raise DataError(f"{flag} {path}: no such file" + (" (pass --train)" if flag == "--train" else ""))
    rows, train_rows = read_rows(data)[:max_rows], read_rows(train)
    if not rows:
        raise DataError(f"--data {data}: no rows to evaluate (the test set is empty)")
    if not train_rows:
        raise DataError(f"--train {train}: no rows; the baselines need labelled train rows")
    return EvalData(rows, train_rows, train)


def _check_rows(rows: Sequence[Row]) -> None:
    if not rows:
        raise DataError("no rows to evaluate: the test set is empty")


def _write_jsonl_atomic(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, path)


def evaluate(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Row],
    train_rows: Sequence[Row],
    batch_size: int = DEFAULT_BATCH_SIZE,
    predictions_path: Path | None = None,
    on_rows: Progress | None = None,
) -> dict[str, Any]:
    """Greedy generations for `rows`, scored strictly: the headline `eval_report` dict (see score.py).

    With `predictions_path`, each batch's `{"id", "output"}` lines are appended and flushed as soon as the batch is
    done, so a crash keeps them; the finished file is rewritten in data order.
    """
    _check_rows(rows)
    sink = None
    if predictions_path is not None:
        predictions_path.parent.mkdir(parents=True, exist_ok=True)
        sink = predictions_path.open("w", encoding="utf-8")

    def on_batch(batch: Batch) -> None:
        if sink:
            sink.writelines(
                json.dumps({"id": rows[i].id, "output": o}, ensure_ascii=False) + "\n"
                for i, o in zip(batch.indices, batch.outputs)
            )
            sink.flush()
        if on_rows:
            on_rows(len(batch.indices))

    try:
        outputs = generate_all(model, tokenizer, [r.request_text for r in rows], batch_size, on_batch)
    finally:
        if sink:
            sink.close()
    if predictions_path is not None:
        _write_jsonl_atomic(predictions_path, [{"id": r.id, "output": o} for r, o in zip(rows, outputs)])
    return score(rows, outputs, train_rows).to_dict()


def evaluate_values(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Row],
    train_rows: Sequence[Row],
    greedy_report: Mapping[str, Any] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_rows: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Constrained decoding and the value distribution from one pass of `score_values`.

    Returns (the constrained `eval_report` dict, the distribution report, the constrained outputs in data order).
    """
    _check_rows(rows)
    logprobs = np.empty((len(rows), len(KEYS), len(VALUES)))
    for batch in score_values(model, tokenizer, [r.request_text for r in rows], batch_size):
        logprobs[batch.indices] = np.stack(batch.outputs)
        if on_rows:
            on_rows(len(batch.indices))
    dist = ValueDistribution.from_logprobs(logprobs)
    outputs = [to_json(dict(zip(KEYS, values))) for values in dist.argmax.tolist()]
    return score(rows, outputs, train_rows).to_dict(), distribution_report(rows, dist, greedy_report), outputs


# --- the runner: files, report, ledger ------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalOptions:
    batch_size: int = DEFAULT_BATCH_SIZE
    constrained: bool = False
    distribution: bool = False


@dataclass
class EvalResult:
    out_dir: Path
    report: dict[str, Any]  # the headline (greedy) eval_report
    constrained: dict[str, Any] | None = None
    distribution: dict[str, Any] | None = None
    files: dict[str, Path] = field(default_factory=dict)


def model_repo(description: Mapping[str, Any]) -> tuple[str, RepoKind]:
    """What the ledger calls the evaluated model: local folders as absolute paths, as the local jobs record them."""
    full = description["mode"] == "full"
    repo = description["model_id"] if full else description["adapter_model_id"]
    return (str(Path(repo).resolve()) if is_local(repo) else repo), (RepoKind.FULL if full else RepoKind.ADAPTER_ONLY)


def _write_report(report: dict[str, Any], out_dir: Path, title: str, label: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "eval_report.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"eval_report": path, **render_eval_report(report, out_dir, title, mode=label)}


def _model_label(description: Mapping[str, Any]) -> str:
    if description["mode"] == "full":
        return str(description["model_id"])
    return f"{description['base_model_id']} + {description['adapter_model_id']}"


def run_eval(
    model: Any,
    tokenizer: Any,
    description: Mapping[str, Any],
    rows: Sequence[Row],
    train_rows: Sequence[Row],
    out_dir: Path,
    options: EvalOptions = EvalOptions(),
    inputs: Mapping[str, Any] | None = None,
    on_rows: Callable[[str, int], None] | None = None,
    ledger: Ledger | None = None,
) -> EvalResult:
    """Every requested mode, its files under `out_dir` (see the module docstring), and an `evaluated` ledger event.

    `on_rows(stage, n)` reports progress per stage ("greedy", then "values" when a value mode is on).
    """
    _check_rows(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    label = _model_label(description)
    common = {"model": dict(description), "inputs": dict(inputs or {})}
    decoding = {"batch_size": options.batch_size, "max_new_tokens": max_new_tokens_for(tokenizer)}

    def progress(stage: str) -> Progress | None:
        return (lambda n: on_rows(stage, n)) if on_rows else None

    report = evaluate(
        model, tokenizer, rows, train_rows, options.batch_size, out_dir / "predictions.jsonl", progress("greedy")
    )
    report.update(common, decoding={"mode": "greedy", **decoding})
    result = EvalResult(out_dir, report, files={"predictions": out_dir / "predictions.jsonl"})
    result.files |= _write_report(report, out_dir, f"Strict evaluation of {label}", "greedy")

    if options.constrained or options.distribution:
        constrained, distribution, outputs = evaluate_values(
            model, tokenizer, rows, train_rows, report, options.batch_size, progress("values")
        )
        if options.constrained:
            sub = out_dir / "constrained"
            sub.mkdir(exist_ok=True)
            _write_jsonl_atomic(sub / "predictions.jsonl", [{"id": r.id, "output": o} for r, o in zip(rows, outputs)])
            constrained.update(common, decoding={"mode": "constrained", "batch_size": options.batch_size})
            result.constrained = constrained
            files = _write_report(
                constrained, sub, f"Constrained decoding of {label} (not the headline)", "constrained"
            )
            result.files |= {f"constrained_{name}": path for name, path in files.items()}
        if options.distribution:
            result.distribution = distribution = {**common, **distribution}
            result.files["distribution"] = out_dir / "distribution.json"
            result.files["distribution"].write_text(json.dumps(distribution, indent=2, ensure_ascii=False) + "\n")

    if ledger is not None:
        ledger.append(LedgerEvent.EVALUATED, **evaluated_record(description, result))
    return result


def evaluated_record(description: Mapping[str, Any], result: EvalResult) -> dict[str, Any]:
    """The fields of the `evaluated` ledger event: what `run_eval` appends, and what an eval job prints on its
    EVAL_SUMMARY line for the CLI to append (a job on hf-jobs cannot reach this machine's ledger)."""
    repo, kind = model_repo(description)
    details = {"mode": description["mode"], **summarize(result.report), "out": str(result.out_dir)}
    if result.constrained:
        details["constrained_mae"] = result.constrained["metrics"]["mae"]
    if result.distribution and "vs_greedy" in result.distribution:
        details["expected_beats_greedy"] = result.distribution["vs_greedy"]["expected_beats_greedy"]
    return {"model_repo": repo, "repo_kind": kind.value, "details": details}


def summarize(report: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers of an eval_report that a ledger line or a model card carries."""
    return {
        "valid_cases": report["valid_cases"],
        "total": report["total"],
        "mae": report["metrics"]["mae"],
        "mae_over_all": report["metrics"]["over_all"]["mae"],
        "baseline_mae": {name: b["mae"] for name, b in report["baselines"].items()},
    }
