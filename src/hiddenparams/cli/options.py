"""Command-line options made from a stage's config dataclass, so an option is declared once: in the dataclass.

`@config_options(EvalConfig)` gives a command one option per field declared with `config.flag(help)` (`--batch-size`
for `batch_size`, that help text, booleans as plain flags) and hands the command the flags that were given as
one `overrides` dict, for `config.load_config(path, overrides, cls=...)`. No option has a default of its own: a
value absent from the command line leaves the config file's value (or the dataclass default) in place. The jobs
read the same dataclasses (the eval job with transformers' `HfArgumentParser`, as TRL's scripts do).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from typing import Any, Optional

import typer


def _option(f: dataclasses.Field, hint: Any) -> inspect.Parameter:
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    help_text = f.metadata.get("help", "")
    if f.default not in (dataclasses.MISSING, None, "") and not isinstance(f.default, bool):
        help_text += f" (default: {f.default})"
    option = typer.Option(None, "--" + f.name.replace("_", "-"), help=help_text, show_default=False)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[base])


def config_options(
    classes: type | tuple[type, ...], names: Iterable[str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command `func(overrides: dict, **its own options)` with an option for each field of `classes` (one
    dataclass or several) that declares its help (`config.flag`), or only for `names`; `overrides` holds the fields
    whose flags were given."""
    chosen = [
        (f, typing.get_type_hints(cls)[f.name])
        for cls in (classes if isinstance(classes, tuple) else (classes,))
        for f in dataclasses.fields(cls)
        if "help" in f.metadata and (names is None or f.name in names)
    ]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        own_hints = typing.get_type_hints(func)
        own = [
            p.replace(annotation=own_hints.get(p.name, p.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
            for p in inspect.signature(func).parameters.values()
            if p.name != "overrides"
        ]
        params = [_option(f, hint) for f, hint in chosen] + own

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            overrides = {f.name: kwargs.pop(f.name) for f, _ in chosen}
            return func(overrides={k: v for k, v in overrides.items() if v is not None}, **kwargs)

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate
