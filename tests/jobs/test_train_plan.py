"""The one check of a training run (`jobs.stage.plan_job` with the training stage's `prepare`): the dry run refuses what the submit would refuse, with a
message naming the field or file, before any job starts; warnings reach stderr with --json too."""

import json
from pathlib import Path

import pytest
from huggingface_hub import constants
from typer.testing import CliRunner

from hiddenparams.cli import app

ROOT = Path(__file__).resolve().parents[2]
ROW = {"prompt": [{"role": "user", "content": "calm piano"}], "completion": [{"role": "assistant", "content": "{}"}]}


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder laid out like the repository: data/converted from `convert`, a local model folder."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data" / "converted"
    data.mkdir(parents=True)
    for split in ("train", "validation"):
        (data / f"{split}.jsonl").write_text(json.dumps(ROW) + "\n")
    (tmp_path / "models" / "m").mkdir(parents=True)
    (tmp_path / "models" / "m" / "config.json").write_text("{}")
    (tmp_path / "run.yaml").write_text("model_id: models/m\ndata_dir: data/converted\noutput_dir: runs/a\n")
    return tmp_path


def _dry(*args: str):
    result = CliRunner().invoke(app, ["train", "--config", "run.yaml", "--dry-run", "--json", *args])
    assert "Traceback" not in result.output
    return result, " ".join(result.stderr.split())


def test_a_sound_run_passes_the_dry_run(workspace):
    result, _ = _dry()
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)
    assert spec["config"]["model_id"] == "models/m" and spec["run_on"]["backend"] == "local"


@pytest.mark.parametrize(
    "args, message",
    [
        (("--model-id", "models/missing"), "model_id models/missing: no such folder"),
        (("--data-dir", "data/missing"), "data_dir data/missing: no such folder"),
        (("--max-steps", "-5"), "field 'max_steps'"),
        (("--set", "num_train_epochs=-1"), "field 'num_train_epochs'"),
        (("--backend", "hf-jobs"), "field 'hub_model_id'"),
        (("--backend", "hf-jobs", "--hub-model-id", "me/x", "--timeout", "soon"), "field 'timeout'"),
    ],
)
def test_the_dry_run_refuses_what_the_submit_would(workspace, args, message):
    result, err = _dry(*args)
    assert result.exit_code == 1 and message in err, result.output
    assert not (workspace / "artifacts").exists()  # nothing submitted, nothing written


@pytest.mark.parametrize("split, message", [("validation", "empty validation set"), ("train", "empty training set")])
def test_an_empty_split_is_refused_before_the_job(workspace, split, message):
    (workspace / "data" / "converted" / f"{split}.jsonl").write_text("\n")
    result, err = _dry()
    assert result.exit_code == 1 and message in err and f"{split}.jsonl" in err


def test_a_missing_validation_split_is_refused(workspace):
    (workspace / "data" / "converted" / "validation.jsonl").unlink()
    result, err = _dry()
    assert result.exit_code == 1 and "validation.jsonl: no such file" in err


def test_the_missing_token_warning_reaches_stderr_with_json(workspace, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(workspace / "no-saved-token"))
    result, err = _dry("--backend", "hf-jobs", "--hub-model-id", "me/x", "--model-id", "org/base")
    assert result.exit_code == 0, result.output
    assert "no Hugging Face token" in json.loads(result.stdout)["warnings"][0]
    assert "warning: no Hugging Face token" in err
