"""Every script in bench/ runs its `--tiny` mode here, in its own process as a user runs it, so a change that breaks a
benchmark fails the test suite. Each case asserts the result the benchmark printed, not only its exit status.

Tiny modes over ~10 s on the 2-core development machine are in the slow tier: random_model (the real tekken
tokenizer and vocabulary), train_throughput (six trainers) and merge_memory (a model, an adapter and a merge process).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 600


def run_bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    # The worktree's own package first, whatever the environment has installed.
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=TIMEOUT_S,
        check=False,
    )


def passed_its_checks(stdout: str) -> None:
    """The line `common.verdict` prints when every check of the run's output held."""
    assert re.search(r"^tiny run ok: [1-9]\d* check\(s\) passed$", stdout, re.M), stdout[-2000:]


def last_json(stdout: str) -> object:
    """The JSON document a benchmark printed last, indented over several lines from a line holding only `{`."""
    start = [m.start() for m in re.finditer(r"^\{$", stdout, re.M)][-1]
    return json.JSONDecoder().raw_decode(stdout, start)[0]


def check_split(stdout: str, tmp_path: Path) -> None:
    passed_its_checks(stdout)
    for phase in ("read", "dedup", "grams+minhash", "lsh", "grouping", "assignment", "leakage", "write", "total"):
        assert re.search(rf"^ *{re.escape(phase)}: +\d+\.\d s", stdout, re.M), phase
    assert re.search(r"^ *peak RSS: +\d+\.\d\d GB", stdout, re.M)
    figures = json.loads(next(line for line in stdout.splitlines() if line.startswith('{"counts"')))
    c = figures["counts"]
    assert c["input_records"] == 2000
    assert c["train"] + c["validation"] + c["test"] + c["rejected"] == 2000 and c["train"] > c["validation"] > 0
    assert figures["leakage"] == 0


def check_eval(stdout: str, tmp_path: Path) -> None:
    passed_its_checks(stdout)
    row = r"`models/tiny-ministral3`, threads 1: batched [\d.]+ rows/s, one at a time [\d.]+ rows/s -> [\d.]+x; "
    assert re.search(row + r"identical 4/4; constrained scoring [\d.]+ rows/s$", stdout, re.M), stdout


def check_train(stdout: str, tmp_path: Path) -> None:
    passed_its_checks(stdout)
    # One table row per variant, each with its settings read back and a measured real-tokens/s figure.
    rows = re.findall(r"^\| ([^|]+) \| (\d+) \| (on|off) \| [^|]+ \| (yes|no) \|.*\| \*\*([\d,]+)\*\* \|", stdout, re.M)
    assert [name for name, *_ in rows] == [
        "TRL defaults",
        "TRL defaults, batch 2",
        "TRL defaults, no gradient checkpointing",
        "ours",
        "ours, random order (no length grouping)",
        "ours + padding_free",
    ]
    by_name = {name: (int(batch), checkpointing, padding_free) for name, batch, checkpointing, padding_free, _ in rows}
    assert by_name["ours"] == (2, "off", "no") and by_name["TRL defaults"] == (8, "on", "no")
    assert by_name["ours + padding_free"][2] == "yes"
    assert all(int(tokens.replace(",", "")) > 0 for *_, tokens in rows)
    assert re.search(r"^\*\*ours / TRL defaults: \d+\.\d\dx\*\* real tokens/s\.$", stdout, re.M)


def check_fp8(stdout: str, tmp_path: Path) -> None:
    passed_its_checks(stdout)
    figures = last_json(stdout)
    assert figures["fp8_dequantized"] is True and figures["model_class"] == "Mistral3ForConditionalGeneration"
    assert figures["checked_tensors"] > 0 and figures["checked_parameters"] > 0
    assert 0 < figures["max_relative_error"] <= 2**-7  # bf16 rounding of fp8 x scale, never zero, never more


def check_merge(stdout: str, tmp_path: Path) -> None:
    passed_its_checks(stdout)
    figures = last_json(stdout)
    assert figures["layers"] == 1 and figures["dtype"] == "bfloat16"
    assert figures["merged_gb"] == pytest.approx(figures["checkpoint_gb"], rel=0.01)  # the same weights, merged
    assert figures["peak_rss_gb"] > figures["checkpoint_gb"] and figures["ratio"] > 0
    assert figures["adapter_effect"] > figures["max_abs_logit_diff"] and figures["passes_default"] is True


