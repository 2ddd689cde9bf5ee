"""Two processes for real: the tiny model trained data-parallel under `accelerate launch` on the CPU (gloo), through
the local job backend and the CLI, as a multi-GPU flavor runs on Hugging Face Jobs."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]
ROWS, BATCH, EPOCHS = 192, 16, 2


@pytest.mark.slow
def test_two_processes_both_train_and_only_rank_zero_writes(tmp_path, hf_token):
    from hiddenparams.data.convert import convert_dir

    split = tmp_path / "split"
    split.mkdir()
    lines = (ROOT / "data" / "sample" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    (split / "train.jsonl").write_text("\n".join(lines[:ROWS]) + "\n", encoding="utf-8")
    (split / "validation.jsonl").write_text("\n".join(lines[ROWS : ROWS + 32]) + "\n", encoding="utf-8")
    convert_dir(split, tmp_path / "converted")
    root, run = str(tmp_path / "artifacts"), tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            str(ROOT / "configs" / "tiny.yaml"),
            "--set",
            f"model_id={ROOT / 'models' / 'tiny-ministral3'}",
            "--set",
            f"data_dir={tmp_path / 'converted'}",
            "--set",
            f"output_dir={run}",
            "--set",
            f"num_train_epochs={EPOCHS}",
            "--set",
            "report_to=none",
            "--set",
            "logging_steps=1",
            "--set",
            f"per_device_train_batch_size={BATCH}",
            "--num-processes",
            "2",
            "--wait",
            "--json",
            "--artifacts-dir",
            root,
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "COMPLETED"
    summary = json.loads((run / "adapter" / "train_summary.json").read_text())
    # Both ranks trained: each step takes BATCH rows on each of the 2 ranks, so an epoch is half the single-process steps.
    assert summary["world_size"] == 2
    assert summary["global_step"] == EPOCHS * -(-ROWS // (2 * BATCH))
    assert summary["last_logged_loss"] < summary["first_logged_loss"]
    # Only rank 0 wrote: one adapter, one summary line in the job log, one submitted and one finished ledger line.
    (job_dir,) = (Path(root) / "hf_jobs" / "local").iterdir()
    log = (job_dir / "log.txt").read_text()
    assert log.count("TRAIN_SUMMARY ") == 1
    assert [e["event"] for e in Ledger(root).read()] == ["submitted", "finished", "trained"]
    hf_token.assert_absent(tmp_path, result.output)  # both ranks' log, the adapter, the ledger
