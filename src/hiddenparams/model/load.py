"""Loading models and tokenizers from a Hub id or a local folder, without the silent failures.

Traps this module exists for (docs/ARCHITECTURE.md, "Models"):
- `AutoModelForCausalLM` rejects `Mistral3Config`; text-only classes load a Mistral3 checkpoint with every weight
  randomly initialised and only a log line to show for it. We pick the class from `model_type` and fail on any
  missing, unexpected or mismatched weight.
- The Instruct checkpoint is FP8; it is always dequantised to bf16 (transformers cannot train FP8 layers, and a
  merge must never happen in FP8). A misnamed scale tensor would load raw FP8 values, so values are checked too.
- LoRA must target the language model only: plain names also wrap the vision tower, and lm_head is tied.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HiddenParamsError
from ..hub import is_local
from ..prompt import completion_messages, prompt_messages
from ..schema import KEYS
from .chat_format import MINISTRAL3_CHAT_TEMPLATE, ChatFormatError, check_chat_format

VLM_MODEL_TYPES = ("mistral3",)
_PROJECTIONS = "(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
# Raw float8_e4m3fn values reach 448; dequantised LLM linear weights are orders of magnitude smaller.
_RAW_FP8_MAGNITUDE = 64.0


class ModelLoadError(HiddenParamsError, RuntimeError):
    """The model or tokenizer cannot be used as asked; the message says what to do."""


# config.json files shipped for the models the dry run must estimate offline (jobs/estimate.py, docs/JOBS.md).
KNOWN_CONFIGS = Path(__file__).resolve().parent / "known_configs"


@dataclass
class LoadReport:
    model_id: str
    model_class: str
    dtype: str
    fp8_dequantized: bool = False
    warnings: list[str] = field(default_factory=list)


def model_config(model_id: str) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model_id)
    except OSError as exc:
        where = "local folder" if is_local(model_id) else "Hub repo"
        raise ModelLoadError(
            f"{model_id}: cannot read config.json from the {where} ({exc.__class__.__name__})"
        ) from None


def known_config(model_id: str) -> dict[str, Any] | None:
    """A config.json shipped with hiddenparams for a model the dry run must estimate offline (the project's model).
    Not a download: assembled from the published shape (docs/JOBS.md, "Before the first GPU run")."""
    path = KNOWN_CONFIGS / f"{model_id.replace('/', '--')}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def full_config(config: dict[str, Any]) -> dict[str, Any]:
    """config.json with transformers' defaults filled in (a saved config leaves out values equal to the defaults)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.for_model(**config).to_dict()
    except (KeyError, ValueError):  # a model_type this transformers does not know
        model_type = config.get("model_type")
        raise ModelLoadError(f"transformers cannot read the model's config (model_type {model_type!r})") from None


def context_length_of(config: dict[str, Any]) -> int | None:
    """The longest sequence a model's config.json says it was built for (a VLM keeps it in its text config)."""
    full = full_config(config)
    return (full.get("text_config") or full).get("max_position_embeddings")


def offline_config(model_id: str) -> dict[str, Any] | None:
    """The model's config.json without a download: a local folder's, the Hugging Face cache's, or the one hiddenparams
    ships for the project's model (model/known_configs); None when none is here."""
    import json

    from huggingface_hub import try_to_load_from_cache

    path: Any = (
        Path(model_id) / "config.json" if is_local(model_id) else try_to_load_from_cache(model_id, "config.json")
    )
    if isinstance(path, (str, Path)) and Path(path).is_file():
        return json.loads(Path(path).read_text(encoding="utf-8"))
    return None if is_local(model_id) else known_config(model_id)


@functools.lru_cache(maxsize=4)
def counting_tokenizer(model_id: str) -> tuple[Any, str]:
    """A tokenizer that counts a row's tokens as the job will, offline, and what it is: a local model's own, or for a
    Ministral-3 model on the Hub the tekken vocabulary mistral-common ships (the same ids and chat format,
    chat_format.py). Raises ModelLoadError when there is none here."""
    if is_local(model_id):
        return load_tokenizer(model_id), f"{model_id}'s tokenizer"
    config = offline_config(model_id)
    if config is not None and config.get("model_type") in VLM_MODEL_TYPES:
        from .chat_format import load_tekken_tokenizer

        return load_tekken_tokenizer(), "the tekken tokenizer (mistral-common)"
    raise ModelLoadError(f"{model_id}: no tokenizer on this machine to count the rows with (give a local model folder)")


def is_fp8(config: Any) -> bool:
    qc = getattr(config, "quantization_config", None)
    method = qc.get("quant_method") if isinstance(qc, dict) else getattr(qc, "quant_method", None)
    return str(getattr(method, "value", method)).lower() == "fp8"


def lora_targets(config: Any) -> str:
    """Regex of the modules LoRA wraps: the language model's projections, never the vision tower or lm_head."""
    if config.model_type in VLM_MODEL_TYPES:
        return rf".*language_model.*\.{_PROJECTIONS}"
    return rf".*\.{_PROJECTIONS}"


def model_class(config: Any) -> Any:
    if config.model_type in VLM_MODEL_TYPES:
        from transformers import Mistral3ForConditionalGeneration

        return Mistral3ForConditionalGeneration
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM


def default_dtype() -> Any:
    import torch

    return torch.bfloat16 if torch.cuda.is_available() else torch.float32


def check_weight_files(folder: str | Path) -> None:
    """Every safetensors file of a local folder has a readable header covering the file: a truncated copy (an
    interrupted download or copy, a full disk) is named here instead of failing deep inside the loader."""
    from safetensors import SafetensorError, safe_open

    for path in sorted(Path(folder).glob("*.safetensors")):
        try:
            with safe_open(str(path), "pt"):
                pass
        except (SafetensorError, OSError) as exc:
            raise ModelLoadError(
                f"{path}: truncated or corrupt weights file ({exc}); copy or download it again, or re-run the"
                " training or merge that wrote it"
            ) from None


def check_model_mode(model_id: str | None, base_model_id: str | None, adapter_id: str | None) -> None:
    """Full-model mode or base+adapter mode, never both, never half of one."""
    if bool(model_id) == bool(base_model_id or adapter_id):
        raise ModelLoadError("give either --model-id, or both --base-model-id and --adapter-model-id")
    if not model_id and not (base_model_id and adapter_id):
        raise ModelLoadError("base+adapter mode needs both --base-model-id and --adapter-model-id")


def load_model(model_id: str, dtype: Any = None, device_map: Any = None) -> tuple[Any, LoadReport]:
    """Load a full model for training, inference or merging; never FP8, never silently random."""
    import torch
    from safetensors import SafetensorError

    config = model_config(model_id)
    if is_local(model_id):
        check_weight_files(model_id)
    dtype = dtype or default_dtype()
    kwargs: dict[str, Any] = {"dtype": dtype, "output_loading_info": True}
    if device_map is not None:
        kwargs["device_map"] = device_map
    fp8 = is_fp8(config)
    if fp8:
        from transformers import FineGrainedFP8Config

        kwargs["quantization_config"] = FineGrainedFP8Config(dequantize=True)
        if dtype == torch.float32:
            kwargs["dtype"] = torch.bfloat16  # the dequantised weights are bf16; upcasting them adds nothing
    cls = model_class(config)
    try:
        model, info = cls.from_pretrained(model_id, **kwargs)
    except OSError as exc:
        raise ModelLoadError(f"{model_id}: cannot load weights ({exc})") from None
    except SafetensorError as exc:  # a Hub download cut short: the cached copy is what is broken
        raise ModelLoadError(
            f"{model_id}: corrupt weights file ({exc}); delete it from the Hugging Face cache and download it again"
        ) from None
    problems = {k: list(info.get(k) or []) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        detail = "; ".join(
            f"{k}: {', '.join(map(str, v[:5]))}{' ...' if len(v) > 5 else ''}" for k, v in problems.items()
        )
        raise ModelLoadError(
            f"{model_id}: weights do not match {cls.__name__} ({detail}); refusing a partly random model"
        )
    if fp8:
        _check_dequantized(model, model_id)
    report = LoadReport(model_id, type(model).__name__, str(next(model.parameters()).dtype), fp8_dequantized=fp8)
    return model, report


def _check_dequantized(model: Any, model_id: str) -> None:
    import torch

    for name, param in model.named_parameters():
        if param.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
            raise ModelLoadError(f"{model_id}: {name} is still FP8 after loading; it cannot be trained or merged")
        if name.endswith("proj.weight") and param.detach().abs().max().item() > _RAW_FP8_MAGNITUDE:
            raise ModelLoadError(
                f"{model_id}: {name} holds values up to {param.abs().max().item():.0f}: raw FP8 values were loaded "
                "without their scales (a misnamed weight_scale_inv?)"
            )


def load_tokenizer(model_id: str, config: Any = None) -> Any:
    """The HF (fast) tokenizer with a chat template that keeps the prompt a prefix and ends turns with EOS."""
    from transformers import AutoTokenizer

    config = config or model_config(model_id)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{model_id}: no usable tokenizer ({exc.__class__.__name__}: {str(exc)[:200]})") from None
    if type(tokenizer).__name__ == "MistralCommonBackend":
        tokenizer = _hf_backend_from_tekken(model_id)
    if config.model_type in VLM_MODEL_TYPES:
        tokenizer.chat_template = MINISTRAL3_CHAT_TEMPLATE
    elif not tokenizer.chat_template:
        raise ModelLoadError(f"{model_id}: the tokenizer has no chat template")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        check_chat_format(tokenizer, prompt_messages("a probe request"), completion_messages(dict.fromkeys(KEYS, 5)))
    except ChatFormatError as exc:
        raise ModelLoadError(f"{model_id}: {exc}") from None
    return tokenizer


def _hf_backend_from_tekken(model_id: str) -> Any:
    """MistralCommonBackend breaks TRL's prompt-completion training: rebuild the HF backend from tekken.json."""
    from huggingface_hub import hf_hub_download
    from transformers.integrations.mistral.tokenizer import convert_tekken_tokenizer

    path = Path(model_id) / "tekken.json" if is_local(model_id) else Path(hf_hub_download(model_id, "tekken.json"))
    tokenizer = convert_tekken_tokenizer(str(path), chat_template=MINISTRAL3_CHAT_TEMPLATE)
    tokenizer.pad_token = "<pad>"
    return tokenizer


def load_for_inference(
    model_id: str | None = None,
    base_model_id: str | None = None,
    adapter_id: str | None = None,
    device: str | None = None,
    dtype: Any = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Full-model mode (`model_id`) or base+adapter mode. Returns (model, tokenizer, description). `dtype`: as
    `load_model` (default: bf16 on a GPU, fp32 on a CPU)."""
    import torch

    tokenizer = inference_tokenizer(model_id, base_model_id, adapter_id)  # before the weights: fail fast and cheap
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    # Weights go straight from the checkpoint to the GPU: a full copy in CPU memory first may not fit a small flavor.
    device_map = device if device.startswith("cuda") else None
    if model_id:
        model, report = load_model(model_id, dtype, device_map=device_map)
        desc = {"mode": "full", "model_id": model_id, "model_class": report.model_class}
    else:
        assert base_model_id is not None and adapter_id is not None  # inference_tokenizer checked the mode
        model, report = load_model(base_model_id, dtype, device_map=device_map)
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_id)
        desc = {
            "mode": "base+adapter",
            "base_model_id": base_model_id,
            "adapter_model_id": adapter_id,
            "model_class": report.model_class,
        }
    model.to(device).eval()
    return model, tokenizer, desc


def inference_tokenizer(
    model_id: str | None = None, base_model_id: str | None = None, adapter_id: str | None = None
) -> Any:
    """The tokenizer `load_for_inference` uses, and every check that needs no weights: the mode, the adapter's files
    and recorded base, the model's config, the tokenizer and its chat format. Reads config and tokenizer files only."""
    check_model_mode(model_id, base_model_id, adapter_id)
    if model_id:
        return load_tokenizer(model_id)
    assert base_model_id is not None and adapter_id is not None  # check_model_mode guarantees both
    check_adapter(adapter_id)  # before the base: a bad adapter must not cost a base model's load
    check_adapter_base(adapter_id, base_model_id)
    return load_tokenizer(_tokenizer_source(adapter_id, base_model_id), model_config(base_model_id))


def _tokenizer_source(adapter_id: str, base_model_id: str) -> str:
    """Adapters saved by our job carry the tokenizer; fall back to the base's."""
    if is_local(adapter_id):
        return adapter_id if (Path(adapter_id) / "tokenizer_config.json").is_file() else base_model_id
    return adapter_id


def check_adapter(adapter_id: str) -> None:
    """A local adapter folder exists, holds adapter_config.json, and its weights are whole."""
    path = Path(adapter_id)
    # An adapter on the Hub is always `namespace/name`: anything else can only be a folder.
    if not path.exists() and (is_local(adapter_id) or adapter_id.count("/") != 1):
        raise ModelLoadError(f"--adapter-model-id {adapter_id}: no such folder (and not a Hub repo id)")
    if is_local(adapter_id):
        if not (path / "adapter_config.json").is_file():
            raise ModelLoadError(
                f"--adapter-model-id {adapter_id}: no adapter_config.json in the folder; give the folder the"
                " training job saved the adapter to (output_dir/adapter)"
            )
        check_weight_files(path)


def adapter_base_id(adapter_id: str) -> str | None:
    from peft import PeftConfig

    try:
        return PeftConfig.from_pretrained(adapter_id).base_model_name_or_path
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"{adapter_id}: not a PEFT adapter (no adapter_config.json): {exc.__class__.__name__}"
        ) from None


def check_adapter_base(adapter_id: str, base_model_id: str) -> None:
    """An adapter trained on another base would load shape-compatible garbage or fail deep inside PEFT."""
    recorded = adapter_base_id(adapter_id)
    if not recorded:
        return
    same = recorded == base_model_id or (
        is_local(recorded) and is_local(base_model_id) and Path(recorded).resolve() == Path(base_model_id).resolve()
    )
    if not same:
        try:
            recorded_cfg = model_config(recorded).to_dict()
        except ModelLoadError:
            return  # the recorded base is not reachable (offline, renamed): PEFT still checks every shape
        ignore = ("_name_or_path", "transformers_version")
        base_cfg = model_config(base_model_id).to_dict()
        if {k: v for k, v in recorded_cfg.items() if k not in ignore} != {
            k: v for k, v in base_cfg.items() if k not in ignore
        }:
            raise ModelLoadError(
                f"adapter {adapter_id} was trained on {recorded!r}, not on {base_model_id!r}; pass the matching base"
            )
