"""The evaluation's three ways of reading the model, each scored strictly (`score.py`), reported apart:

- the headline: free generation (`generation.py`, greedy unless the `Decoding` settings sample), scored strictly.
  This is what a deployment gets.
- constrained: only the values are chosen; the constant JSON text is forced, so every output is the valid object.
  Each value is the candidate 0..10 whose whole continuation the model finds most probable (`value_scores.py`).
  Shows what the model knows when formatting cannot fail.
- distribution: the same candidate probabilities, normalised over 0..10: argmax, expected value and its spread per
  key, and whether the expected value beats the headline's generations on MAE.
Constrained and distribution come from one pass of `value_scores.score_values`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..data.rows import DataError, Row, read_rows, write_jsonl
from ..model.generation import Batch, Decoding, generate_all
from ..schema import KEYS, VALUES, to_json
from .score import EvalReport, score
from .value_scores import DistributionReport, ValueDistribution, distribution_report, score_values

Progress = Callable[[int], None]  # called with the number of rows just finished


class EvalData(NamedTuple):
    rows: list[Row]
    train_rows: list[Row] | None  # None: no train split, the baselines are skipped for the reason `no_train`
    train_path: Path | None
    data_path: Path | None = None
    no_train: str = ""


def read_eval_data(data: Path, train: Path | None = None, max_rows: int | None = None) -> EvalData:
    """The rows to evaluate (the first `max_rows`) and the labelled train rows for the baselines (default:
    train.jsonl beside `data`, when there is one), read before any model is loaded. Errors name the flag and file."""
    if not data.is_file():
        raise DataError(f"--data {data}: no such file")
    if train is not None and not train.is_file():
        raise DataError(f"--train {train}: no such file")
    rows = read_rows(data)[:max_rows]
    if not rows:
        raise DataError(f"--data {data}: no rows to evaluate (the test set is empty)")
    beside = data.with_name("train.jsonl")
    train = train or (beside if beside.is_file() else None)
    if train is None:
        return EvalData(rows, None, None, data, f"no --train given and no train.jsonl beside {data}")
    return EvalData(rows, read_rows(train), train, data)


def _check_rows(rows: Sequence[Row]) -> None:
    if not rows:
        raise DataError("no rows to evaluate: the test set is empty")


def evaluate(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Row],
    train_rows: Sequence[Row] | None,
    decoding: Decoding | None = None,
    predictions_path: Path | None = None,
    on_rows: Progress | None = None,
    no_train: str = "no train split was given",
) -> EvalReport:
    """Generations for `rows` as `decoding` says (greedy by default), scored strictly (the headline).

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

    texts = [r.request_text for r in rows]
    try:
        outputs = generate_all(model, tokenizer, texts, decoding, on_batch)
    finally:
        if sink:
            sink.close()
    if predictions_path is not None:
        write_jsonl(predictions_path, [{"id": r.id, "output": o} for r, o in zip(rows, outputs)])
    return score(rows, outputs, train_rows, no_train)


def evaluate_values(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Row],
    train_rows: Sequence[Row] | None,
    headline: EvalReport | None = None,
    decoding: Decoding | None = None,
    on_rows: Progress | None = None,
    no_train: str = "no train split was given",
) -> tuple[EvalReport, DistributionReport, list[str]]:
    """Constrained decoding and the value distribution from one pass of `score_values`.

    Returns (the constrained report, the distribution report, the constrained outputs in data order).
    """
    _check_rows(rows)
    logprobs = np.empty((len(rows), len(KEYS), len(VALUES)))
    decoding = decoding or Decoding()
    for batch in score_values(model, tokenizer, [r.request_text for r in rows], decoding.batch_size):
        logprobs[batch.indices] = np.stack(batch.outputs)
        if on_rows:
            on_rows(len(batch.indices))
    dist = ValueDistribution.from_logprobs(logprobs)
    outputs = [to_json(dict(zip(KEYS, values))) for values in dist.argmax.tolist()]
    constrained = score(rows, outputs, train_rows, no_train)
    against = decoding.label()
    return constrained, distribution_report(rows, dist, headline.cases if headline else None, against), outputs
