"""The eval stage: `EvalConfig` -> `run(cfg)` -> `EvalResult`, files under `cfg.out` and an `evaluated` ledger event.
The `score` command is the same stage for generations made elsewhere: `ScoreConfig` -> `run_score(cfg)` ->
`ScoreResult`, the same eval_report.json (with its provenance) and report.md/.html under `cfg.out`.

`EvalConfig` is the one declaration of every eval option: the `eval` command's flags are made from its fields and
those of its `Decoding` (cli/options.py), a `--config eval.yaml` holds the same names, and a job receives it whole
(`--config-json`, read back by jobs/eval_job.py with `config.job_configs`). The three ways of reading the model are in
eval/modes.py.

Files written under `cfg.out`:
    predictions.jsonl             {"id", "output"} per row; written batch by batch (rows sorted by prompt length,
                                  so a crash keeps every finished batch, each line naming its row), then rewritten
                                  in data order once all rows are done
    eval_report.json              score.py's report + `model` (what was evaluated), `decoding` (its settings, seed),
                                  `inputs`,
                                  `provenance` (config hash, data sha256, code version) and `config` (resolved)
    report.md, report.html        report.py's rendering
    constrained/                  the same three files for constrained decoding (with --constrained)
    distribution.json             `value_scores.DistributionReport` (with --distribution)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import ConfigError, flag, not_hashed
from ..data.rows import DataError, write_jsonl
from ..files import check_out, write_atomic
from ..hub import DatasetFileError, dataset_file, is_local, push_folder
from ..ledger import Ledger, LedgerEvent, RepoKind
from ..model.card import hub_card, with_eval_results
from ..model.generation import context_warnings
from ..model.load import load_for_inference
from ..model.predict import PredictConfig
from ..provenance import provenance
from .modes import EvalData, evaluate, evaluate_values, read_eval_data
from .report import render_eval_report
from .score import EvalReport, read_predictions, score
from .value_scores import DistributionReport

DATA_FILES = ("test.jsonl", "train.jsonl")  # what a Hub dataset of eval data holds (the CLI uploads these names)

RowsProgress = Callable[[str, int, int], None]  # (stage, rows just finished, rows in the stage)


@dataclass
class EvalConfig(PredictConfig):
    """What to evaluate (the model and how it generates, as `predict` has them), on what, and how. A field here (and
    one of its `Decoding`) is an `eval` flag (`--max-rows` for `max_rows`), a key of `--config eval.yaml`, and a field
    of the eval job's config."""

    data: str | None = field(
        default=None,
        metadata=flag(
            "Canonical rows to evaluate on, e.g. test.jsonl, or a Hub dataset holding test.jsonl (required)."
        ),
    )
    data_revision: str | None = field(
        default=None, metadata=not_hashed(flag("Commit (or branch) of a Hub dataset --data (hf-jobs: set at submit)."))
    )
    train: str | None = field(
        default=None,
        metadata=flag(
            "Train split for the baselines (default: train.jsonl beside --data, or in its dataset; without one the"
            " baselines are skipped and the report says so)."
        ),
    )
    out: str | None = field(
        default=None, metadata=flag("Writes predictions.jsonl, eval_report.json, report.md/.html here (required).")
    )
    overwrite: bool = field(default=False, metadata=flag("Write into a non-empty --out (its eval files are replaced)."))
    max_rows: int | None = field(default=None, metadata=flag("Evaluate only the first N rows."))
    constrained: bool = field(
        default=False,
        metadata=flag("Also decode with the JSON text forced, values only (constrained/, not the headline)."),
    )
    distribution: bool = field(
        default=False,
        metadata=flag("Also read P(value) over 0..10 per key: argmax, expected value, spread (distribution.json)."),
    )
    push_results_to: str | None = field(
        default=None,
        metadata=flag(
            "Upload the eval folder to eval/<UTC time>/ of this model repo, and write the results into its card"
            " (model-index and an Evaluation section), in one commit."
        ),
    )

    def validate(self, source: str = "config") -> None:
        for name in ("data", "out"):
            if not getattr(self, name):
                raise ConfigError(f"{source}: field '{name}': required (--{name} or `{name}:` in --config)")
        super().validate(source)
        if self.max_rows is not None and self.max_rows < 1:
            raise ConfigError(f"{source}: field 'max_rows': must be >= 1, got {self.max_rows}")


