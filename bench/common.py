"""What the benchmarks in bench/ share: where BENCHMARKS.md is, the machine line, and rewriting one `## Section`.

The scripts run as `python bench/xxx.py` (or are loaded from their path by the tests), so they import this file as
`common` after putting bench/ on sys.path. No torch here: the split benchmark measures its own peak memory.
"""

from __future__ import annotations

import os
import re
import subprocess
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
