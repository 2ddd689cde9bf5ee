"""The strict scorer: raw generations + canonical rows (`rows.Row`) -> `eval_report.json`.

Pure core; `evaluate.run_score` (the `score` command) and `evaluate.run_eval` read the files and write the report.

Report schema (`EvalReport.to_dict()`):

    valid_cases   int, outputs that pass `schema.parse_strict`
    total         int, rows scored
    cases         one per row, in data order:
                  {id, valid, error_code, error, output, target, prediction, request_text}
                  error_code / error: null when valid, else the `Invalid` code and its one-line message;
                  target: the six ints in KEYS order; prediction: the six ints, or null when invalid;
                  request_text: the row's request (so a report can show what was asked; null in older reports)
    error_counts  {error_code: count}, most frequent first
    metrics       headline = over_valid: {mae, mae_per_key, exact, within1, all_exact} at the top level,
                  plus {over_valid: Metrics | null, over_all: Metrics}
    baselines     {train_mean: Metrics + {prediction}, tfidf_ridge: Metrics + {predictions: one per row}}, on the
                  same rows (per-row predictions let a report slice and compare rows); a baseline that
                  could not be computed is absent here and named in `baselines_skipped`
    baselines_skipped  {baseline: why it was not computed} (no train split, a train split TF-IDF finds no words in)
    inputs        the paths scored: {data, predictions, train} from `score`, {data, train, max_rows} from `eval`
    provenance    {config_hash, data_sha256, code_version} and `config` (the resolved config)
Metrics = {n, mae, mae_per_key, exact, within1, all_exact}; per-key fields are {key: float} in KEYS order.

Headline: `metrics.mae` (and its siblings at the top level of `metrics`) are over valid cases, as the contract
defines `mae`; they are null when no case is valid. Read them with `valid_cases`: `metrics.over_all` is the number
that cannot be gamed by refusing hard rows. In `over_all` an invalid case counts as the worst in-range prediction
for each key (error max(t, 10 - t)), so it is never exact nor within 1: an unusable answer is scored no better
than the worst answer the schema allows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..data.rows import DataError, Row, json_objects
from ..schema import KEYS, MAX_VALUE, MIN_VALUE, Params, parse_strict

# --- reading -------------------------------------------------------------------------------------------------


def read_predictions(path: Path, ids: Sequence[str]) -> list[str]:
    """Raw outputs from `{"output": str, "id"?: str}` lines, in the order of `ids` (the data rows).

    Everything is checked before anything is scored: a malformed line, an `id` that is not the data's id at that
    position, or a file shorter or longer than the data is a `DataError` naming the file (and line).
    """
    outputs: list[str] = []
    for lineno, obj in json_objects(path):
        if not isinstance(obj.get("output"), str):
            raise DataError(f"{path}:{lineno}: field 'output' must be a string (the raw generation)")
        i = len(outputs)
        if "id" in obj and i < len(ids) and obj["id"] != ids[i]:
            raise DataError(
                f"{path}:{lineno}: id {obj['id']!r} but data row {i + 1} has id {ids[i]!r}; "
                "predictions must follow the order of --data"
            )
        outputs.append(obj["output"])
    if len(outputs) != len(ids):
        raise DataError(
            f"{path}: {len(outputs)} predictions for {len(ids)} data rows; generate one output per data row"
        )
    return outputs


# --- metrics -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    n: int
    mae: float
    mae_per_key: dict[str, float]
    exact: dict[str, float]
    within1: dict[str, float]
    all_exact: float


def _per_key(values: np.ndarray) -> dict[str, float]:
    return {key: float(v) for key, v in zip(KEYS, values)}


def compute_metrics(targets: np.ndarray, predictions: np.ndarray) -> Metrics | None:
    """Metrics of (n, 6) integer arrays in KEYS order; None when there is nothing to measure."""
    if len(targets) == 0:
        return None
    err = np.abs(targets - predictions)
    mae_per_key = err.mean(axis=0)
    return Metrics(
        n=len(targets),
        mae=float(mae_per_key.mean()),
        mae_per_key=_per_key(mae_per_key),
        exact=_per_key((err == 0).mean(axis=0)),
        within1=_per_key((err <= 1).mean(axis=0)),
        all_exact=float((err == 0).all(axis=1).mean()),
    )


def _as_array(params: Sequence[Params]) -> np.ndarray:
    return np.array([[p[k] for k in KEYS] for p in params], dtype=np.int64).reshape(-1, len(KEYS))


def worst_prediction(targets: np.ndarray) -> np.ndarray:
    """The in-range value farthest from each target: what an invalid output is scored as in `over_all`."""
    midpoint = (MIN_VALUE + MAX_VALUE) / 2
    return np.where(targets >= midpoint, MIN_VALUE, MAX_VALUE)


# --- baselines -----------------------------------------------------------------------------------------------


def to_scale(values: np.ndarray) -> np.ndarray:
    """Nearest integer on the 0..10 scale, halves rounded up (Python's round() would send 2.5 to 2 but 3.5 to 4)."""
    return np.clip(np.floor(values + 0.5), MIN_VALUE, MAX_VALUE).astype(np.int64)


def _train_mean(train_rows: Sequence[Row]) -> Params:
    means = _as_array([r.hidden_params for r in train_rows]).mean(axis=0)
    return {key: int(v) for key, v in zip(KEYS, to_scale(means))}


def _tfidf_ridge(train_rows: Sequence[Row], texts: Sequence[str]) -> np.ndarray:
    """TF-IDF of words (1-2 grams) and characters (2-5 grams, robust to typos) -> one multi-output ridge."""
    train = tuple((r.request_text, tuple(r.hidden_params[k] for k in KEYS)) for r in train_rows)
    return _fit_tfidf_ridge(train, tuple(texts)).copy()


@lru_cache(maxsize=2)  # the demo scores three models on one split: the baseline is fitted once, not three times
def _fit_tfidf_ridge(train: tuple[tuple[str, tuple[int, ...]], ...], texts: tuple[str, ...]) -> np.ndarray:
    # Imported here: scikit-learn takes about a second to import and every other CLI command would pay for it.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline, make_union

    model = make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        Ridge(alpha=1.0),
    )
    model.fit([text for text, _ in train], np.array([values for _, values in train], dtype=np.float64))
    return to_scale(model.predict(list(texts)).reshape(len(texts), len(KEYS)))


