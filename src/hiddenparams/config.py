"""Stage configuration as dataclasses: YAML file + `--set field=value` overrides, TRL style, one loader for all.

Every stage (split, convert, train, eval, merge, predict) declares one `XConfig` dataclass with a
`validate(source)` method; `load_config(path, overrides, cls=XConfig)` builds and checks it, raising `ConfigError`
(the one error type) that names the file and the field. Where a job runs (`RunOn`: backend, flavor, timeout,
namespace) is a dataclass of its own, read from the same flat file by `load_configs`, as TRL's parser fills several
argument dataclasses from one YAML. The resolved config is saved beside every artifact it produced
(`resolved_config.yaml`), and its hash (`config_hash`) identifies the run in the ledger.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import HiddenParamsError
from .hub import HubNameError, repo_id_problem, timeout_seconds

BACKENDS = ("local", "hf-jobs")


class ConfigError(HiddenParamsError, ValueError):
    """A config problem found before any job is submitted. The message names the file and the field."""


def flag(text: str) -> dict[str, Any]:
    """Field metadata that makes a config field also a CLI flag (`--model-id`) with this help text: the option is
    declared once, here, and the command derives its flags from the dataclass (cli/options.py)."""
    return {"help": text}


def not_hashed(metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Field metadata that keeps a field out of its config's hash: which commit of the data was read (set by the
    hf-jobs submit, after the hash is recorded). The data itself is identified by its sha256 in the provenance."""
    return {**(metadata or {}), "hashed": False}


def _bad(source: str, name: str, why: str) -> ConfigError:
    return ConfigError(f"{source}: field '{name}': {why}")


