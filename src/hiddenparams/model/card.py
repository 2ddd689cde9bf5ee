"""Model cards for what we push or write, made with huggingface_hub's `ModelCard` / `ModelCardData` / `EvalResult`:
base model (a Hub id, or a sentence when it is a local folder), its license, the data, the strict eval numbers as
`model-index` results, intended use and limits, the LoRA hyperparameters, the exact prompt, and a snippet that
loads the model and parses its answer with the project's strict parser.

`folder_card(folder)` reads what a model folder already holds (the adapter's config and training records, or the
merge's `merge_info.json`), so the train job, the merge and the demo write the same card from the same facts, and
`with_eval_results` puts an `eval_report.json` into any card (`eval --push-results` does it to a Hub repo's card).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..hub import is_local
from ..prompt import SYSTEM_PROMPT, user_message
from ..schema import KEYS, MAX_VALUE, MIN_VALUE

# kind -> (library, kind tag, title). A full fine-tune is full weights but no merge: no merge tag, no merge note.
KINDS = {
    "adapter-only": ("peft", "lora", "LoRA adapter"),
    "full": ("transformers", "full-finetune", "fully fine-tuned model"),
    "merged": ("transformers", "merged-lora", "merged model (base + LoRA adapter)"),
}
SYNTHETIC_NOTE = (
    "The training and test data are the project's synthetic sample (`data/sample/`, made by "
    "`hiddenparams make-sample`): generated requests with rule-made labels, not requests from real users. Scores on it show that the pipeline "
    "works end to end; they say nothing about how the model does on real requests."
)
# eval_report.json field -> (model-index metric type, its name on the card); the exact and within-1 rates are the
# mean over the six keys, as the reports show them.
METRICS = {
    "valid_rate": ("valid_rate", "strictly valid outputs (share)"),
    "mae": ("mae", "MAE over valid outputs"),
    "mae_over_all": ("mae_over_all", "MAE over all rows (invalid = worst answer)"),
    "exact": ("exact_match", "exact per key, over valid outputs (mean of keys)"),
    "within1": ("within_1", "within 1 per key, over valid outputs (mean of keys)"),
    "all_exact": ("all_six_exact", "all six exact, over valid outputs"),
}
# resolved_config.yaml fields shown as training hyperparameters, in this order.
HYPERPARAMETERS = (
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_modules_to_save",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "seed",
)


@dataclass(frozen=True)
class CardFacts:
    base_model: str  # Hub id or local folder
    kind: str  # a key of KINDS
    model_ref: str  # what the snippet loads: the Hub repo, or the folder
    training: Mapping[str, Any] | None = None  # resolved_config.yaml
    train_summary: Mapping[str, Any] | None = None  # train_summary.json (data, LoRA targets, steps)
    eval_report: Mapping[str, Any] | None = None  # eval_report.json
    synthetic: bool = False  # the data is the project's synthetic sample
    extra: str = ""  # the merge's note


def eval_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The card's numbers from an eval_report.json: {eval_report field: value}, those that exist."""
    metrics = report["metrics"]
    over_valid = metrics.get("over_valid")
    values: dict[str, float | None] = {
        "valid_rate": report["valid_cases"] / report["total"] if report["total"] else 0.0,
        "mae": metrics.get("mae"),
        "mae_over_all": metrics["over_all"]["mae"],
    }
    if over_valid:
        values["exact"] = sum(over_valid["exact"][k] for k in KEYS) / len(KEYS)
        values["within1"] = sum(over_valid["within1"][k] for k in KEYS) / len(KEYS)
        values["all_exact"] = over_valid["all_exact"]
    return {k: float(v) for k, v in values.items() if v is not None}


def _eval_dataset(report: Mapping[str, Any]) -> tuple[str, str]:
    """(model-index dataset type, name): the Hub dataset the test rows came from, or `local` for a file."""
    data = str((report.get("inputs") or {}).get("data") or "")
    repo = re.match(r"^([\w.-]+/[\w.-]+)(@[^:]*)?:", data)
    name = f"held-out test split ({report['total']} rows)"
    return (repo.group(1), name) if repo and not Path(data).exists() else ("local", name)


