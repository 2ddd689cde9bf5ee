"""The embedded default model: Ministral-3's architecture at toy size, so every code path of the 3B model runs
offline on a CPU.

`Mistral3ForConditionalGeneration` with a one-layer Pixtral tower, the projector and a ~0.5M-parameter
`Ministral3` text model (tied embeddings, YaRN rope), a small byte-level BPE vocabulary that keeps the tekken
control-token ids (so the chat format is the real one, token for token in structure), and a brief full-parameter
pre-training. Two tokenizer choices depart from tekken because a base this small cannot absorb what they cost
(docs/BENCHMARKS.md "Demo", issue 11): text is lower-cased before tokenisation (a 0.5M-parameter base never learns
that "PLAY" and "play" mean the same: upper-case requests scored MAE 2.6 against 0.8), and "10" is one token (with
digits split one by one, "1" opens both 1 and 10, and the readout of a small model has to fold the 0..10 scale
back on itself). LoRA on a randomly initialised base stalls (frozen tied embeddings of init scale cap the logits);
the pre-training fixes that. It never sees the labelled task: it models unlabelled request text and JSON objects of
*other* keys valued by a random low-rank function of the words (`_word_effects`), long enough that the base learns to
answer them (`pretraining_task_mae`): a base that can add up its words' effects per key is what lets a LoRA adapter
learn our keys from 4,000 rows (docs/BENCHMARKS.md "Demo", fourth round).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..prompt import SYSTEM_PROMPT, user_message
from ..schema import KEYS, MAX_VALUE, MIN_VALUE
from .chat_format import MINISTRAL3_CHAT_TEMPLATE, SPECIAL_TOKENS, TEKKEN_CONTROL_TOKENS, render_ids
from .filemodes import ordinary_modes

# Keys of the pre-training JSON objects: plausible music words, none of them ours.
_OTHER_KEYS = (
    "tempo",
    "mood",
    "loudness",
    "density",
    "darkness",
    "length",
    "rhythm",
    "tension",
    "space",
    "groove",
    "volume",
    "speed",
    "texture",
    "depth",
    "swing",
    "drive",
    "calm",
    "grit",
    "shine",
    "bass",
    "reverb",
    "pitch",
)
assert not set(_OTHER_KEYS) & set(KEYS)
_OTHER_SYSTEM = "Describe the request as one JSON object with the keys {keys}, each an integer from {lo} to {hi}."


# The TinySpec fields that are Ministral3Config fields of the same name: the text model's shape.
_TEXT_SHAPE = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
)


@dataclass(frozen=True)
class TinySpec:
    vocab_size: int = 1536  # the BPE's own tokens; "10" comes on top when ten_token
    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    max_position_embeddings: int = 512
    # The base learns its pre-training values late: at 500 or 1,000 steps it answered the JSON shape with 0, 5 or
    # 10 (worse than answering 5), at 3,000 steps it scored MAE 0.1 on requests it had not seen.
    pretrain_steps: int = 3000
    pretrain_batch_size: int = 32
    pretrain_lr: float = 3e-3
    corpus_size: int = 24000
    seed: int = 0
    lowercase: bool = True  # text lower-cased before tokenisation (special tokens are not)
    ten_token: bool = True  # "10" one token; every other digit still split one by one
    effect_factors: int = 6  # each word's effect on a key is the key's signs (-1, 0, +1) dotted with ...
    factor_every: int = 5  # ... the word's factors, each of them +-1 for one (word, factor) pair in this many, else 0
    json_share: float = 0.8  # of the pre-training documents; the rest are plain request text and our system prompt


def build_tokenizer(texts: list[str], vocab_size: int, lowercase: bool = True, ten_token: bool = True) -> Any:
    """Byte-level BPE trained on `texts`, digits split one by one (as tekken does) except "10" when `ten_token`
    (an added token, so it is matched before the digit split), text lower-cased when `lowercase`, tekken control
    ids 0..19."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(TEKKEN_CONTROL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    if ten_token:
        tok.add_tokens(["10"])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=MINISTRAL3_CHAT_TEMPLATE, **SPECIAL_TOKENS)
    for i, name in enumerate(TEKKEN_CONTROL_TOKENS):
        assert fast.convert_tokens_to_ids(name) == i, f"control token {name} must keep tekken id {i}"
    return fast