BASELINES = ("train_mean", "tfidf_ridge")


@dataclass(frozen=True)
class Baseline:
    metrics: Metrics
    prediction: Params | None = None  # train_mean's one answer for every row
    predictions: list[list[int]] | None = None  # a text regressor's answer per row, six ints in KEYS order

    def to_dict(self) -> dict[str, Any]:
        extra = {"prediction": self.prediction, "predictions": self.predictions}
        return asdict(self.metrics) | {k: v for k, v in extra.items() if v is not None}


def compute_baselines(
    train_rows: Sequence[Row] | None, rows: Sequence[Row], no_train: str = "no train split was given"
) -> tuple[dict[str, Baseline], dict[str, str]]:
    """Baselines fitted on the train split and measured on `rows` (a fine-tune must beat both to have learned), and
    {baseline: why} for those that could not be computed: the scores stand without them."""
    if not train_rows:
        why = f"not computed: {no_train if train_rows is None else 'the train split has no rows'}"
        return {}, dict.fromkeys(BASELINES, why)
    targets = _as_array([r.hidden_params for r in rows])
    constant = _train_mean(train_rows)
    baselines = {
        "train_mean": Baseline(
            compute_metrics(targets, np.broadcast_to(_as_array([constant]), targets.shape)), constant
        )
    }
    skipped = {}
    try:
        predicted = _tfidf_ridge(train_rows, [r.request_text for r in rows])
        baselines["tfidf_ridge"] = Baseline(compute_metrics(targets, predicted), predictions=predicted.tolist())
    except ValueError as exc:  # scikit-learn's "empty vocabulary": train texts without a word of two letters
        skipped["tfidf_ridge"] = (
            f"not computed: TF-IDF finds no vocabulary in the {len(train_rows)} train texts ({exc})"
        )
    return baselines, skipped


# --- the report ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    valid: bool
    error_code: str | None
    error: str | None
    output: str
    target: list[int]
    prediction: list[int] | None
    request_text: str | None = None


_HEADLINE = ("mae", "mae_per_key", "exact", "within1", "all_exact")


