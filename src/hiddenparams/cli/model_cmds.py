"""Model commands: `make-tiny-model` (and, registered below it, eval / merge / predict)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from ..tiny import TinySpec, make_tiny_model
from .app import JsonOpt, app, console, emit_json


@app.command("make-tiny-model")
def make_tiny_model_cmd(
    out: Path = typer.Option(..., "--out", help="Folder to write the model, tokenizer and chat template to."),
    pretrain_steps: int = typer.Option(TinySpec.pretrain_steps, help="Full-parameter LM steps (0: random init)."),
    seed: int = typer.Option(0, help="Seed of the weights, vocabulary and pre-training corpus."),
    as_json: bool = JsonOpt,
) -> None:
    """Build the embedded default: Ministral-3's architecture (Mistral3 + Pixtral + Ministral3) at toy size."""
    spec = dataclasses.replace(TinySpec(), pretrain_steps=pretrain_steps, seed=seed)
    with console.status(f"building the tiny model ({pretrain_steps} pre-training steps)"):
        summary = make_tiny_model(out, spec)
    if as_json:
        emit_json({"out": str(out), **summary})
    else:
        loss = summary.get("pretrain_loss")
        console.print(f"tiny model: {summary['parameters']:,} parameters -> {out}" + (f" (pre-train loss {loss:.3f})" if loss else ""))