def base_license(base_model: str) -> str | None:
    """The base model's license from its card: a local folder's README.md, or the Hub repo's (None when there is
    none or the Hub cannot be reached: the card then points to the base)."""
    try:
        if is_local(base_model):
            readme = Path(base_model) / "README.md"
            return ModelCard.load(readme).data.license if readme.is_file() else None
        return ModelCard.load(base_model).data.license
    except Exception:  # noqa: BLE001 - offline, gated, missing: a card without a license field, never a failed job
        return None


def hub_card(repo: str) -> ModelCard:
    """The card of a Hub model repo, or an empty one when the repo has none yet (it is then created)."""
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    try:
        return ModelCard.load(repo)
    except (EntryNotFoundError, RepositoryNotFoundError):
        return ModelCard(f"# {repo}\n")


def snippet(facts: CardFacts) -> str:
    """Python that loads the model, generates for one request and prints its six integers, or the strict parser's
    reason when the output is not exactly one valid object."""
    if facts.kind == "adapter-only":
        load = f"PredictConfig(base_model_id={facts.base_model!r}, adapter_model_id={facts.model_ref!r})"
    else:
        load = f"PredictConfig(model_id={facts.model_ref!r})"
    return "\n".join(
        [
            "from hiddenparams.model.predict import PredictConfig, Predictor  # generation + the strict parser the scores used",
            "",
            f"predictor = Predictor.load({load})",
            'answer = predictor.predict(["rainy sunday morning, some soft jazz to read by"])[0]',
            'print(list(answer["params"].values()) if "params" in answer else answer["error"])',
        ]
    )


def with_eval_results(card: ModelCard, report: Mapping[str, Any], model_name: str | None = None) -> ModelCard:
    """`card` with the report's numbers as its `model-index` results and as its Evaluation section (replaced when
    there is one)."""
    dataset_type, dataset_name = _eval_dataset(report)
    card.data.eval_results = [
        EvalResult(
            task_type="text-generation",
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            dataset_split="test",
            metric_type=METRICS[k][0],
            metric_name=METRICS[k][1],
            metric_value=v,
        )
        for k, v in eval_metrics(report).items()
    ]
    card.data.model_name = card.data.model_name or model_name or "hiddenparams model"
    section = _eval_section(report)
    body = re.sub(r"^## Evaluation\n.*?(?=^## |\Z)", "", card.text, flags=re.S | re.M).rstrip("\n")
    card.text = body + "\n\n" + section  # `text` setter keeps the metadata header
    return card


def _eval_section(report: Mapping[str, Any]) -> str:
    values = eval_metrics(report)
    rows = "\n".join(f"| {METRICS[k][1]} | {v:.3f} |" for k, v in values.items())
    baselines = report.get("baselines") or {}
    lines = [
        "## Evaluation",
        "",
        f"Real generations on the {_eval_dataset(report)[1]}, scored by the strict scorer: an output counts only "
        "when it is exactly one JSON object with the six integer keys in range.",
        "",
        "| metric | value |",
        "|---|---|",
        rows,
    ]
    if baselines:
        lines += [
            "",
            "Baselines fitted on the train split, same rows: "
            + ", ".join(f"{name.replace('_', ' ')} MAE {b['mae']:.3f}" for name, b in baselines.items())
            + ".",
        ]
    return "\n".join(lines) + "\n"


