"""Stage configuration as dataclasses: YAML file + `--set field=value` overrides, TRL style, one loader for all.

Every stage (split, convert, train, eval, merge, predict) declares one `XConfig` dataclass with a
`validate(source)` method; `load_config(path, overrides, cls=XConfig)` builds and checks it, raising `ConfigError`
(the one error type) that names the file and the field. The resolved config is saved beside every artifact it
produced (`resolved_config.yaml`), and its hash (`config_hash`) identifies the run in the ledger.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml
from .errors import HiddenParamsError


_TIMEOUT = re.compile(r"^\d+(\.\d+)?[smhd]?$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


class ConfigError(HiddenParamsError, ValueError):
    """A config problem found before any job is submitted. The message names the file and the field."""


@dataclass
class TrainConfig:
    # What to train
    model_id: str = "tiny-model"  # Hub repo id or local directory
    data_dir: str = "data/converted"  # local dir with train.jsonl / validation.jsonl ({prompt, completion}), or a Hub dataset id
    output_dir: str = "runs/train"
    hub_model_id: str | None = None  # where the adapter (or full model) is pushed; required on hf-jobs
    hub_private: bool = True
    # Where to run it
    backend: str = "local"  # local | hf-jobs
    flavor: str = "cpu-basic"  # HF Jobs hardware flavor; ignored by the local backend
    timeout: str = "4h"  # HF Jobs timeout (the service default of 30 min is too short for real runs)
    namespace: str | None = None  # HF user/org that owns the job; explicit, else every call first asks whoami
    # Method
    full_finetune: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_modules_to_save: str = ""  # comma-separated module names trained in full beside LoRA (e.g. a final norm)
    lora_target_modules: str = "auto"  # auto: the language model's attention + MLP projections (model.lora_targets)
    # Optimisation
    learning_rate: float = 2e-4
    num_train_epochs: float = 2.0
    max_steps: int = -1
    per_device_train_batch_size: int = 16
    per_device_eval_batch_size: int = 32
    gradient_accumulation_steps: int = 1
    warmup_steps: float = 0.05  # < 1 is a ratio of total steps (transformers 5 dropped warmup_ratio)
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    max_length: int | None = None  # None: the longest tokenised example of the data (not TRL's 1024 default)
    padding_free: bool = False  # pack a batch into one row without padding (wants flash attention on GPU)
    group_by_length: bool = True  # batches of similar lengths: far less padding for short, varied requests
    gradient_checkpointing: bool = False
    bf16: bool | None = None  # None: bf16 when CUDA is available
    use_liger_kernel: bool = False
    torch_compile: bool = False
    torch_threads: int | None = None  # CPU threads; a tiny model on few cores runs fastest on one (sync overhead)
    # Bookkeeping
    logging_steps: int = 10
    eval_steps: int = 50
    save_steps: int = 100
    save_total_limit: int = 2
    report_to: str = "tensorboard"
    seed: int = 0
    resume: bool = False  # resume from the last checkpoint in output_dir

    def validate(self, source: str = "config") -> None:
        def bad(name: str, why: str) -> None:
            raise ConfigError(f"{source}: field '{name}': {why}")

        if self.backend not in ("local", "hf-jobs"):
            bad("backend", f"{self.backend!r} is not one of local, hf-jobs")
        if self.backend == "hf-jobs":
            if not self.hub_model_id:
                bad("hub_model_id", "hf-jobs writes to an ephemeral disk: give the repo the job pushes to")
            if not _TIMEOUT.match(str(self.timeout)):
                bad("timeout", f"{self.timeout!r} is not a duration like 90m, 4h or 3600")
        if self.hub_model_id and not _REPO_ID.match(self.hub_model_id):
            bad("hub_model_id", f"{self.hub_model_id!r} is not a valid repo id (namespace/name)")
        if self.namespace is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", self.namespace):
            bad("namespace", f"{self.namespace!r} is not a valid user or organisation name")
        for name in ("lora_r", "lora_alpha", "per_device_train_batch_size", "gradient_accumulation_steps"):
            if getattr(self, name) < 1:
                bad(name, "must be >= 1")
        if not self.learning_rate > 0:
            bad("learning_rate", "must be > 0")
        if self.max_length is not None and self.max_length < 8:
            bad("max_length", "must be >= 8 (or null to take it from the data)")
        try:
            self.lora_target_modules == "auto" or re.compile(self.lora_target_modules)
        except re.error as exc:
            bad("lora_target_modules", f"not a valid regex: {exc}")
        if re.search(r"lm_head", self.lora_target_modules):
            bad("lora_target_modules", "lm_head is tied to the embeddings: never target it")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        return config_hash(self)

    def model_dir(self) -> Path:
        """Where the job writes the final weights: `output_dir/adapter` for LoRA, `output_dir/model` for full FT."""
        return Path(self.output_dir) / ("model" if self.full_finetune else "adapter")

    def save(self, path: str | Path) -> Path:
        return save_config(self, path)


def config_hash(cfg: Any) -> str:
    """A short, stable hash of a config dataclass's resolved values."""
    blob = json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def save_config(cfg: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
    return path


def _coerce(value: Any, hint: Any, name: str, source: str) -> Any:
    """Turn YAML/CLI values into the declared field type, or fail naming the field."""
    optional = type(None) in typing.get_args(hint)
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    if value is None or (isinstance(value, str) and value.lower() in ("null", "none") and optional):
        if optional:
            return None
        raise ConfigError(f"{source}: field '{name}': may not be null")
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes"):
                return True
            if str(value).lower() in ("false", "0", "no"):
                return False
            raise ValueError(value)
        if base is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if base is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: field '{name}': {value!r} is not a {base.__name__}") from None


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None, cls: type[Any] = TrainConfig
) -> Any:
    """YAML file (optional) then overrides (flag values win) into the dataclass `cls`, validated.

    Unknown fields are errors that name the field; `cls.validate(source)`, when defined, runs last.
    """
    values: dict[str, Any] = {}
    source = str(path) if path else "config"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no such config file")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: top level must be a mapping of field: value")
        values.update(loaded)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
    hints = typing.get_type_hints(cls)
    cfg = cls(**{k: _coerce(v, hints[k], k, source) for k, v in values.items()})
    if hasattr(cfg, "validate"):
        cfg.validate(source)
    return cfg


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set key=value` style overrides from the CLI, parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r}: expected field=value")
        key, raw = pair.split("=", 1)
        out[key.strip().replace("-", "_")] = yaml.safe_load(raw) if raw else ""
    return out
