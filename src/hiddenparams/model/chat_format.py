"""The Ministral-3 chat format, offline: the real tekken vocabulary from mistral-common, rendered as
`<s>[SYSTEM_PROMPT]...[/SYSTEM_PROMPT][INST]...[/INST]...</s>`.

mistral-common's wheel ships only v3 tekken files, and v3 renders the system prompt inside the first user turn;
Ministral-3 uses the dedicated system-prompt tokens, so the HF tokenizer gets the template below. The assistant
turn ends with EOS so that TRL's prompt-completion rows teach the model to stop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import HiddenParamsError

# Whitespace control (`{%-`/`-%}`) everywhere: the format has no newlines between turns.
MINISTRAL3_CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}"
    "[SYSTEM_PROMPT]{{- message['content'] -}}[/SYSTEM_PROMPT]"
    "{%- elif message['role'] == 'user' -%}"
    "[INST]{{- message['content'] -}}[/INST]"
    "{%- elif message['role'] == 'assistant' -%}"
    "{% generation %}{{- message['content'] -}}{{- eos_token -}}{% endgeneration %}"
    "{%- else -%}"
    "{{- raise_exception('Only system, user and assistant roles are supported') -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

# Control tokens of the tekken vocabulary, in id order (ids 0..19). A custom tiny vocabulary reuses these ids.
TEKKEN_CONTROL_TOKENS: tuple[str, ...] = (
    "<unk>",
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[TOOL_CALLS]",
    "[IMG]",
    "<pad>",
    "[IMG_BREAK]",
    "[IMG_END]",
    "[PREFIX]",
    "[MIDDLE]",
    "[SUFFIX]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
)
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}


def tekken_file() -> Path:
    """The tekken vocabulary shipped in mistral-common's wheel (131072 tokens, same ids as Ministral-3)."""
    import mistral_common

    path = Path(mistral_common.__file__).parent / "data" / "tekken_240911.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: mistral-common's wheel should ship it (pip install mistral-common)")
    return path


def load_tekken_tokenizer() -> Any:
    """The real Ministral-3 vocabulary as an HF `TokenizersBackend` with the Ministral-3 chat template.

    The HF backend, not `MistralCommonBackend`: the latter breaks TRL's prompt-completion training.
    """
    from transformers.integrations.mistral.tokenizer import convert_tekken_tokenizer

    tok = convert_tekken_tokenizer(str(tekken_file()), chat_template=MINISTRAL3_CHAT_TEMPLATE)
    tok.pad_token = SPECIAL_TOKENS["pad_token"]
    return tok


def reference_token_ids(messages: list[dict[str, str]]) -> list[int]:
    """mistral-common's own rendering of a training conversation (finetuning validation mode), with the
    system-prompt tokens of instruct v7 on the tekken vocabulary: the reference our template must match."""
    from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
    from mistral_common.protocol.instruct.normalize import InstructRequestNormalizerV7
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.protocol.instruct.validator import MistralRequestValidatorV5, ValidationMode
    from mistral_common.tokens.tokenizers.instruct import InstructTokenizerV7
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    kinds = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    tokenizer = MistralTokenizer(
        InstructTokenizerV7(Tekkenizer.from_file(str(tekken_file()))),
        MistralRequestValidatorV5(mode=ValidationMode.finetuning),
        InstructRequestNormalizerV7.normalizer(),
    )
    request = ChatCompletionRequest(messages=[kinds[m["role"]](content=m["content"]) for m in messages])
    return list(tokenizer.encode_chat_completion(request).tokens)


def render_ids(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> list[int]:
    """Token ids of a conversation through the tokenizer's chat template (transformers 5 returns a BatchEncoding)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def row_tokens(tokenizer: Any, row: dict[str, Any]) -> int:
    """Tokens of a {prompt, completion} row as training sees it: the whole conversation through the chat template."""
    return len(render_ids(tokenizer, row["prompt"] + row["completion"]))


def row_lengths(tokenizer: Any, rows: Iterable[tuple[str, dict[str, Any]]]) -> list[tuple[str, int]]:
    """(where, tokens) of each {prompt, completion} row, `where` naming it for a message (file:line, split row)."""
    return [(where, row_tokens(tokenizer, row)) for where, row in rows]


def over_length(lengths: Sequence[tuple[str, int]], cap: int | None, cap_named: str) -> str | None:
    """The refusal of every row over `cap` tokens, naming the first five; None when no row is. Training never
    truncates a row (TRL would, without a word): convert, the dry run and the job all refuse with this message."""
    over = [(where, tokens) for where, tokens in lengths if cap is not None and tokens > cap]
    if not over:
        return None
    shown = "; ".join(f"{where}: {tokens} tokens" for where, tokens in over[:5])
    more = f" (and {len(over) - 5} more)" if len(over) > 5 else ""
    return (
        f"{len(over)} row(s) over {cap} tokens ({cap_named}): {shown}{more}. Training never truncates a row: shorten"
        " or drop them (`hiddenparams convert --model-id M --max-length N` lists them all), or raise max_length"
    )


class ChatFormatError(HiddenParamsError, ValueError):
    pass


def check_chat_format(tokenizer: Any, prompt: list[dict[str, str]], completion: list[dict[str, str]]) -> None:
    """Fail fast unless the prompt's tokens are a prefix of prompt+completion's and the completion ends with EOS.

    Both are what completion-only SFT needs: labels start right after the prompt, and the model learns to stop.
    """
    prompt_ids = render_ids(tokenizer, prompt, add_generation_prompt=True)
    full_ids = render_ids(tokenizer, prompt + completion)
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise ChatFormatError(
            "the chat template renders the prompt differently alone and before the completion: "
            "completion-only loss would be misaligned"
        )
    if tokenizer.eos_token_id is None or full_ids[-1] != tokenizer.eos_token_id:
        raise ChatFormatError(
            "the chat template does not end the assistant turn with EOS: the model would not learn to stop"
        )
