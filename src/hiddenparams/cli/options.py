"""Command-line options made from a stage's config dataclass, so an option is declared once: in the dataclass.

`@config_options(EvalConfig)` gives a command one option per field declared with `config.flag(help)` (`--batch-size`
for `batch_size`, that help text, booleans as plain flags), the fields of a nested settings dataclass
(`EvalConfig.decoding`) included, and hands the command the flags that were given as one flat `overrides` dict,
for `config.load_configs(path, overrides, ...)`. No option has a default of its own: a value absent from the command
line leaves the config file's value (or the dataclass default) in place. The jobs receive the same dataclasses whole
(jobs/script.py).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional

import typer


def _option(f: dataclasses.Field, hint: Any, shown_default: Any = None) -> inspect.Parameter:
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    help_text = f.metadata.get("help", "")
    default = f.default if shown_default is None else shown_default
    if default not in (dataclasses.MISSING, None, "") and not isinstance(default, bool):
        help_text += f" (default: {default})"
    option = typer.Option(None, "--" + f.name.replace("_", "-"), help=help_text, show_default=False)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[base])


def _flag_fields(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    """The fields of `cls` that are flags, with their type hints; a nested dataclass's in its place."""
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            found += _flag_fields(hints[f.name])
        elif "help" in f.metadata:
            found.append((f, hints[f.name]))
    return found


def config_options(
    classes: type | tuple[type, ...],
    names: Iterable[str] | None = None,
    shown_defaults: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command `func(overrides: dict, **its own options)` with an option for each field of `classes` (one
    dataclass or several) that declares its help (`config.flag`), or only for `names`; `overrides` holds the fields
    whose flags were given. `shown_defaults` are the defaults the command fills in itself (a stage's flavor), shown
    in the help in place of the field's own."""
    chosen = [
        (f, hint)
        for cls in (classes if isinstance(classes, tuple) else (classes,))
        for f, hint in _flag_fields(cls)
        if names is None or f.name in names
    ]
    shown = dict(shown_defaults or {})

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        own_hints = typing.get_type_hints(func)
        own = [
            p.replace(annotation=own_hints.get(p.name, p.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
            for p in inspect.signature(func).parameters.values()
            if p.name != "overrides"
        ]
        params = [_option(f, hint, shown.get(f.name)) for f, hint in chosen] + own

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            overrides = {f.name: kwargs.pop(f.name) for f, _ in chosen}
            return func(overrides={k: v for k, v in overrides.items() if v is not None}, **kwargs)

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate
