"""`hiddenparams report RUN_DIR`: modes side by side with the baselines, jobs and repos, split and training."""

import base64
import json
import re
from html.parser import HTMLParser
from urllib.parse import unquote, urlparse

from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.data.rows import Row
from hiddenparams.eval.score import score
from hiddenparams.ledger import Ledger
from hiddenparams.schema import KEYS, to_json

TRAIN = [
    Row(f"t{i}", f"calm piano {i}" if i % 2 else f"loud drums {i}", dict.fromkeys(KEYS, 2 if i % 2 else 8))
    for i in range(20)
]
TEST = [Row(f"x{i}", "calm piano" if i % 2 else "loud drums", dict.fromkeys(KEYS, 2 if i % 2 else 8)) for i in range(6)]


def make_run(tmp_path):
    outputs = {
        "base": ["not json"] * 6,
        "adapter": [to_json(r.hidden_params) for r in TEST[:5]] + ["```json {}```"],
        "merged": [to_json(r.hidden_params) for r in TEST[:5]] + ["```json {}```"],
    }
    for mode, outs in outputs.items():
        report = score(TEST, outs, TRAIN).to_dict()
        (tmp_path / "eval" / mode).mkdir(parents=True)
        (tmp_path / "eval" / mode / "eval_report.json").write_text(json.dumps(report))
    adapter = tmp_path / "runs" / "train" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "train_summary.json").write_text(
        json.dumps({"model_id": "tiny", "global_step": 7, "last_logged_loss": 0.5})
    )
    (adapter / "resolved_config.yaml").write_text("model_id: tiny\nlora_r: 32\n")
    Ledger(tmp_path / "artifacts").append("model_pushed", model_repo=str(adapter), repo_kind="adapter-only")
    return tmp_path


def test_report_shows_modes_side_by_side_with_baselines_and_repos(tmp_path):
    run = make_run(tmp_path)
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    md = (run / "report.md").read_text()
    for text in (
        "base model alone",
        "base + adapter",
        "merged (full model)",
        "baseline: train mean",
        "baseline: TF-IDF + ridge",
    ):
        assert text in md, text
    assert "0/6" in md and "5/6" in md  # valid_cases per mode
    assert "adapter-only" in md  # the repo kind, read from the folder's files
    assert "lora_r: 32" in md  # the resolved config, verbatim
    html = (run / "report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html


def test_report_of_an_empty_folder_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code != 0 and "nothing to report" in result.output


def test_report_opens_with_the_verdict_and_keeps_its_title(tmp_path):
    run = make_run(tmp_path)
    (run / "data" / "split").mkdir(parents=True)
    counts = {"input_records": 30, "train": 20, "validation": 4, "test": 6, "rejected": 0}
    split_report = {"counts": counts, "leakage": {"total": 0}, "warnings": []}
    (run / "data" / "split" / "split_report.json").write_text(json.dumps(split_report))
    from hiddenparams.eval.run_report import write_run_report

    write_run_report(run, "demo <title>")
    result = CliRunner().invoke(app, ["report", str(run)])  # a re-report keeps the title
    assert result.exit_code == 0, result.output
    md = (run / "report.md").read_text()
    assert md.startswith("# demo &lt;title&gt;\n\n## Verdict\n\nThe fine-tuned model (MAE 1.333 over all cases) beats")
    assert "does NOT beat TF-IDF + ridge" in md
    assert "| train.jsonl | 20 |" in md and "| optimizer steps | 7 |" in md  # tables, not raw JSON
    assert "](<runs/train/adapter>)" in md  # links relative to the report
    assert "base model alone: no valid output" in md  # no empty heat map
    assert "merged (full model): the same output as base + adapter" in md
    assert "<title>demo &lt;title&gt;</title>" in (run / "report.html").read_text()


class _Page(HTMLParser):
    """What a browser would fetch or follow: image sources, link targets, section titles, and all text."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.headings, self.text, self._heading = [], [], [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "a":
            self.links.append(attrs.get("href", ""))
        self._heading = tag == "h2"

    def handle_endtag(self, tag):
        self._heading = False

    def handle_data(self, data):
        self.text.append(data)
        if self._heading:
            self.headings.append(data)


def _parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _check_page(page_path, run):
    page = _parse(page_path)
    assert page.images, page_path
    for src in page.images:
        head, _, data = src.partition(",")
        assert head == "data:image/png;base64", src[:40]  # embedded, never a file beside the page
        assert base64.b64decode(data, validate=True).startswith(b"\x89PNG") and len(data) > 1000
    for href in page.links:
        assert not urlparse(href).scheme, href  # the local run has no web links; a file:// or absolute one breaks
        target = (page_path.parent / unquote(href)).resolve()
        assert target.is_relative_to(run.resolve()) and target.exists(), href
    text = "".join(page.text)
    assert str(run) not in text and not re.search(r"(?<![\w.])/(tmp|home|work|Users)/", text), page_path
    return page


def test_report_html_embeds_every_image_links_inside_the_folder_and_shows_failures_and_curves(tmp_path):
    run = make_run(tmp_path / "run")
    adapter = run / "runs" / "train" / "adapter"
    history = [{"step": s, "loss": 2.0 / s, "learning_rate": 0.004 * (1 - s / 40)} for s in range(1, 41, 4)]
    history += [{"step": 20, "eval_loss": 0.3}, {"step": 40, "eval_loss": 0.2}]
    summary = {"model_id": str(adapter), "global_step": 40, "log_history": history}
    (adapter / "train_summary.json").write_text(json.dumps(summary))
    (adapter / "resolved_config.yaml").write_text(f"model_id: tiny\noutput_dir: {run / 'runs' / 'train'}\n")
    (run / "data" / "split").mkdir(parents=True)
    (run / "data" / "split" / "split_report.json").write_text(
        json.dumps({"counts": {"test": 6}, "leakage": {"total": 0}})
    )
    (run / "data" / "split" / "split_report.md").write_text("# split\n")
    outside = tmp_path / "my-base"  # a base model evaluated from outside the run folder: named, never linked
    outside.mkdir()
    Ledger(run / "artifacts").append("evaluated", model_repo=str(outside), repo_kind="full")
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output

    page = _check_page(run / "report.html", run)
    assert {"Failures: base model alone", "Failures: base + adapter", "Training curves"} <= set(page.headings)
    assert "training_curves" not in "".join(page.text)  # the plot is drawn, not named
    assert "eval/adapter/report.html" in page.links and "data/split/split_report.md" in page.links
    text = "".join(page.text)
    assert "my-base (local path)" in text
    assert "loud drums" in text  # the failures show the requests
    assert "95% paired bootstrap interval" in text
    assert "False" not in text and "True" not in text  # no raw Python values
    # Each mode's own report is named as in the run report and links back to it.
    mode_page = _check_page(run / "eval" / "adapter" / "report.html", run)
    assert "../../report.html" in mode_page.links
    assert "Failures: base + adapter" in mode_page.headings