def build_model(spec: TinySpec, vocab_size: int) -> Any:
    import torch
    from transformers import Ministral3Config, Mistral3Config, Mistral3ForConditionalGeneration, PixtralVisionConfig

    torch.manual_seed(spec.seed)
    text = Ministral3Config(
        vocab_size=vocab_size,
        **{name: getattr(spec, name) for name in _TEXT_SHAPE},
        # YaRN as in the real model, with a consistent original context so transformers does not warn.
        rope_parameters={
            "rope_type": "yarn",
            "rope_theta": 1_000_000.0,
            "factor": 4.0,
            "original_max_position_embeddings": spec.max_position_embeddings // 4,
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "mscale": 1.0,
            "mscale_all_dim": 1.0,
            "llama_4_scaling_beta": 0.1,
        },
        tie_word_embeddings=True,
        # At hidden size 128 the default init (0.02) leaves tied embeddings so small that, frozen under LoRA, they
        # cap the logits of rarely pre-trained tokens (the key names stayed at p~0.02 after fine-tuning).
        initializer_range=0.05,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=11,
    )
    vision = PixtralVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        head_dim=16,
        image_size=64,
        patch_size=16,
    )
    # Ministral3Config alone defaults to untied embeddings; tying comes from Mistral3Config.
    config = Mistral3Config(text_config=text, vision_config=vision, image_token_index=10, tie_word_embeddings=True)
    return Mistral3ForConditionalGeneration(config)


def _hash_bytes(text: str) -> bytes:
    return hashlib.md5(text.encode(), usedforsecurity=False).digest()


def _word_factors(word: str, factors: int, every: int) -> list[int]:
    out = []
    for f in range(factors):
        h = int.from_bytes(_hash_bytes(f"{f}|{word}")[:4], "little")
        out.append(0 if h % every else (1 if (h >> 16) % 2 else -1))
    return out


def _key_signs(key: str, factors: int) -> list[int]:
    return [(-1, 0, 1)[b % 3] for b in _hash_bytes(key)[:factors]]


def _word_effects(text: str, key: str, factors: int, every: int) -> int:
    """A random, fixed, low-rank labelling function of the words of a text: each word carries `factors` random
    factors in {-1, 0, +1} (`_word_factors`), each key random signs over them (`_key_signs`), and a key's value is 5
    plus the sum over the words of signs . factors, clipped to 0..10.

    Unrelated to our six parameters (the factors are hashes of the word, not of its meaning), it has the shape of our
    task: values are sums of per-word effects and every key reads the same word features. Low rank is what makes it
    learnable by a small base: a word's factors are learned from every key's answers, where an independent effect
    per (key, word) left a 0.65M-parameter base answering 0, 5 or 10 after 1,000 steps. With the defaults (6 factors,
    one in 5 non-zero) the values spread like our labels: standard deviation 2.6, 14% at 0 or 10 (ours: 2.4, 11%).
    """
    signs = _key_signs(key, factors)
    total = 0
    for word in re.findall(r"\w+", text.casefold()):
        total += sum(s * f for s, f in zip(signs, _word_factors(word, factors, every), strict=True))
    return max(MIN_VALUE, min(MAX_VALUE, 5 + total))


def pretraining_corpus(
    tokenizer: Any, texts: list[str], seed: int, factors: int, every: int, json_share: float
) -> list[str]:
    """Plain request text, our system prompt as plain text (so its tokens, key names included, have trained
    embeddings: frozen tied embeddings of init scale would cap their logits under LoRA), and chat turns that answer
    with JSON objects of other keys, valued by `_word_effects`."""
    rng = random.Random(seed)
    not_json = 1 - json_share
    corpus = []
    for text in texts:
        draw = rng.random()
        if draw < not_json * 0.375:  # 3 in 8 of the other documents are plain text
            corpus.append(f"{tokenizer.bos_token}{text}{tokenizer.eos_token}")
            continue
        if draw < not_json:
            corpus.append(f"{tokenizer.bos_token}{SYSTEM_PROMPT} {user_message(text)}{tokenizer.eos_token}")
            continue
        keys = rng.sample(_OTHER_KEYS, rng.randint(3, 7))
        answer = json.dumps({k: _word_effects(text, k, factors, every) for k in keys}, separators=(", ", ": "))
        system = _OTHER_SYSTEM.format(keys=", ".join(keys), lo=MIN_VALUE, hi=MAX_VALUE)
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": user_message(text)},
            {"role": "assistant", "content": answer},
        ]
        corpus.append(tokenizer.apply_chat_template(messages, tokenize=False))
    return corpus