@dataclass(frozen=True)
class EvalReport:
    """The strict scores of one set of outputs; `to_dict()` is eval_report.json (the module docstring's schema).
    What was evaluated and how (`model`, `decoding`, `inputs`, `provenance`, `config`) is added by the caller."""

    valid_cases: int
    total: int
    cases: list[Case]
    error_counts: dict[str, int]
    over_valid: Metrics | None
    over_all: Metrics
    baselines: dict[str, Baseline]
    baselines_skipped: dict[str, str] = field(default_factory=dict)
    model: dict[str, Any] | None = None
    decoding: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    config: dict[str, Any] | None = None

    @property
    def mae(self) -> float | None:
        """The headline: MAE over valid cases (None when no case is valid)."""
        return self.over_valid.mae if self.over_valid else None

    def to_dict(self) -> dict[str, Any]:
        over_valid = asdict(self.over_valid) if self.over_valid else None
        headline = {f: (over_valid or {}).get(f) for f in _HEADLINE}
        context = {f: getattr(self, f) for f in ("model", "decoding", "inputs", "provenance", "config")}
        return {
            "valid_cases": self.valid_cases,
            "total": self.total,
            "metrics": {**headline, "over_valid": over_valid, "over_all": asdict(self.over_all)},
            "baselines": {name: b.to_dict() for name, b in self.baselines.items()},
            "baselines_skipped": self.baselines_skipped,
            "error_counts": self.error_counts,
            "cases": [asdict(c) for c in self.cases],
            **{k: v for k, v in context.items() if v is not None},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalReport:
        """An eval_report.json read back (merge puts its numbers into the model card)."""
        metric_names = {f.name for f in fields(Metrics)}

        def metrics(m: Mapping[str, Any] | None) -> Metrics | None:
            return Metrics(**{k: m[k] for k in metric_names}) if m else None

        baselines = {
            name: Baseline(metrics(b), b.get("prediction"), b.get("predictions"))  # type: ignore[arg-type]
            for name, b in data["baselines"].items()
        }
        context = {k: data.get(k) for k in ("model", "decoding", "inputs", "provenance", "config")}
        return cls(
            valid_cases=data["valid_cases"],
            total=data["total"],
            cases=[Case(**c) for c in data["cases"]],
            error_counts=dict(data["error_counts"]),
            over_valid=metrics(data["metrics"]["over_valid"]),
            over_all=metrics(data["metrics"]["over_all"]),  # type: ignore[arg-type]
            baselines=baselines,
            baselines_skipped=dict(data.get("baselines_skipped") or {}),
            **context,
        )

    def summary(self) -> dict[str, Any]:
        """The few numbers that a ledger line or a model card carries."""
        return {
            "valid_cases": self.valid_cases,
            "total": self.total,
            "mae": self.mae,
            "mae_over_all": self.over_all.mae,
            "baseline_mae": {name: b.metrics.mae for name, b in self.baselines.items()},
        }


def score(
    rows: Sequence[Row],
    outputs: Sequence[str],
    train_rows: Sequence[Row] | None,
    no_train: str = "no train split was given",
) -> EvalReport:
    """Score raw generations (one per row, same order) under the strict rules, with baselines from `train_rows`
    (None: no train split, for the reason `no_train`; the report then says the baselines were not computed)."""
    if not rows:
        raise DataError("no rows to score: the data file is empty")
    if len(outputs) != len(rows):
        raise DataError(f"{len(outputs)} outputs for {len(rows)} rows")
    cases = []
    for row, output in zip(rows, outputs):
        parsed = parse_strict(output)
        cases.append(
            Case(
                id=row.id,
                valid=parsed.valid,
                error_code=parsed.error.value if parsed.error else None,
                error=parsed.message,
                output=output,
                target=[row.hidden_params[k] for k in KEYS],
                prediction=[parsed.params[k] for k in KEYS] if parsed.params else None,
                request_text=row.request_text,
            )
        )
    targets = np.array([c.target for c in cases], dtype=np.int64)
    valid = np.array([c.valid for c in cases])
    # An invalid row's placeholder (its target) is never read: `scored` swaps in the worst in-range prediction.
    predicted = np.array([c.prediction if c.valid else c.target for c in cases], dtype=np.int64)
    scored = np.where(valid[:, None], predicted, worst_prediction(targets))
    baselines, skipped = compute_baselines(train_rows, rows, no_train)
    return EvalReport(
        valid_cases=int(valid.sum()),
        total=len(cases),
        cases=cases,
        error_counts=dict(Counter(c.error_code for c in cases if c.error_code).most_common()),
        over_valid=compute_metrics(targets[valid], predicted[valid]),
        over_all=compute_metrics(targets, scored),
        baselines=baselines,
        baselines_skipped=skipped,
    )


def representative_failures(cases: Sequence[Case], limit: int = 5) -> list[Case]:
    """Up to `limit` invalid cases: the first of each distinct reason (most frequent reason first), then the rest
    in data order, so a handful of examples shows every kind of failure before repeating one."""
    invalid = [c for c in cases if not c.valid]
    by_reason = Counter(c.error_code for c in invalid)
    firsts: dict[str | None, Case] = {}
    for c in invalid:
        firsts.setdefault(c.error_code, c)
    picked = [firsts[code] for code, _ in by_reason.most_common()]
    picked += [c for c in invalid if all(c is not p for p in picked)]
    return picked[:limit]