@dataclass
class EvalResult:
    out_dir: Path
    report: EvalReport  # the headline: free generation as `cfg.decoding` says (greedy by default)
    constrained: EvalReport | None = None
    distribution: DistributionReport | None = None
    files: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    pushed: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """What `eval --json` prints: the reports without their per-row cases, and the files."""

        return {
            **_brief(self.report.to_dict()),
            "constrained": _brief(self.constrained.to_dict()) if self.constrained else None,
            "distribution": _brief(self.distribution.to_json()) if self.distribution else None,
            "files": {k: str(p) for k, p in self.files.items()},
            "warnings": self.warnings,
            "pushed": self.pushed,
        }


@dataclass(frozen=True)
class ScoreConfig:
    """What `hiddenparams score` scores: raw generations against the labels of the rows they answer. A field here is
    a `score` flag, as for `EvalConfig`."""

    data: str = field(default="", metadata=flag("Canonical rows (split output), e.g. test.jsonl (required)."))
    predictions: str = field(
        default="",
        metadata=flag('One {"output": "<raw text>"} line per data row, in data order ("id" optional) (required).'),
    )
    out: str = field(default="", metadata=flag("Writes eval_report.json, report.md and report.html here (required)."))
    train: str | None = field(
        default=None,
        metadata=flag(
            "Train split for the baselines (default: train.jsonl beside --data; without one the baselines are"
            " skipped and the report says so)."
        ),
    )
    overwrite: bool = field(default=False, metadata=flag("Write into a non-empty --out (its files are replaced)."))

    def validate(self, source: str = "config") -> None:
        for name in ("data", "predictions", "out"):
            if not getattr(self, name):
                raise ConfigError(f"{source}: field '{name}': required (--{name})")


@dataclass
class ScoreResult:
    out_dir: Path
    report: EvalReport
    files: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """What `score --json` prints: the report without its per-row cases, and the files."""
        return {**_brief(self.report.to_dict()), "files": {k: str(p) for k, p in self.files.items()}}


def _brief(report: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "cases"}


def fetch_data(data: str, train: str | None, revision: str | None) -> tuple[Path, Path | None, dict[str, Any]]:
    """Local paths of the rows to evaluate and of the train rows, and how the report names them.

    A local `data` file goes as given (`train` defaults to train.jsonl beside it). Anything else is a Hub dataset repo
    holding `test.jsonl`; `train` is then a local file or a file of that repo (default `train.jsonl`)."""
    if Path(data).is_file() or Path(data).suffix == ".jsonl":
        return Path(data), Path(train) if train else None, {"data": data}

    def download(name: str) -> Path:
        try:
            return dataset_file(data, name, revision)
        except DatasetFileError as exc:
            raise DataError(f"--data {data}: no such local file; as a Hub dataset, {exc}") from None

    test_file, train_file = DATA_FILES
    test_path, train_name = download(test_file), train or train_file
    train_path = Path(train_name) if Path(train_name).is_file() else download(train_name)
    where = f"{data}@{revision}" if revision else data
    return test_path, train_path, {"data": f"{where}:{test_file}", "train": f"{where}:{train_name}"}


def push_results(out: Path, repo: str) -> dict[str, str]:
    """The eval folder in one commit to `eval/<UTC time>/` of a model repo (created private if missing), and in the
    same commit the repo's card with these results as its `model-index` and Evaluation section (the rest of the card
    kept). Weights stay at the repo root, so the repo's kind (adapter-only, full) reads the same. The token comes
    from HF_TOKEN."""
    path = f"eval/{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    report = json.loads((out / "eval_report.json").read_text(encoding="utf-8"))
    card = with_eval_results(hub_card(repo), report, repo.split("/")[-1])
    readme = {"README.md": str(card).encode("utf-8")}
    return push_folder(out, repo, f"hiddenparams: eval results in {path}", path_in_repo=path, extra_files=readme)