def pretrain(model: Any, tokenizer: Any, corpus: list[str], spec: TinySpec, work_dir: Path) -> float:
    """Full-parameter language modelling with TRL's SFTTrainer on the text corpus. Returns the final loss."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(work_dir),
        max_steps=spec.pretrain_steps,
        per_device_train_batch_size=spec.pretrain_batch_size,
        learning_rate=spec.pretrain_lr,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        weight_decay=0.0,
        logging_steps=50,
        save_strategy="no",
        report_to="none",
        seed=spec.seed,
        max_length=256,
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    dataset = Dataset.from_dict({"text": corpus})
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    return float(result.training_loss)


def pretraining_task_mae(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    factors: int,
    every: int,
    keys_per_row: int = 6,
    seed: int = 0,
    batch_size: int = 32,
) -> dict[str, Any]:
    """How well the base does its own pre-training JSON task: greedy answers for `keys_per_row` other keys on
    `texts` (use texts it was not pre-trained on), scored against `_word_effects`. A base that learned the values
    beats `constant_mae`, the error of answering 5 everywhere; one that only learned the JSON shape does not."""
    import torch

    from .generation import left_pad, model_device

    rng = random.Random(seed)
    prompts, truths = [], []
    for text in texts:
        keys = rng.sample(_OTHER_KEYS, keys_per_row)
        system = _OTHER_SYSTEM.format(keys=", ".join(keys), lo=MIN_VALUE, hi=MAX_VALUE)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user_message(text)}]
        prompts.append(render_ids(tokenizer, messages, add_generation_prompt=True))
        truths.append({k: _word_effects(text, k, factors, every) for k in keys})
    answers = []
    model.eval()
    for start in range(0, len(prompts), batch_size):
        ids, mask = left_pad(prompts[start : start + batch_size], tokenizer.pad_token_id, model_device(model))
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=8 * keys_per_row,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        answers += tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
    errors, invalid = [], 0
    for answer, truth in zip(answers, truths, strict=True):
        try:
            got = json.loads(answer)
            errors += [abs(int(got[k]) - v) for k, v in truth.items()]
        except (ValueError, KeyError, TypeError):
            invalid += 1
    constant = [abs(5 - v) for truth in truths for v in truth.values()]
    return {
        "rows": len(texts),
        "valid": len(texts) - invalid,
        "mae": round(sum(errors) / len(errors), 3) if errors else None,
        "constant_mae": round(sum(constant) / len(constant), 3),
    }


def make_tiny_model(out: str | Path, spec: TinySpec = TinySpec()) -> dict[str, Any]:
    """Build, pre-train and save the tiny model with its tokenizer and chat template. Returns a summary."""
    import tempfile

    from ..data.sample import generate_texts

    out = Path(out)
    texts = generate_texts(spec.corpus_size, seed=spec.seed + 1000)  # other seed than the labelled sample set
    # The vocabulary may know our prompt and key names (short sequences make CPU training fast); the weights
    # never see a labelled example.
    shapes = [json.dumps(dict.fromkeys(keys, 10), separators=(", ", ": ")) for keys in (KEYS, _OTHER_KEYS)]
    vocab_corpus = texts + [_OTHER_SYSTEM, SYSTEM_PROMPT, user_message(""), *shapes] * 400
    tokenizer = build_tokenizer(vocab_corpus, spec.vocab_size, spec.lowercase, spec.ten_token)
    model = build_model(spec, len(tokenizer))
    summary: dict[str, Any] = {"spec": asdict(spec), "parameters": sum(p.numel() for p in model.parameters())}
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    if spec.pretrain_steps > 0:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = pretraining_corpus(
                tokenizer, texts, spec.seed, spec.effect_factors, spec.factor_every, spec.json_share
            )
            summary["pretrain_loss"] = pretrain(model, tokenizer, corpus, spec, Path(tmp))
        held_out = generate_texts(128, seed=spec.seed + 2000)  # neither the corpus nor the labelled sample
        summary["pretrain_task"] = pretraining_task_mae(
            model, tokenizer, held_out, spec.effect_factors, spec.factor_every, seed=spec.seed
        )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    ordinary_modes(out)
    tokenizer.save_pretrained(out)
    (out / "tiny_model.json").write_text(json.dumps(summary, indent=2))
    return summary
