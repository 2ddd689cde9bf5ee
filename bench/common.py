"""What the benchmarks in bench/ share: where BENCHMARKS.md is, the machine line, rewriting one `## Section`, and
the `--tiny` mode with the checks that end every run.

The scripts run as `python bench/xxx.py` (or are loaded from their path by the tests), so they import this file as
`common` after putting bench/ on sys.path. No torch here: the split benchmark measures its own peak memory.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"


def cpu_model() -> str:
    """The CPU's model name as lscpu reports it, or 'model unknown'."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    except (OSError, subprocess.CalledProcessError):
        model = None
    return model.group(1).strip() if model else "model unknown"


def machine(cuda: bool = False, note: str = "") -> str:
    """'GPU <name>' with `cuda`, else '<n>-core CPU, no GPU (<model>[; note])'."""
    if cuda:
        import torch

        return f"GPU {torch.cuda.get_device_name()}"
    return f"{os.cpu_count()}-core CPU, no GPU ({cpu_model()}{f'; {note}' if note else ''})"


def find_section(text: str, title: str) -> re.Match[str] | None:
    """The `title` line ("## ...") and everything up to the next `## ` heading or the end."""
    return re.search(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", text, re.M | re.S)


def read_benchmarks(path: Path = BENCHMARKS) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"


def record(title: str, section: str, path: Path = BENCHMARKS, first: bool = False) -> None:
    """Replace the `title` section of BENCHMARKS.md with `section` (which starts with that title line), leaving the
    other sections alone; a new section is appended, or with `first` put right after the file's title."""
    text = read_benchmarks(path)
    section = section.rstrip("\n") + "\n\n"
    found = find_section(text, title)
    if found:
        text = text[: found.start()] + section + text[found.end() :]
    elif first:
        heading, _, rest = text.partition("\n")
        text = f"{heading}\n\n{section}{rest.lstrip(chr(10))}"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def parse_args(parser: argparse.ArgumentParser, **tiny: object) -> argparse.Namespace:
    """`parser`'s arguments and `--tiny`: the benchmark's own code path on inputs small enough to run in seconds, so
    the test suite (tests/test_bench.py) runs every benchmark and a change that breaks one fails it. `tiny` holds the
    defaults a tiny run takes; flags given on the command line still win."""
    parser.add_argument(
        "--tiny", action="store_true", help="tiny inputs, seconds: checks the benchmark works (no goals, no --record)"
    )
    args = parser.parse_args()
    if args.tiny:
        parser.set_defaults(**tiny)
        args = parser.parse_args()
        if getattr(args, "record", False):
            parser.error("--tiny measures nothing worth keeping: drop --record")
    return args


def verdict(tiny: bool, checks: dict[str, bool], goals: dict[str, bool] | None = None) -> None:
    """End a run: exit 1 naming every failed check (the output itself is wrong, at any size) and, unless `tiny`,
    every missed goal (tiny inputs say nothing about speed or memory)."""
    failed = [f"check failed: {what}" for what, ok in checks.items() if not ok]
    if not tiny:
        failed += [f"goal not met: {what}" for what, ok in (goals or {}).items() if not ok]
    if failed:
        sys.exit("\n".join(failed))
    met = f", {len(goals)} goal(s) met" if goals and not tiny else ""
    print(f"{'tiny run' if tiny else 'run'} ok: {len(checks)} check(s) passed{met}")
