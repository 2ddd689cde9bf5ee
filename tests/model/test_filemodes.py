"""Weights written by our save functions are readable as every other file of their folder (not safetensors' 0600)."""

import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from hiddenparams.model.filemodes import current_umask, ordinary_modes


def test_weights_and_a_staging_folder_get_the_umask_modes(tmp_path):
    staging = Path(tempfile.mkdtemp(dir=tmp_path))  # 0700, as merge's staging folder
    save_file({"w": torch.zeros(2)}, str(staging / "model.safetensors"))
    (staging / "config.json").write_text("{}")
    ordinary_modes(staging)
    mask = current_umask()
    assert mask == os.umask(mask)  # /proc and os.umask agree
    assert (staging / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (staging / "model.safetensors").stat().st_mode & 0o777 == (staging / "config.json").stat().st_mode & 0o777
    assert staging.stat().st_mode & 0o777 == 0o777 & ~mask
