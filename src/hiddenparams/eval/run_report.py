"""The report of a whole run (`hiddenparams report RUN_DIR`, and the demo's last stage).

A run folder is what the demo leaves (any part may be missing; the report shows what exists):

    data/split/split_report.json     the split summary
    runs/train/adapter/              train_summary.json, resolved_config.yaml
    merged/merge_info.json           the merge check
    eval/<mode>/eval_report.json     one folder per mode: base, adapter, merged (+ constrained/, distribution.json)
    artifacts/hf_jobs/submissions.jsonl   the ledger: jobs and models
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote, urlparse

import yaml

from ..errors import HiddenParamsError
from ..hub import is_local
from ..ledger import Ledger
from ..model.generation import Decoding
from ..status import collect_status
from .report import (
    BASELINES,
    Block,
    Code,
    Details,
    Image,
    Link,
    Section,
    Table,
    eval_sections,
    figure,
    num,
    pct,
    png_bytes,
    render_eval_report,
    verdict,
    write_report,
)

MODE_ORDER = ("base", "adapter", "merged")
MODE_TITLES = {"base": "base model alone", "adapter": "base + adapter", "merged": "merged (full model)"}
DEFAULT_TITLE = "hiddenparams run report"


class ReportError(HiddenParamsError):
    pass


def _load(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path}: not valid JSON ({exc.msg}, line {exc.lineno}); rerun the stage that wrote it"
        ) from None


def eval_modes(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {name: _load(d / "eval_report.json") for name, d in _mode_dirs(run_dir).items()}


def _pct(value: float | None) -> str:
    return "—" if value is None else pct(value)


def run_verdict(run_dir: Path) -> list[str]:
    """The verdict sentences of a run folder (the demo's console summary opens with them)."""
    modes = eval_modes(Path(run_dir))
    return verdict_sentences(modes) if modes else []


def verdict_sentences(modes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The fine-tuned model against each baseline, then the base model's own standing for scale."""
    tuned = next((m for m in (MODE_TITLES["adapter"], MODE_TITLES["merged"]) if m in modes), None)
    subject, report = (
        ("The fine-tuned model", modes[tuned]) if tuned else (f"The {next(iter(modes))}", next(iter(modes.values())))
    )
    sentences = verdict(subject, report)
    base = modes.get(MODE_TITLES["base"])
    if tuned and base:
        sentences.append(
            f"The base model alone scores MAE {num(base['metrics']['over_all']['mae'])} over all cases "
            f"({base['valid_cases']}/{base['total']} valid)."
        )
    return sentences


def verdict_section(modes: Mapping[str, Mapping[str, Any]]) -> Section:
    return Section("Verdict", [" ".join(verdict_sentences(modes))])


def headline_section(modes: Mapping[str, Mapping[str, Any]]) -> Section:
    rows = []
    for name, report in modes.items():
        metrics = report["metrics"]
        rows.append(
            [
                name,
                f"{report['valid_cases']}/{report['total']}",
                num(metrics["mae"]),
                num(metrics["over_all"]["mae"]),
                _pct(metrics["all_exact"]),
            ]
        )
    first = next(iter(modes.values()))
    for name, baseline in (first.get("baselines") or {}).items():
        rows.append(
            [
                BASELINES.get(name, name),
                f"{first['total']}/{first['total']}",
                num(baseline["mae"]),
                num(baseline["mae"]),
                _pct(baseline["all_exact"]),
            ]
        )
    decodings = sorted({Decoding.recorded(report.get("decoding") or {}).label() for report in modes.values()})
    return Section(
        f"Headline: strict, unconstrained generations ({'; '.join(decodings)})",
        [
            "Each mode generated every test row; the strict scorer accepts only one JSON object with exactly the six "
            "integer keys in range. MAE over all counts an invalid output as the worst possible answer per key.",
            Table(["mode", "valid", "MAE (valid)", "MAE (all)", "all six exact"], rows),
        ],
    )


def _vs_headline(distribution: Mapping[str, Any]) -> dict[str, Any] | None:
    """A distribution.json's comparison with the headline; one written before sampling existed compared with greedy
    decoding under the names `vs_greedy`, `mae.greedy`, `expected_beats_greedy`."""
    if "vs_headline" in distribution:
        return distribution["vs_headline"]
    old = distribution.get("vs_greedy")
    if not old:
        return None
    mae = {("headline" if k == "greedy" else k): v for k, v in old["mae"].items()}
    return {"against": "greedy decoding", "mae": mae, "expected_beats_headline": old["expected_beats_greedy"]}


def side_modes_section(run_dir: Path) -> Section | None:
    rows: list[list[Any]] = []
    for mode_dir in sorted((run_dir / "eval").glob("*")):
        name = MODE_TITLES.get(mode_dir.name, mode_dir.name)
        constrained = _load(mode_dir / "constrained" / "eval_report.json")
        distribution = _load(mode_dir / "distribution.json")
        if constrained:
            page = mode_dir / "constrained" / "report.html"
            label = f"{name}: constrained decoding"
            rows.append(
                [
                    Link(label, page.relative_to(run_dir).as_posix()) if page.is_file() else label,
                    f"{constrained['valid_cases']}/{constrained['total']}",
                    num(constrained["metrics"]["mae"]),
                ]
            )
        vs = _vs_headline(distribution or {})
        if vs:
            against, headline = vs["against"], num(vs["mae"].get("headline"))
            for reading in ("argmax", "expected", "expected_rounded"):
                rows.append(
                    [
                        f"{name}: value distribution, {reading.replace('_', ' ')}",
                        "—",
                        f"{num(vs['mae'].get(reading))} ({against} {headline}, same rows)",
                    ]
                )
            rows.append([f"{name}: expected value beats {against} on MAE", "—", num(vs["expected_beats_headline"])])
    if not rows:
        return None
    return Section(
        "Constrained and distribution modes (reported apart, never in the headline)",
        [Table(["mode", "valid", "MAE"], rows)],
    )


def _relative(url: str | None, run_dir: Path) -> str | None:
    """A link target for the report: a local path (or file:// URL) inside the run folder relative to the report, so
    the folder can be moved or shared whole; a web URL as it is; None for a local path outside the folder (a link
    to it would break wherever the folder goes)."""
    if not url:
        return None
    if re.match(r"https?://", url):
        return url
    path = Path(unquote(urlparse(url).path) if url.startswith("file://") else url)
    if not path.is_absolute() or not path.resolve().is_relative_to(run_dir.resolve()):
        return None
    return os.path.relpath(path.resolve(), run_dir.resolve())


def jobs_section(run_dir: Path) -> Section | None:
    ledger_root = run_dir / "artifacts"
    if not (ledger_root / "hf_jobs" / "submissions.jsonl").is_file():
        return None
    rows = []
    for row in collect_status(Ledger(ledger_root), refresh=True):
        job_url, model_url = _relative(row.job_url, run_dir), _relative(row.model_url, run_dir)
        job = Link(row.job_id, job_url) if row.job_id and job_url else (row.job_id or "—")
        shown = shown_path(row.model_repo, run_dir) if row.model_repo else "—"
        repo = Link(shown, model_url) if row.model_repo and model_url else shown
        rows.append(
            [
                job,
                row.backend or "—",
                row.state or "—",
                row.cost_line or "—",
                repo,
                row.repo_kind or "—",
                ", ".join(row.events),
            ]
        )
    return Section(
        "Jobs and models",
        [
            "From the ledger, with each job's state refreshed from its backend and each repo's kind read from its files.",
            Table(["job", "backend", "state", "minutes and cost", "model repo", "kind", "events"], rows),
        ],
    )


def split_section(run_dir: Path) -> Section | None:
    report = _load(run_dir / SPLIT_REPORT.with_suffix(".json"))
    if not report:
        return None
    counts, near, div = report.get("counts", {}), report.get("near_duplicates", {}), report.get("divergence", {})
    rows = [
        [f"{name}.jsonl", str(counts[name])] for name in ("train", "validation", "test", "rejected") if name in counts
    ]
    rows.append(["input records", str(counts.get("input_records", "—"))])
    if report.get("rejected_by_reason"):
        rows.append(["rejected by reason", ", ".join(f"{k} {v}" for k, v in report["rejected_by_reason"].items())])
    if near:
        rows.append(["near-duplicate groups", f"{near.get('groups')} (largest {near.get('largest_group')})"])
    if div.get("max_tvd") is not None:
        rows.append(
            [
                "largest label divergence",
                f"{num(div['max_tvd'])} ({div.get('key')}, {' vs '.join(div.get('splits', []))})",
            ]
        )
    rows.append(["cross-split leaks", str(report.get("leakage", {}).get("total", "—"))])
    rows += [["warning", w] for w in report.get("warnings", [])]
    blocks: list[Block] = [Table(["", "value"], rows)]
    if (run_dir / SPLIT_REPORT).is_file():
        blocks.append(Link("Full split report", SPLIT_REPORT.as_posix()))
    return Section("Data split", blocks)


SPLIT_REPORT = Path("data/split/split_report.md")
# train_summary.json fields worth a row, with the words the report uses for them.
_TRAINING_ROWS = {
    "model_id": "base model",
    "method": "method",
    "global_step": "optimizer steps",
    "first_logged_loss": "first logged loss",
    "last_logged_loss": "last logged loss",
    "eval_loss": "final eval loss",
    "max_length": "longest example (tokens)",
    "lora_target_modules": "LoRA targets",
    "config_hash": "config hash",
    "code_version": "code version",
    "seconds": "training time (s)",
}


def shown_path(value: str, run_dir: Path) -> str:
    """A model id or path as the report shows it: a local one relative to the run folder when inside it, else by its
    name (an absolute path would mean nothing once the folder moves); a Hub id as it is."""
    if not isinstance(value, str) or not (Path(value).is_absolute() or (is_local(value) and Path(value).exists())):
        return value  # a Hub id, or text that only looks like a path (a regex of module names)
    path = Path(value).resolve()
    if path.is_relative_to(run_dir.resolve()):
        return os.path.relpath(path, run_dir.resolve())
    return f"{path.name} (local path)"


def training_history(model_dir: Path) -> list[dict[str, Any]]:
    """The trainer's log history: from train_summary.json, or for a run made before it kept one, from the newest
    checkpoint's trainer_state.json (which the Trainer writes at every save)."""
    summary = _load(model_dir / "train_summary.json") or {}
    if summary.get("log_history"):
        return summary["log_history"]
    states = sorted(
        (model_dir.parent / "checkpoints").glob("checkpoint-*/trainer_state.json"),
        key=lambda p: int(p.parent.name.split("-")[-1]),
    )
    return (_load(states[-1]) or {}).get("log_history", []) if states else []


def curves_plot(history: list[dict[str, Any]]) -> Image | None:
    """Training loss and eval loss against the step (left) and the learning rate (right)."""

    def series(field: str) -> tuple[list[int], list[float]]:
        points = [(h["step"], h[field]) for h in history if field in h and "step" in h]
        return [s for s, _ in points], [v for _, v in points]

    loss, eval_loss, lr = series("loss"), series("eval_loss"), series("learning_rate")
    if not loss[0] and not eval_loss[0]:
        return None
    fig, (left, right) = figure(10, 3.5, ncols=2)
    if loss[0]:
        left.plot(*loss, label="training loss", color="#1f77b4")
    if eval_loss[0]:
        left.plot(*eval_loss, "o-", label="eval loss (validation split)", color="#ff7f0e")
    left.set_xlabel("optimizer step")
    left.set_ylabel("loss (completion tokens)")
    left.set_yscale("log")  # the first steps' loss is ten times the last: a linear axis would flatten the rest
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    left.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 0.1, 0.2, 0.5, 1, 2: few labels, plain numbers
    left.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    left.yaxis.set_minor_formatter(NullFormatter())
    left.legend(fontsize="small")
    left.set_title("Loss")
    if lr[0]:
        right.plot(*lr, color="#2ca02c")
        right.set_xlabel("optimizer step")
        right.set_ylabel("learning rate")
        right.set_title("Learning rate")
    else:
        right.set_axis_off()
    return Image("training_curves", "Training loss, eval loss and learning rate against the step", png_bytes(fig))


def training_section(run_dir: Path) -> Section | None:
    for model_dir in sorted((run_dir / "runs").glob("*/*")):
        summary = _load(model_dir / "train_summary.json")
        config = model_dir / "resolved_config.yaml"
        if not summary:
            continue
        rows = [
            [label, _cell(summary[k], run_dir, k)] for k, label in _TRAINING_ROWS.items() if summary.get(k) is not None
        ]
        curves = curves_plot(training_history(model_dir))
        blocks: list[Block] = [curves] if curves else ["No loss history found (train_summary.json or checkpoints/)."]
        blocks.append(Table(["", "value"], rows))
        if config.is_file():
            values = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
            shown = {k: shown_path(v, run_dir) if isinstance(v, str) else v for k, v in values.items()}
            blocks.append(
                Details(
                    f"Resolved config ({config.relative_to(run_dir).as_posix()}; local paths relative "
                    "to the run folder, or by folder name outside it)",
                    Code(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True), "yaml"),
                )
            )
        return Section("Training curves", blocks)
    return None


def _cell(value: Any, run_dir: Path, key: str) -> str:
    if key == "seconds":  # tenths of a second mean nothing in a training time
        return str(round(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return shown_path(value, run_dir) if isinstance(value, str) else num(value)


def merge_section(run_dir: Path) -> Section | None:
    info = _load(run_dir / "merged" / "merge_info.json")
    if not info:
        return None
    check = info.get("equivalence", {})
    return Section(
        "Merge",
        [
            f"Max |logit difference| merged vs base+adapter: {num(check.get('max_abs_diff'))} "
            f"(tolerance {num(check.get('tolerance'))}).",
            info.get("note", ""),
        ],
    )


def _mode_dirs(run_dir: Path) -> dict[str, Path]:
    """{mode title: eval/<mode>/} in report order."""
    dirs = {p.parent.name: p.parent for p in sorted((run_dir / "eval").glob("*/eval_report.json"))}
    order = [m for m in MODE_ORDER if m in dirs] + sorted(set(dirs) - set(MODE_ORDER))
    return {MODE_TITLES.get(m, m): dirs[m] for m in order}


def reports_section(run_dir: Path) -> Section | None:
    links = [
        Link(f"{name}: its own report", (d / "report.html").relative_to(run_dir).as_posix())
        for name, d in _mode_dirs(run_dir).items()
    ]
    if (run_dir / SPLIT_REPORT).is_file():
        links.append(Link("data split report", SPLIT_REPORT.as_posix()))
    return Section("Reports in this run folder", list(links)) if links else None


def write_mode_reports(run_dir: Path) -> None:
    """Each mode's own report (and its constrained one), named and coloured as in the run report, linking back to
    it and to the split report: what eval wrote knew neither the run nor the other modes."""
    for name, mode_dir in _mode_dirs(run_dir).items():
        for folder, title in (
            (mode_dir, f"{name}: strict evaluation"),
            (mode_dir / "constrained", f"{name}: constrained decoding (not the headline)"),
        ):
            report = _load(folder / "eval_report.json")
            if not report:
                continue
            back = os.path.relpath(run_dir, folder)
            links = [Link("run report", f"{back}/report.html")]
            if (run_dir / SPLIT_REPORT).is_file():
                links.append(Link("data split report", f"{back}/{SPLIT_REPORT.as_posix()}"))
            render_eval_report(report, folder, title, mode=name, links=links)


def build_run_report(run_dir: Path) -> list[Section]:
    run_dir = Path(run_dir)
    modes = eval_modes(run_dir)
    sections: list[Section | None] = []
    if modes:
        sections += [verdict_section(modes), headline_section(modes), side_modes_section(run_dir)]
    sections += [reports_section(run_dir), jobs_section(run_dir)]
    if modes:
        sections += eval_sections(modes)
    sections += [split_section(run_dir), training_section(run_dir), merge_section(run_dir)]
    return [s for s in sections if s is not None]


def write_run_report(run_dir: Path, title: str | None = None) -> dict[str, Path]:
    """Write run_dir/report.md + report.html, and rewrite each mode's own report to match and link to it. Without a
    title, the one of the report already there is kept, so `hiddenparams report DIR` refreshes the demo's report
    without renaming it."""
    sections = build_run_report(run_dir)
    if not sections:
        raise ReportError(
            f"{run_dir}: nothing to report (no eval/*/eval_report.json, ledger or split report); "
            "give a run folder, e.g. the demo's --out"
        )
    write_mode_reports(Path(run_dir))
    return write_report(Path(run_dir), title or _previous_title(Path(run_dir)) or DEFAULT_TITLE, sections)


def _previous_title(run_dir: Path) -> str | None:
    page = run_dir / "report.html"
    found = re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8"), re.DOTALL) if page.is_file() else None
    return html.unescape(found.group(1)) if found else None
