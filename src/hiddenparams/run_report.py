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

from .errors import HiddenParamsError
from .ledger import Ledger
from .report import Code, Link, Section, Table, eval_sections, pct, verdict, write_report
from .status import collect_status

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
        raise ReportError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno}); rerun the stage that wrote it") from None


def eval_modes(run_dir: Path) -> dict[str, dict[str, Any]]:
    found = {p.parent.name: _load(p) for p in sorted((run_dir / "eval").glob("*/eval_report.json"))}
    order = [m for m in MODE_ORDER if m in found] + sorted(set(found) - set(MODE_ORDER))
    return {MODE_TITLES.get(m, m): found[m] for m in order}


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _pct(value: float | None) -> str:
    return "—" if value is None else pct(value)


def run_verdict(run_dir: Path) -> list[str]:
    """The verdict sentences of a run folder (the demo's console summary opens with them)."""
    modes = eval_modes(Path(run_dir))
    return verdict_sentences(modes) if modes else []


def verdict_sentences(modes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The fine-tuned model against each baseline, then the base model's own standing for scale."""
    tuned = next((m for m in (MODE_TITLES["adapter"], MODE_TITLES["merged"]) if m in modes), None)
    subject, report = (("The fine-tuned model", modes[tuned]) if tuned else
                       (f"The {next(iter(modes))}", next(iter(modes.values()))))  # fmt: skip
    sentences = verdict(subject, report)
    base = modes.get(MODE_TITLES["base"])
    if tuned and base:
        sentences.append(f"The base model alone scores MAE {_fmt(base['metrics']['over_all']['mae'])} over all cases "
                         f"({base['valid_cases']}/{base['total']} valid).")  # fmt: skip
    return sentences


def verdict_section(modes: Mapping[str, Mapping[str, Any]]) -> Section:
    return Section("Verdict", [" ".join(verdict_sentences(modes))])


def headline_section(modes: Mapping[str, Mapping[str, Any]]) -> Section:
    rows = []
    for name, report in modes.items():
        metrics = report["metrics"]
        rows.append([name, f"{report['valid_cases']}/{report['total']}", _fmt(metrics["mae"]),
                     _fmt(metrics["over_all"]["mae"]), _pct(metrics["all_exact"])])  # fmt: skip
    first = next(iter(modes.values()))
    for name, baseline in (first.get("baselines") or {}).items():
        rows.append([f"baseline: {name}", f"{first['total']}/{first['total']}", _fmt(baseline["mae"]), _fmt(baseline["mae"]),
                     _pct(baseline["all_exact"])])  # fmt: skip
    return Section(
        "Headline: strict, unconstrained greedy generations",
        [
            "Each mode generated every test row; the strict scorer accepts only one JSON object with exactly the six "
            "integer keys in range. MAE over all counts an invalid output as the worst possible answer per key.",
            Table(["mode", "valid_cases", "MAE (valid)", "MAE (all)", "all six exact"], rows),
        ],
    )


def side_modes_section(run_dir: Path) -> Section | None:
    rows = []
    for mode_dir in sorted((run_dir / "eval").glob("*")):
        constrained = _load(mode_dir / "constrained" / "eval_report.json")
        distribution = _load(mode_dir / "distribution.json")
        if constrained:
            rows.append([f"{mode_dir.name}: constrained decoding", f"{constrained['valid_cases']}/{constrained['total']}",
                         _fmt(constrained["metrics"]["mae"])])  # fmt: skip
        if distribution and "vs_greedy" in distribution:
            vs = distribution["vs_greedy"]
            for reading in ("argmax", "expected", "expected_rounded"):
                rows.append([f"{mode_dir.name}: value distribution, {reading.replace('_', ' ')}", "—",
                             f"{_fmt(vs['mae'].get(reading))} (greedy {_fmt(vs['mae'].get('greedy'))}, same rows)"])  # fmt: skip
            rows.append([f"{mode_dir.name}: expected value beats greedy decoding on MAE", "—", _fmt(vs["expected_beats_greedy"])])
    if not rows:
        return None
    return Section(
        "Constrained and distribution modes (reported apart, never in the headline)",
        [Table(["mode", "valid_cases", "MAE"], rows)],
    )


def _relative(url: str | None, run_dir: Path) -> str | None:
    """A local path (or file:// URL) inside the run folder as a path relative to the report, so the folder can be
    moved or shared whole; anything else as it was."""
    if not url:
        return url
    path = Path(unquote(urlparse(url).path) if url.startswith("file://") else url)
    if not path.is_absolute() or not path.is_relative_to(run_dir.resolve()):
        return url
    return os.path.relpath(path, run_dir.resolve())


def jobs_section(run_dir: Path) -> Section | None:
    ledger_root = run_dir / "artifacts"
    if not (ledger_root / "hf_jobs" / "submissions.jsonl").is_file():
        return None
    rows = []
    for row in collect_status(Ledger(ledger_root), refresh=True):
        job_url, model_url = _relative(row.job_url, run_dir), _relative(row.model_url, run_dir)
        job = Link(row.job_id, job_url) if row.job_id and job_url else (row.job_id or "—")
        repo = Link(_relative(row.model_repo, run_dir), model_url) if row.model_repo and model_url else (row.model_repo or "—")
        rows.append([job, row.backend or "—", row.state or "—", row.cost_line or "—", repo, row.repo_kind or "—",
                     ", ".join(row.events)])  # fmt: skip
    return Section(
        "Jobs and models",
        [
            "From the ledger, with each job's state refreshed from its backend and each repo's kind read from its files.",
            Table(["job", "backend", "state", "minutes and cost", "model repo", "kind", "events"], rows),
        ],
    )


def split_section(run_dir: Path) -> Section | None:
    report = _load(run_dir / "data" / "split" / "split_report.json")
    if not report:
        return None
    counts, near, div = report.get("counts", {}), report.get("near_duplicates", {}), report.get("divergence", {})
    rows = [[f"{name}.jsonl", str(counts[name])] for name in ("train", "validation", "test", "rejected") if name in counts]
    rows.append(["input records", str(counts.get("input_records", "—"))])
    if report.get("rejected_by_reason"):
        rows.append(["rejected by reason", ", ".join(f"{k} {v}" for k, v in report["rejected_by_reason"].items())])
    if near:
        rows.append(["near-duplicate groups", f"{near.get('groups')} (largest {near.get('largest_group')})"])
    if div.get("max_tvd") is not None:
        rows.append(["largest label divergence", f"{_fmt(div['max_tvd'])} ({div.get('key')}, {' vs '.join(div.get('splits', []))})"])
    rows.append(["cross-split leaks", str(report.get("leakage", {}).get("total", "—"))])
    rows += [["warning", w] for w in report.get("warnings", [])]
    return Section("Data split", [Table(["", "value"], rows), "Full details: data/split/split_report.md."])


def training_section(run_dir: Path) -> Section | None:
    for model_dir in sorted((run_dir / "runs").glob("*/*")):
        summary = _load(model_dir / "train_summary.json")
        config = model_dir / "resolved_config.yaml"
        if summary:
            keep = ("model_id", "method", "global_step", "first_logged_loss", "last_logged_loss", "eval_loss",
                    "max_length", "lora_target_modules", "config_hash", "code_version", "seconds")  # fmt: skip
            rows = [[k, _cell(summary[k])] for k in keep if summary.get(k) is not None]
            blocks: list[Any] = [Table(["", "value"], rows)]
            if config.is_file():
                blocks += ["Resolved config:", Code(config.read_text(encoding="utf-8"), "yaml")]
            return Section("Training", blocks)
    return None


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return _fmt(value)


def merge_section(run_dir: Path) -> Section | None:
    info = _load(run_dir / "merged" / "merge_info.json")
    if not info:
        return None
    check = info.get("equivalence", {})
    return Section(
        "Merge",
        [
            f"Max |logit difference| merged vs base+adapter: {_fmt(check.get('max_abs_diff'))} "
            f"(tolerance {_fmt(check.get('tolerance'))}).",
            info.get("note", ""),
        ],
    )


def build_run_report(run_dir: Path) -> list[Section]:
    run_dir = Path(run_dir)
    modes = eval_modes(run_dir)
    sections: list[Section | None] = []
    if modes:
        sections += [verdict_section(modes), headline_section(modes), side_modes_section(run_dir)]
    sections += [jobs_section(run_dir)]
    if modes:
        sections += eval_sections(modes)
    sections += [split_section(run_dir), training_section(run_dir), merge_section(run_dir)]
    return [s for s in sections if s is not None]


def write_run_report(run_dir: Path, title: str | None = None) -> dict[str, Path]:
    """Write run_dir/report.md + report.html. Without a title, the one of the report already there is kept, so
    `hiddenparams report DIR` refreshes the demo's report without renaming it."""
    sections = build_run_report(run_dir)
    if not sections:
        raise ReportError(f"{run_dir}: nothing to report (no eval/*/eval_report.json, ledger or split report); "
                              "give a run folder, e.g. the demo's --out")
    return write_report(Path(run_dir), title or _previous_title(Path(run_dir)) or DEFAULT_TITLE, sections)


def _previous_title(run_dir: Path) -> str | None:
    page = run_dir / "report.html"
    found = re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8"), re.DOTALL) if page.is_file() else None
    return html.unescape(found.group(1)) if found else None