@dataclass
class RunOn:
    """Where a job runs, apart from what it computes: the same fields, flags and rules for every job-running stage
    (train, eval, merge), and none of them in a stage's config hash (the same run on another flavor is the same run).
    Read from the same flat YAML file as the stage's config. A field left unset takes the stage's default
    (`jobs.stage.StageJob.run_on`): its flavor, its timeout, the namespace of the repo it writes to."""

    backend: str | None = field(
        default=None, metadata=flag("Run as a job: local | hf-jobs (eval, merge default: here, in this process).")
    )
    flavor: str | None = field(default=None, metadata=flag("hf-jobs hardware, e.g. a10g-small, a100-large."))
    timeout: str | None = field(default=None, metadata=flag("hf-jobs time limit, e.g. 90m, 4h."))
    # Explicit, or taken from the repo the job pushes to: never a whoami call per request.
    namespace: str | None = field(default=None, metadata=flag("hf-jobs owner (default: the namespace of the repo)."))

    def validate(self, source: str = "config") -> None:
        if self.backend is not None and self.backend not in BACKENDS:
            raise _bad(source, "backend", f"{self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.timeout is not None:
            try:
                timeout_seconds(self.timeout)
            except HubNameError as exc:
                raise _bad(source, "timeout", str(exc)) from None
        if self.namespace is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", self.namespace):
            raise _bad(source, "namespace", f"{self.namespace!r} is not a valid user or organisation name")

    @property
    def hf(self) -> bool:
        return self.backend == "hf-jobs"


@dataclass
class TrainConfig:
    """What to train and how: every field whose name is an `SFTConfig` field goes to TRL as is (train_job.py)."""

    # What to train
    model_id: str = field(default="tiny-model", metadata=flag("Base model: Hub id or local folder."))
    # A local folder with train.jsonl + validation.jsonl ({prompt, completion}) from `convert`, or a Hub dataset id.
    data_dir: str = field(default="data/converted", metadata=flag("Converted data: local folder or Hub dataset id."))
    data_revision: str | None = field(
        default=None,
        metadata=not_hashed(flag("Commit (or branch) of a Hub dataset data_dir (hf-jobs: set at submit).")),
    )
    output_dir: str = field(default="runs/train", metadata=flag("Where the job writes its outputs."))
    # Where the adapter (or full model) is pushed; required on hf-jobs, whose disk is ephemeral.
    hub_model_id: str | None = field(default=None, metadata=flag("Repo the job pushes the model to."))
    hub_private: bool = True
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
    max_steps: int = field(default=-1, metadata=flag("Stop after this many optimizer steps (-1: the epochs decide)."))
    per_device_train_batch_size: int = 16
    per_device_eval_batch_size: int = 32
    gradient_accumulation_steps: int = 1
    warmup_steps: float = 0.05  # < 1 is a ratio of total steps (transformers 5 dropped warmup_ratio)
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    # None: the longest tokenised example of the data (not TRL's 1024 default). A row over a set cap is refused at the
    # job's start, never truncated; `convert --model-id` refuses it earlier, naming its file and line.
    max_length: int | None = None
    padding_free: bool = False  # pack a batch into one row without padding (wants attn_implementation on GPU)
    # Padding-free batches want flash attention's varlen kernel: with SDPA, transformers turns the packed position ids
    # into a dense block-diagonal mask over the whole flattened batch. None: the model's default (SDPA).
    attn_implementation: str | None = None
    group_by_length: bool = True  # batches of similar lengths: far less padding for short, varied requests
    activation_checkpointing: bool = False  # transformers 5 name of gradient checkpointing (the old one warns)
    bf16: bool | None = None  # None: bf16 when CUDA is available
    use_liger_kernel: bool = False
    torch_compile: bool = False
    torch_threads: int | None = None  # CPU threads (None: torch default); 2 beat 1 by 1.5-2x in the demo's training
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
            raise _bad(source, name, why)

        if self.hub_model_id and (why := repo_id_problem(self.hub_model_id, namespaced=True)):
            bad("hub_model_id", f"not a valid repo id: {why}")
        for name in ("lora_r", "lora_alpha", "per_device_train_batch_size", "gradient_accumulation_steps"):
            if getattr(self, name) < 1:
                bad(name, "must be >= 1")
        if self.max_steps == 0 or self.max_steps < -1:
            bad("max_steps", f"{self.max_steps} trains nothing: give a step count >= 1, or -1 to let the epochs decide")
        if self.max_steps == -1 and not self.num_train_epochs > 0:
            bad("num_train_epochs", f"{self.num_train_epochs} trains nothing: must be > 0 (or set max_steps)")
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
    """A short, stable hash of a config dataclass's resolved values (nested settings included), without the fields
    marked `not_hashed`: the one hash of a stage's config, in its artifacts and in the ledger alike."""

    def hashed(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return {f.name: hashed(getattr(obj, f.name)) for f in fields(obj) if f.metadata.get("hashed", True)}
        return obj

    blob = json.dumps(hashed(cfg), sort_keys=True, default=str).encode()
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
    return load_configs(path, overrides, cls)[0]


def load_configs(path: str | Path | None, overrides: dict[str, Any] | None, *classes: type[Any]) -> tuple[Any, ...]:
    """One flat YAML file + overrides into several dataclasses, each field to the class that declares it (as TRL's
    parser fills its script, training and model arguments from one file): `load_configs(p, o, TrainConfig, RunOn)`.
    A field whose type is itself a dataclass (`EvalConfig.decoding`) is read flat too (`temperature: 0.7`), or as a
    mapping under its own name (how `--config-json` passes a config whole). A field no class declares is an error
    that names it."""
    source = str(path) if path else "config"
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    values = {**_flatten(_read(path), classes), **_flatten(given, classes)}  # the overrides win, flat or nested
    known = [name for cls in classes for name in field_names(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
    return tuple(_build(cls, values, source) for cls in classes)


def _nested(hint: Any) -> type | None:
    """The dataclass a field holds whole (`decoding: Decoding`), or None for a plain value."""
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def field_names(cls: type[Any]) -> list[str]:
    """The flat names of a config's fields: a nested dataclass's fields in its place."""
    hints = typing.get_type_hints(cls)
    names = []
    for f in fields(cls):
        sub = _nested(hints[f.name])
        names += field_names(sub) if sub else [f.name]
    return names


def _flatten(values: dict[str, Any], classes: tuple[type[Any], ...]) -> dict[str, Any]:
    """Mappings given under a nested dataclass field's name, merged into the flat values (a flat value wins)."""
    out = dict(values)
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if (sub := _nested(hints[f.name])) and isinstance(out.get(f.name), dict):
                out = {**_flatten(out.pop(f.name), (sub,)), **out}
    return out


def _build(cls: type[Any], values: dict[str, Any], source: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in fields(cls):
        if sub := _nested(hints[f.name]):
            kwargs[f.name] = _build(sub, values, source)
        elif f.name in values:
            kwargs[f.name] = _coerce(values[f.name], hints[f.name], f.name, source)
    cfg = cls(**kwargs)
    if hasattr(cfg, "validate"):
        cfg.validate(source)
    return cfg


def _read(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{p}: top level must be a mapping of field: value")
    return loaded


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set key=value` style overrides from the CLI, parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r}: expected field=value")
        key, raw = pair.split("=", 1)
        out[key.strip().replace("-", "_")] = yaml.safe_load(raw) if raw else ""
    return out


def job_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The arguments of a job script that runs on a config: a YAML file, the resolved config as JSON (how the job
    backends pass it whole), and `--set` overrides. Read them with `job_configs`."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", help="YAML config")
    parser.add_argument("--config-json", help="the resolved config as JSON (how the job backends pass it)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override one field")
    return parser


def job_configs(args: argparse.Namespace, *classes: type[Any]) -> tuple[Any, ...]:
    """The configs of `job_parser`'s arguments: the YAML file, then the JSON config, then `--set`, each winning."""
    try:
        overrides = json.loads(args.config_json) if args.config_json else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config-json: not JSON ({exc})") from None
    if not isinstance(overrides, dict):
        raise ConfigError("--config-json: not a JSON object of config fields")
    overrides.update(parse_overrides(args.set))
    return load_configs(args.config, overrides, *classes)