def model_repo(description: Mapping[str, Any]) -> tuple[str, RepoKind]:
    """What the ledger calls the evaluated model: local folders as absolute paths, as the local jobs record them."""
    full = description["mode"] == "full"
    repo = description["model_id"] if full else description["adapter_model_id"]
    return (str(Path(repo).resolve()) if is_local(repo) else repo), (RepoKind.FULL if full else RepoKind.ADAPTER_ONLY)


def _write_report(report: EvalReport, out_dir: Path, title: str, label: str, render: bool = True) -> dict[str, Path]:
    """eval_report.json, and (with `render`) its report.md/.html."""
    path = out_dir / "eval_report.json"
    as_dict = report.to_dict()
    write_atomic(path, json.dumps(as_dict, indent=2, ensure_ascii=False) + "\n")
    return {"eval_report": path, **(render_eval_report(as_dict, out_dir, title, mode=label) if render else {})}


def _model_label(description: Mapping[str, Any]) -> str:
    """How a report's title names the model: a local folder by its name (an absolute path would break the title's
    meaning once the folder moves, and says where someone's disk is), a Hub id as it is."""

    def shown(model: Any) -> str:
        return Path(model).name if is_local(str(model)) else str(model)

    if description["mode"] == "full":
        return shown(description["model_id"])
    return f"{shown(description['base_model_id'])} + {shown(description['adapter_model_id'])}"


def run_score(cfg: ScoreConfig) -> ScoreResult:
    """Score the generations in `cfg.predictions` strictly, with baselines; every input is read and checked before
    anything is written."""
    predictions, out = Path(cfg.predictions), Path(cfg.out)
    if not predictions.is_file():
        raise DataError(f"--predictions {predictions}: no such file")
    check_out(out, cfg.overwrite)
    data = read_eval_data(Path(cfg.data), Path(cfg.train) if cfg.train else None)
    outputs = read_predictions(predictions, [r.id for r in data.rows])
    read = {"data": data.data_path, "predictions": predictions, "train": data.train_path}
    report = dataclasses.replace(
        score(data.rows, outputs, data.train_rows, data.no_train),
        inputs={name: str(path) if path else None for name, path in read.items()},
        provenance=provenance(cfg, {name: path for name, path in read.items() if path}),
        config=dataclasses.asdict(cfg),
    )
    return ScoreResult(
        out, report, _write_report(report, out, f"Strict evaluation of {Path(cfg.predictions).name}", "model")
    )


def run(cfg: EvalConfig, on_rows: RowsProgress | None = None, ledger: Ledger | None = None) -> EvalResult:
    """Evaluate as `cfg` says: the cheap checks (output folder, data, adapter) before the model loads."""
    out = Path(cfg.out or "")
    check_out(out, cfg.overwrite)
    data_path, train_path, inputs = fetch_data(cfg.data or "", cfg.train, cfg.data_revision)
    data = read_eval_data(data_path, train_path, cfg.max_rows)
    model, tokenizer, description = load_for_inference(
        cfg.model_id, cfg.base_model_id, cfg.adapter_model_id, cfg.device
    )
    return run_eval(model, tokenizer, description, data, cfg, inputs, on_rows, ledger)