def model_card(facts: CardFacts) -> ModelCard:
    library, tag, title = KINDS[facts.kind]
    hub_base = not is_local(facts.base_model)
    data = (facts.train_summary or {}).get("data") or {}
    source = str(data.get("source") or "")
    hub_data = bool(source) and not is_local(source)
    card_data = ModelCardData(
        base_model=facts.base_model if hub_base else None,
        license=base_license(facts.base_model),
        datasets=[source] if hub_data else None,
        library_name=library,
        pipeline_tag="text-generation",
        tags=["hiddenparams", tag, "structured-output"] + (["synthetic-data"] if facts.synthetic else []),
    )
    base_name = facts.base_model if hub_base else Path(facts.base_model).name
    lines = [
        f"# hiddenparams {title} for {base_name}",
        "",
        f"Maps a free-text music request to six hidden parameters ({', '.join(KEYS)}), each an integer "
        f"{MIN_VALUE}..{MAX_VALUE}, answered as one strict JSON object.",
        "",
    ]
    if hub_base and card_data.license is None:
        lines += [f"License: that of the base model; see its card (https://huggingface.co/{facts.base_model}).", ""]
    if not hub_base:
        lines += [
            f"The base model is a local folder (`{base_name}`), not a Hub repo, so this card names no "
            "`base_model`; its license and terms apply to this model.",
            "",
        ]
    if facts.extra:
        lines += [facts.extra, ""]
    lines += [
        "## Intended use",
        "",
        "Turning one music request into the six parameters a recommender or generator reads, inside a system that "
        "checks the answer with the strict parser and falls back when it is not valid.",
        "",
        "## Limitations",
        "",
        "- The output is valid only when the strict parser accepts it; the share of valid outputs below is measured, "
        "not guaranteed. Always parse strictly and handle an invalid answer.",
        "- The six values are judgements learned from the training labels; the model knows nothing about music "
        "beyond them, and errors are largest on rare phrasings, short non-English requests and extreme values.",
        "- Requests longer than the training examples may be cut or answered badly.",
        "",
    ]
    lines += _data_lines(data, hub_data, facts.synthetic)
    lines += _training_lines(facts)
    lines += [
        "## Use",
        "",
        "```python",
        snippet(facts),
        "```",
        "",
        "## Prompt",
        "",
        "System prompt:",
        "",
        "```text",
        SYSTEM_PROMPT,
        "```",
        "",
        "User message:",
        "",
        "```text",
        user_message("<request text>"),
        "```",
        "",
    ]
    card = ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n" + "\n".join(lines))
    if facts.eval_report:
        with_eval_results(card, facts.eval_report, f"hiddenparams-{tag}")
    return card


def _data_lines(data: Mapping[str, Any], hub_data: bool, synthetic: bool) -> list[str]:
    if not data and not synthetic:
        return []
    lines = ["## Data", ""]
    rows = data.get("rows") or {}
    if rows:
        lines.append("Rows: " + ", ".join(f"{split} {n}" for split, n in rows.items()) + ".")
    if data.get("source"):
        where = f"the Hub dataset `{data['source']}`" if hub_data else "local files (no Hub dataset to link)"
        revision = f" at revision `{data['revision']}`" if data.get("revision") else ""
        lines.append(f"Source: {where}{revision}; their SHA-256 digests are in `train_summary.json`.")
    if synthetic:
        lines += ["", SYNTHETIC_NOTE]
    return lines + [""]


def _training_lines(facts: CardFacts) -> list[str]:
    config, summary = facts.training or {}, facts.train_summary or {}
    rows = [(name, config[name]) for name in HYPERPARAMETERS if config.get(name) not in (None, "", -1)]
    if summary.get("lora_target_modules"):
        targets = summary["lora_target_modules"]
        rows.insert(3, ("lora_target_modules", targets if isinstance(targets, str) else ", ".join(targets)))
    if summary.get("global_step"):
        rows.append(("optimizer steps", summary["global_step"]))
    if not rows:
        return []
    heading = "## Training (LoRA)" if summary.get("method", "lora") == "lora" else "## Training"
    return [heading, "", "| hyperparameter | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]


def _read(path: Path) -> Any:
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)


def folder_card(
    folder: Path,
    eval_report: Mapping[str, Any] | None = None,
    model_ref: str | None = None,
    synthetic: bool = False,
    extra: str = "",
) -> ModelCard:
    """The card of a model folder from its own files: an adapter (adapter_config.json + the training job's
    records), a merged model (merge_info.json) or a full fine-tune (train_summary.json)."""
    folder = Path(folder)
    merge_info = _read(folder / "merge_info.json")
    if merge_info:
        records = merge_info.get("adapter") or {}
        training, summary = records.get("resolved_config"), records.get("train_summary")
        base, kind = merge_info["base_model_id"], "merged"
        extra = extra or merge_info.get("note", "")
    else:
        training, summary = _read(folder / "resolved_config.yaml"), _read(folder / "train_summary.json") or {}
        adapter_config = _read(folder / "adapter_config.json")
        kind = "adapter-only" if adapter_config else "full"
        base = summary.get("model_id") or (adapter_config or {}).get("base_model_name_or_path") or "unknown"
    facts = CardFacts(base, kind, model_ref or str(folder), training, summary, eval_report, synthetic, extra)
    return model_card(facts)