def check_random_model(stdout: str, tmp_path: Path) -> None:
    out = tmp_path / "model"
    assert re.search(rf"^random_model: .* -> {re.escape(str(out))} in [\d.]+ s$", stdout, re.M), stdout
    text = json.loads((out / "config.json").read_text())["text_config"]
    assert (text["num_hidden_layers"], text["hidden_size"]) == (1, 64)
    assert text["vocab_size"] == 131072 and (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()


def check_profile(stdout: str, tmp_path: Path) -> None:
    passed_its_checks(stdout)
    assert re.search(
        r"^step \(wall, between step ends\): \d+\.\d{3} s; profiled self CPU per step: \d+\.\d{3} s$", stdout, re.M
    )
    for phase in ("data", "optimizer", "backward"):
        assert re.search(rf"^phase {phase} +\d+\.\d{{3}} s/step", stdout, re.M), phase
    assert len(re.findall(r"^  \d+\.\d{4} s +\d+x  aten::", stdout, re.M)) >= 3  # operators, heaviest first


def check_recipe(stdout: str, tmp_path: Path) -> None:
    passed_its_checks(stdout)
    result = json.loads(next(line for line in stdout.splitlines() if line.startswith("RECIPE "))[7:])
    assert result["steps"] == 2 and result["train_seconds"] > 0 and result["eval_loss"] > 0
    valid, total = map(int, result["valid"].split("/"))
    assert total == result["total"] > 0 and 0 <= valid <= total and result["ridge_mae"] > 0


def check_activation(stdout: str, tmp_path: Path) -> None:
    passed_its_checks(stdout)
    # The row is printed as measured and again in the section's table.
    rows = re.findall(
        r"^\| `[^`]*tiny-ministral3` \| 128 / 384 / 4 x 32 / 2 x 32 \| ([\d,]+) \| ([\d,]+) \|", stdout, re.M
    )
    assert len(rows) == 2 and rows[0] == rows[1]
    measured, formula = rows[0]
    assert measured == formula and int(measured.replace(",", "")) > 0  # measured == the estimate's formula


def check_smoke(stdout: str, tmp_path: Path) -> None:
    passed_its_checks(stdout)
    (run,) = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"seconds"')]
    assert run["seconds"] > 0 and run["rows"]["train"] > run["rows"]["validation"] > 0 and run["max_length"] > 50


def case(script: str, check, *args: str, slow: bool = False):
    return pytest.param(script, args, check, id=script.removesuffix(".py"), marks=[pytest.mark.slow] if slow else [])


CASES = [
    case("split_throughput.py", check_split),
    case("eval_throughput.py", check_eval),
    case("fp8_dequant.py", check_fp8),
    case("random_model.py", check_random_model, "--out", "{tmp}/model", slow=True),
    case("train_throughput.py", check_train, slow=True),
    case("merge_memory.py", check_merge, slow=True),
    case("profile_train_step.py", check_profile),
    case("activation_memory.py", check_activation),
    case("smoke_checks.py", check_smoke),
    case("demo_recipe.py", check_recipe, slow=True),
]


@pytest.mark.parametrize("script, args, check", CASES)
def test_tiny_mode_runs_the_benchmark_and_checks_its_output(script, args, check, tmp_path):
    done = run_bench(script, "--tiny", *(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == 0, (
        f"{script} --tiny exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    )
    check(done.stdout, tmp_path)


def test_every_bench_script_has_a_tiny_case():
    scripts = {p.name for p in (ROOT / "bench").glob("*.py")} - {"common.py"}
    assert scripts == {c.values[0] for c in CASES}


def test_tiny_refuses_record_so_no_tiny_figure_reaches_benchmarks_md():
    done = run_bench("split_throughput.py", "--tiny", "--record")
    assert done.returncode == 2 and "--tiny measures nothing worth keeping: drop --record" in done.stderr


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "bench" / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_verdict_fails_on_a_failed_check_at_any_size_and_on_a_missed_goal_only_at_full_size(common, capsys):
    with pytest.raises(SystemExit, match="check failed: counts add up"):
        common.verdict(True, {"counts add up": False, "no leakage": True})
    common.verdict(True, {"counts add up": True}, {"total <= 120 s": False})
    assert capsys.readouterr().out == "tiny run ok: 1 check(s) passed\n"
    with pytest.raises(SystemExit, match="goal not met: total <= 120 s"):
        common.verdict(False, {"counts add up": True}, {"total <= 120 s": False})