def run_eval(
    model: Any,
    tokenizer: Any,
    description: Mapping[str, Any],
    data: EvalData,
    cfg: EvalConfig,
    inputs: Mapping[str, Any] | None = None,
    on_rows: RowsProgress | None = None,
    ledger: Ledger | None = None,
    render: bool = True,
) -> EvalResult:
    """Every mode `cfg` asks for on a loaded model, its files under `cfg.out`, the upload it asks for, and an
    `evaluated` ledger event. `render=False` writes the reports' JSON only: for a caller that renders them itself
    afterwards (the demo's run report rewrites every mode's report with its links)."""
    rows, train_rows = data.rows, data.train_rows
    out_dir = Path(cfg.out or "")
    out_dir.mkdir(parents=True, exist_ok=True)
    label = _model_label(description)
    read = {"data": data.data_path, "train": data.train_path}
    read = {name: path for name, path in read.items() if path is not None}
    context = {
        "model": dict(description),
        "inputs": {**{k: str(p) for k, p in read.items()}, **dict(inputs or {}), "max_rows": cfg.max_rows},
        "provenance": provenance(cfg, read),
        "config": dataclasses.asdict(cfg),
    }
    decoding = cfg.decoding.to_dict(tokenizer)
    texts = [r.request_text for r in rows]
    warnings = context_warnings(model, tokenizer, texts, [f"row {r.id}" for r in rows], decoding["max_new_tokens"])

    def progress(stage: str) -> Callable[[int], None] | None:
        return (lambda n: on_rows(stage, n, len(rows))) if on_rows else None

    predictions = out_dir / "predictions.jsonl"
    report = evaluate(
        model, tokenizer, rows, train_rows, cfg.decoding, predictions, progress(decoding["mode"]), data.no_train
    )
    report = dataclasses.replace(report, decoding=decoding, **context)
    result = EvalResult(out_dir, report, files={"predictions": out_dir / "predictions.jsonl"}, warnings=warnings)
    subject = "model" if description["mode"] == "full" else "fine-tuned model"
    result.files |= _write_report(report, out_dir, f"Strict evaluation of {label}", subject, render)

    if cfg.constrained or cfg.distribution:
        constrained, distribution, outputs = evaluate_values(
            model, tokenizer, rows, train_rows, report, cfg.decoding, progress("values"), data.no_train
        )
        if cfg.constrained:
            sub = out_dir / "constrained"
            sub.mkdir(exist_ok=True)
            write_jsonl(sub / "predictions.jsonl", [{"id": r.id, "output": o} for r, o in zip(rows, outputs)])
            decoding_c = {"mode": "constrained", "batch_size": cfg.decoding.batch_size}
            result.constrained = dataclasses.replace(constrained, decoding=decoding_c, **context)
            title = f"Constrained decoding of {label} (not the headline)"
            written = _write_report(result.constrained, sub, title, subject, render)
            result.files |= {f"constrained_{name}": path for name, path in written.items()}
        if cfg.distribution:
            result.distribution = dataclasses.replace(distribution, context=context)
            result.files["distribution"] = out_dir / "distribution.json"
            as_json = json.dumps(result.distribution.to_json(), indent=2, ensure_ascii=False)
            write_atomic(result.files["distribution"], as_json + "\n")

    if cfg.push_results_to:
        result.pushed = push_results(out_dir, cfg.push_results_to)
    if ledger is not None:
        ledger.append(LedgerEvent.EVALUATED, **evaluated_record(description, result))
    return result


def evaluated_record(description: Mapping[str, Any], result: EvalResult) -> dict[str, Any]:
    """The fields of the `evaluated` ledger event: what `run_eval` appends, and what an eval job prints on its
    EVAL_SUMMARY line for the CLI to append (a job on hf-jobs cannot reach this machine's ledger)."""
    repo, kind = model_repo(description)
    config_hash = (result.report.provenance or {}).get("config_hash")
    details = {"mode": description["mode"], **result.report.summary(), "out": str(result.out_dir)}
    if result.constrained:
        details["constrained_mae"] = result.constrained.mae
    if result.distribution and result.distribution.vs_headline:
        details["expected_beats_headline"] = result.distribution.vs_headline.expected_beats_headline
    if result.pushed:
        details["pushed"] = result.pushed
    return {"model_repo": repo, "repo_kind": kind.value, "config_hash": config_hash, "details": details}


def summarize(report: EvalReport | Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers of an eval report (typed, or an eval_report.json read back) for a ledger line or a card."""
    return (report if isinstance(report, EvalReport) else EvalReport.from_dict(report)).summary()
