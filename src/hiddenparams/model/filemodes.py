"""Model folders readable by whoever may read the folder they sit in.

safetensors >= 0.8 writes each file through a temporary file that keeps mode 0600 when renamed into place
(safetensors issue 782), and `tempfile.mkdtemp` staging folders are 0700. A model written that way can be used
only by the account that trained it: a container running as another user, a shared cache, or a colleague gets
"no adapter found". Every function that writes weights calls `ordinary_modes` on its folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def current_umask() -> int:
    # /proc says it without changing it; os.umask can only read it by setting it, for a moment, process-wide.
    status = Path("/proc/self/status")
    found = re.search(r"^Umask:\s*([0-7]+)$", status.read_text(), re.MULTILINE) if status.is_file() else None
    if found:
        return int(found[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ordinary_modes(folder: Path) -> None:
    """Give `folder` and the weight files in it the modes a plain mkdir / open would have (the umask applied)."""
    mask = current_umask()
    folder = Path(folder)
    folder.chmod(0o777 & ~mask)
    for path in folder.rglob("*.safetensors"):
        path.chmod(0o666 & ~mask)
