"""Eval as a job: the real eval job through the local backend on the tiny model, and the hf-jobs path offline with
HTTP mocked at huggingface_hub's transport (the `FakeHub` of test_jobs_hf.py)."""

from __future__ import annotations

import json
import re

import pytest
from huggingface_hub import ModelCard, constants
from test_jobs_hf import BASE, COMMIT, NS, TOKEN, job_config
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.config import RunOn
from hiddenparams.eval.evaluate import EvalConfig
from hiddenparams.jobs import eval_job, parse_summary
from hiddenparams.jobs.eval import EVAL
from hiddenparams.jobs.script import parse_job_args
from hiddenparams.jobs.stage import plan_job
from hiddenparams.ledger import Ledger
from hiddenparams.model.generation import Decoding

ADAPTER = f"{NS}/ministral-hp"


def _cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert TOKEN not in "".join(result.output.split()) and TOKEN not in str(result.exception)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def eval_files(eval_data_dir, tmp_path):
    """8 test rows and the train rows beside them."""
    data = tmp_path / "data"
    data.mkdir()
    lines = (eval_data_dir / "test.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (data / "test.jsonl").write_text("".join(lines[:8]), encoding="utf-8")
    (data / "train.jsonl").write_text((eval_data_dir / "train.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    return data


def test_the_local_backend_runs_the_eval_job(
    tiny_model_dir, tiny_adapter_dir, eval_files, tmp_path, monkeypatch, hf_token
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the job is a real subprocess on a shared 2-core machine
    root, out = tmp_path / "artifacts", tmp_path / "eval"
    result = _cli(
        "eval",
        "--base-model-id",
        str(tiny_model_dir),
        "--adapter-model-id",
        str(tiny_adapter_dir),
        "--data",
        str(eval_files / "test.jsonl"),
        "--out",
        str(out),
        "--batch-size",
        "4",
        "--backend",
        "local",
        "--wait",
        "--json",
        "--artifacts-dir",
        str(root),
    )
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    report = json.loads((out / "eval_report.json").read_text())
    assert done["state"] == "COMPLETED" and report["total"] == 8 and report["model"]["mode"] == "base+adapter"
    assert done["evaluated"]["valid_cases"] == report["valid_cases"]
    assert f"valid_cases={report['valid_cases']}/8" in result.stderr
    assert (out / "predictions.jsonl").is_file() and (out / "report.html").is_file()

    submitted, finished, evaluated = Ledger(root).read()
    assert (submitted["event"], submitted["backend"], submitted["details"]["entry"]) == (
        "submitted",
        "local",
        "hiddenparams.jobs.eval_job",
    )
    assert (finished["event"], finished["state"]) == ("finished", "COMPLETED")
    assert evaluated["event"] == "evaluated" and evaluated["job_id"] == done["job_id"] == submitted["job_id"]
    assert evaluated["model_repo"] == str(tiny_adapter_dir.resolve()) and evaluated["repo_kind"] == "adapter-only"
    assert evaluated["details"]["total"] == 8 and evaluated["details"]["out"] == str(out)
    log = (root / "hf_jobs" / "local" / done["job_id"] / "log.txt").read_text()
    assert log.rstrip().splitlines()[-1].startswith("EVAL_SUMMARY {")
    (row,) = json.loads(_cli("status", "--json", "--artifacts-dir", str(root)).stdout)["jobs"]
    assert row["name"] == "eval" and row["state"] == "COMPLETED" and row["repo_kind"] == "adapter-only"
    hf_token.assert_absent(tmp_path, result.output)  # the report, predictions, HTML, the job's log and the ledger


def _dry_run(*extra: str):
    return _cli(
        "eval",
        "--base-model-id",
        BASE,
        "--adapter-model-id",
        ADAPTER,
        "--out",
        "eval",
        "--backend",
        "hf-jobs",
        "--dry-run",
        "--json",
        *extra,
    )


def test_hf_jobs_dry_run_prints_the_spec_offline_without_the_token(hub, eval_files, tiny_model_dir, monkeypatch, said):
    result = _dry_run("--data", str(eval_files / "test.jsonl"), "--push-results-to", ADAPTER, "--timeout", "2h")
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)
    assert hub.requests == []  # offline
    assert (spec["backend"], spec["namespace"], spec["flavor"], spec["timeout_seconds"]) == (
        "hf-jobs",
        NS,
        "a10g-small",
        7200,
    )
    assert spec["secrets"] == ["HF_TOKEN"] and "warnings" not in spec
    assert spec["script"]["name"] == "eval_job.py" and "transformers==5.24.0" in spec["script"]["dependencies"]
    assert spec["code"]["files"] == sorted(
        ["test.jsonl", "train.jsonl", "code/eval_job.py", f"code/{spec['code']['wheel']}"]
    )
    job = job_config(spec["command"])
    assert job["data"] == f"{ADAPTER}-eval-data" and job["train"] is None
    assert spec["data"]["uploaded_from"] == {
        "test.jsonl": str(eval_files / "test.jsonl"),
        "train.jsonl": str(eval_files / "train.jsonl"),
    }
    assert spec["evaluates"] == {"base_model_id": BASE, "adapter_model_id": ADAPTER} and spec["results"] == ADAPTER

    monkeypatch.delenv("HF_TOKEN")
    no_token = json.loads(_dry_run("--data", f"{NS}/some-eval-data", "--namespace", NS).stdout)
    assert [w.split(":")[0] for w in no_token["warnings"]] == ["no --push-results-to", "no Hugging Face token"]
    refusals = {
        ("--data", str(eval_files / "test.jsonl")): "needs --namespace",
        ("--data", "missing.jsonl", "--namespace", NS): "missing.jsonl: no such file",
        ("--data", f"{NS}/d", "--namespace", NS, "--model-id", str(tiny_model_dir)): "either --model-id",
    }
    for args, expected in refusals.items():
        refused = _dry_run(*args)
        assert refused.exit_code == 1 and expected in said(refused), (args, refused.output)
    local = _cli(
        "eval",
        "--model-id",
        str(tiny_model_dir),
        "--data",
        f"{NS}/d",
        "--out",
        "e",
        "--backend",
        "hf-jobs",
        "--namespace",
        NS,
        "--dry-run",
    )
    assert local.exit_code == 1 and "a local folder the job cannot see" in said(local)
    assert hub.requests == []


def test_hf_jobs_submit_uploads_the_data_then_posts_the_eval_job(hub, eval_files, tmp_path):
    root = str(tmp_path / "a")
    hub.models.add(ADAPTER)
    result = _cli(
        "eval",
        "--base-model-id",
        BASE,
        "--adapter-model-id",
        ADAPTER,
        "--data",
        str(eval_files / "test.jsonl"),
        "--out",
        "eval",
        "--backend",
        "hf-jobs",
        "--flavor",
        "a10g-large",
        "--timeout",
        "90m",
        "--push-results-to",
        ADAPTER,
        "--constrained",
        "--json",
        "--artifacts-dir",
        root,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["job_url"] == f"https://huggingface.co/jobs/{NS}/job0001"
    assert hub.calls("GET", rf"/api/models/{BASE}") and hub.calls("GET", rf"/api/models/{ADAPTER}")
    create = json.loads(hub.calls("POST", "/api/repos/create")[0].content)
    assert (create["name"], create["type"], create["visibility"]) == ("ministral-hp-eval-data", "dataset", "private")
    (commit,) = hub.calls("POST", rf"/api/datasets/{ADAPTER}-eval-data/commit/main")
    assert {json.loads(line)["value"].get("path") for line in commit.content.splitlines()} >= {
        "test.jsonl",
        "train.jsonl",
    }

    (post,) = hub.calls("POST", f"/api/jobs/{NS}")
    body = json.loads(post.content)
    assert (body["flavor"], body["timeoutSeconds"], body["secrets"]) == ("a10g-large", 90 * 60, {"HF_TOKEN": TOKEN})
    assert all(TOKEN not in json.dumps(v) for k, v in body.items() if k != "secrets")
    command = body["command"]
    job = job_config(command)
    assert job["data"] == f"{ADAPTER}-eval-data" and job["train"] is None
    assert command[-2:] == ["--set", f"data_revision={COMMIT}"]  # the job reads exactly the uploaded commit
    assert job["constrained"] is True and job["push_results_to"] == ADAPTER
    resolve = f"https://huggingface.co/datasets/{ADAPTER}-eval-data/resolve/{COMMIT}/code"
    assert command[:3] == ["uv", "run", "--with"] and command[3].startswith(f"{resolve}/hiddenparams-")
    assert command[4] == f"{resolve}/eval_job.py" and body["environment"]["HIDDENPARAMS_FLAVOR"] == "a10g-large"
    shipped = hub.committed[f"{ADAPTER}-eval-data@{COMMIT}"]  # the code came in the data's commit
    assert '"peft==0.21.2"' in shipped["code/eval_job.py"].decode() and len(shipped) == 4

    # The job completes; its last log line becomes the `evaluated` event when status sees it.
    record = {"model_repo": ADAPTER, "repo_kind": "adapter-only", "details": {"valid_cases": 7, "total": 8}}
    hub.stages = ["COMPLETED"]
    hub.log_lines = ["greedy: 8/8 rows", "valid_cases=7/8", f"EVAL_SUMMARY {json.dumps(record)}"]
    hub.repo_files[ADAPTER] = ["adapter_config.json", "adapter_model.safetensors"]
    (row,) = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"]
    assert row["state"] == "COMPLETED" and row["model_repo"] == ADAPTER and row["repo_kind"] == "adapter-only"
    events = Ledger(root).read()
    assert [e["event"] for e in events] == ["submitted", "finished", "evaluated"]
    assert events[-1]["job_id"] == "job0001" and events[-1]["details"]["valid_cases"] == 7
    assert TOKEN not in Ledger(root).path.read_text()


def test_an_eval_option_is_declared_once_and_reaches_the_job_unchanged(hub, eval_files, tmp_path):
    """`max_new_tokens` exists only as an EvalConfig field (and where generation uses it): the CLI flag, a --config
    file and --set all reach the job spec, and the job parses its arguments back into the very same config."""
    flags = _dry_run("--data", str(eval_files / "test.jsonl"), "--push-results-to", ADAPTER, "--max-new-tokens", "7")
    assert flags.exit_code == 0, flags.output
    spec = json.loads(flags.stdout)
    assert spec["config"]["decoding"]["max_new_tokens"] == 7
    assert job_config(spec["command"])["decoding"]["max_new_tokens"] == 7

    config = tmp_path / "eval.yaml"
    config.write_text(f"data: {eval_files / 'test.jsonl'}\nmax_new_tokens: 5\nmax_rows: 4\n")
    from_file = _dry_run("--config", str(config), "--set", "max_rows=3", "--push-results-to", ADAPTER)
    assert from_file.exit_code == 0, from_file.output
    cfg = json.loads(from_file.stdout)["config"]
    assert (cfg["decoding"]["max_new_tokens"], cfg["max_rows"]) == (5, 3)

    cfg = EvalConfig(
        data=str(eval_files / "test.jsonl"),
        out=str(tmp_path / "e"),
        model_id=BASE,
        decoding=Decoding(max_new_tokens=9),
        constrained=True,
    )
    plan = plan_job(EVAL, cfg, RunOn(backend="hf-jobs", namespace=NS))
    assert parse_job_args(EVAL, plan.spec.args) == plan.config
    assert plan.config.decoding.max_new_tokens == 9


def test_the_job_reads_a_hub_dataset_and_pushes_its_results(
    hub, tiny_model_dir, eval_files, tmp_path, capsys, monkeypatch
):
    """The job's side of the Hub: the data read at the commit it was given, the results pushed to the model repo."""
    files = ("test.jsonl", "train.jsonl")
    hub.committed[f"{NS}/hp-eval-data@{COMMIT}"] = {name: (eval_files / name).read_bytes() for name in files}
    card = (
        "---\nbase_model: mistralai/Ministral-3-3B-Instruct-2512\nlibrary_name: peft\n---\n# my adapter\n\nKept text.\n"
    )
    hub.committed[f"{ADAPTER}@main"] = {"README.md": card.encode()}  # the repo's card before the results
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "eval"
    job = {"model_id": str(tiny_model_dir), "data": f"{NS}/hp-eval-data", "out": str(out), "push_results_to": ADAPTER}
    code = eval_job.main(["--config-json", json.dumps(job), "--set", f"data_revision={COMMIT}"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert hub.calls("GET", rf"/datasets/{NS}/hp-eval-data/resolve/{COMMIT}/test.jsonl")
    report = json.loads((out / "eval_report.json").read_text())
    assert report["total"] == 8 and report["inputs"]["data"] == f"{NS}/hp-eval-data@{COMMIT}:test.jsonl"
    (commit,) = hub.calls("POST", rf"/api/models/{ADAPTER}/commit/main")
    pushed = {json.loads(line)["value"].get("path") for line in commit.content.splitlines()}
    assert any(re.fullmatch(r"eval/\d{8}T\d{6}Z/eval_report\.json", str(p)) for p in pushed), pushed
    # The same commit writes the results into the repo's card, keeping what the card already said.
    new_card = ModelCard(hub.committed[f"{ADAPTER}@{COMMIT}"]["README.md"].decode())
    assert new_card.data.base_model == "mistralai/Ministral-3-3B-Instruct-2512" and "Kept text." in new_card.text
    metrics = {r.metric_type: r.metric_value for r in new_card.data.eval_results}
    assert (
        metrics["valid_rate"] == report["valid_cases"] / 8
        and metrics["mae_over_all"] == report["metrics"]["over_all"]["mae"]
    )
    assert {r.dataset_type for r in new_card.data.eval_results} == {f"{NS}/hp-eval-data"}
    last = printed.out.rstrip().splitlines()[-1]
    summary = parse_summary(last, EVAL.marker)
    assert summary["repo_kind"] == "full" and summary["details"]["valid_cases"] == report["valid_cases"]
    assert summary["details"]["pushed"]["repo"] == ADAPTER and summary["details"]["pushed"]["commit"] == COMMIT
    assert f"valid_cases={report['valid_cases']}/8" in printed.out

    other = {"model_id": str(tiny_model_dir), "data": f"{NS}/other", "out": str(tmp_path / "e2")}
    missing = eval_job.main(["--config-json", json.dumps(other)])
    assert missing == 1 and "cannot download test.jsonl" in capsys.readouterr().err
