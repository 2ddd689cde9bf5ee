"""`hiddenparams convert`: canonical rows -> TRL conversational prompt-completion rows.

`prompt` is the system + user turns from the prompt module; `completion` is one assistant turn whose content is
the strict JSON in canonical key order and nothing else (the chat template appends EOS). The output folder also
holds `manifest.json`: rows per split, what was left out and why, and the provenance (config hash, sha256 of each
input file, code version).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, flag
from ..errors import HiddenParamsError
from ..files import staged_folder
from ..prompt import completion_messages, prompt_messages
from ..provenance import provenance
from .rows import SPLITS, DataError, Row, read_rows, write_jsonl


@dataclass(frozen=True)
class ConvertConfig:
    src: str = ""  # folder with train.jsonl (and validation.jsonl, test.jsonl) from `split`
    out: str = field(default="", metadata=flag("Folder for the {prompt, completion} files and manifest.json (required)."))
    overwrite: bool = field(default=False, metadata=flag("Replace the files of a non-empty --out folder."))
    model_id: str | None = field(
        default=None, metadata=flag("Count every row's tokens with this model's tokenizer and refuse rows over"
                                    " --max-length (local folder, or a Ministral-3 model on the Hub: offline).")
    )
    max_length: int | None = field(
        default=None, metadata=flag("With --model-id: the most tokens a row may have (default: the model's context).")
    )

    def validate(self, source: str = "config") -> None:
        if not self.src or not self.out:
            raise ConfigError(f"{source}: fields 'src' and 'out' are both required")
        if self.max_length is not None and not self.model_id:
            raise ConfigError(f"{source}: field 'max_length' needs 'model_id' (the tokenizer that counts the tokens)")
        if self.max_length is not None and self.max_length < 8:
            raise ConfigError(f"{source}: field 'max_length': must be >= 8")


@dataclass
class ConvertResult:
    """What `run` wrote. Its JSON form is what `convert --json` prints and what manifest.json holds."""

    out: Path
    rows: dict[str, int]  # rows written per split
    notes: list[str] = field(default_factory=list)  # splits left out, and why
    provenance: dict[str, Any] = field(default_factory=dict)
    # With a model: the tokenizer, the cap, and the longest row (tokens, file:line), which decides the sequence budget
    lengths: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"out": str(self.out), "rows": self.rows, "notes": self.notes, "provenance": self.provenance,
                **({"lengths": self.lengths} if self.lengths else {})}


def to_prompt_completion(row: Row) -> dict[str, Any]:
    return {"prompt": prompt_messages(row.request_text), "completion": completion_messages(row.hidden_params)}


def run(cfg: ConvertConfig) -> ConvertResult:
    """Convert every split present in `cfg.src` into `cfg.out`, written whole or not at all.

    An empty train split is an error (there is nothing to train on). An empty validation or test split is left out
    with a note, so training runs without evaluation instead of failing on an empty file inside the job."""
    src, out = Path(cfg.src), Path(cfg.out)
    if not src.is_dir():
        raise DataError(f"{src}: no such folder (give the folder `hiddenparams split` wrote)")
    train = src / "train.jsonl"
    if not train.is_file():
        raise DataError(f"{src}: no train.jsonl (run `hiddenparams split` first)")
    inputs = {split: src / f"{split}.jsonl" for split in SPLITS if (src / f"{split}.jsonl").is_file()}
    rows = {split: read_rows(path) for split, path in inputs.items()}
    if not rows["train"]:
        raise DataError(f"{train}: no rows to train on; split more labelled rows (`hiddenparams split`)")
    notes = [
        f"{inputs[split]} is empty: no {split}.jsonl written"
        + ("; training runs without evaluation" if split == "validation" else "")
        for split in SPLITS
        if split in rows and not rows[split]
    ]
    result = ConvertResult(out, {}, notes, provenance(cfg, {f"{s}.jsonl": p for s, p in inputs.items()}))
    if cfg.model_id:
        result.lengths = check_lengths(rows, cfg.model_id, cfg.max_length)
    with staged_folder(out, cfg.overwrite) as stage:
        for split, split_rows in rows.items():
            if split_rows:
                result.rows[split] = write_jsonl(stage / f"{split}.jsonl", map(to_prompt_completion, split_rows))
        (stage / "manifest.json").write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return result


def check_lengths(rows: dict[str, list[Row]], model_id: str, max_length: int | None) -> dict[str, Any]:
    """Every row's tokens as training renders it; rows over the cap (default: the model's context) are refused with
    their file and line, before anything is written: training never truncates a row."""
    from ..model.chat_format import over_length, row_lengths
    from ..model.load import context_length_of, counting_tokenizer, offline_config

    tokenizer, name = counting_tokenizer(model_id)
    config = offline_config(model_id)
    context = context_length_of(config) if config else None
    cap = max_length or context
    lengths = row_lengths(
        tokenizer, ((f"{row.source}:{row.line}", to_prompt_completion(row)) for split in rows.values() for row in split)
    )
    refusal = over_length(lengths, cap, "--max-length" if max_length else f"the context of {model_id}")
    if refusal:
        raise DataError(f"{refusal}. Nothing written")
    at, tokens = max(lengths, key=lambda pair: pair[1]) if lengths else (None, 0)
    return {"tokenizer": name, "max_length": cap, "longest": {"tokens": tokens, "at": at}}


def convert_dir(src: str | Path, out: str | Path, overwrite: bool = False) -> dict[str, int]:
    """`run` for a library caller holding two paths: rows written per split."""
    return run(ConvertConfig(str(src), str(out), overwrite)).rows


TRAIN_SPLITS = ("train", "validation")  # the training job trains on the first and evaluates on the second: both need rows


class TrainDataError(HiddenParamsError, ValueError):
    """The training data would fail the job: found before it is submitted, and again as it starts."""


def check_data_dir(data_dir: Path) -> dict[str, int]:
    """Rows per split of a local folder from `hiddenparams convert`, as the training job reads it (checked before a job
    is submitted, and again as it starts). Train and validation must each hold rows, the
    first a {prompt, completion} record; anything else is an error naming the file, never a traceback in the job."""
    rows: dict[str, int] = {}
    for split in TRAIN_SPLITS:
        path = data_dir / f"{split}.jsonl"
        if not path.is_file():
            raise TrainDataError(f"{path}: no such file; data_dir must hold the output of `hiddenparams convert`")
        with open(path, encoding="utf-8-sig") as f:
            lines = [(number, line) for number, line in enumerate(f, start=1) if line.strip()]
        if not lines:
            raise TrainDataError(
                f"{path}: empty {'training' if split == 'train' else 'validation'} set (no rows): split with more "
                "rows or larger fractions, then `hiddenparams convert` again"
            )
        number, line = lines[0]
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TrainDataError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(row, dict) or not {"prompt", "completion"} <= row.keys():
            raise TrainDataError(f"{path}:{number}: expected a {{prompt, completion}} row; run `hiddenparams convert`")
        rows[split] = len(lines)
    return rows
