"""Readable reports of scored generations: Markdown (+ PNG files beside it) and one self-contained HTML file.

Every piece takes `modes`, a mapping `{mode name: eval_report dict}` (see `score.py` for the schema), so one scored
set (`render_eval_report`) and a run comparing base / base+adapter / merged use the same sections. All modes of one
report are scored on the same rows, so the baselines are read from the first mode.

A report is a list of `Section`s of plain blocks (text, `Table`, `Image`) rendered twice by `write_report`; all text
is escaped for its target, because model outputs are arbitrary (`<script>`, pipes, newlines).
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .schema import KEYS, MAX_VALUE, MIN_VALUE
from .score import Case, representative_failures

Modes = Mapping[str, Mapping[str, Any]]

BASELINES = {"train_mean": "baseline: train mean", "tfidf_ridge": "baseline: TF-IDF + ridge"}
_BASELINE_NAMES = {"train_mean": "the train-mean baseline", "tfidf_ridge": "TF-IDF + ridge"}
_BASELINE_COLORS = {"train_mean": "#bbbbbb", "tfidf_ridge": "#777777"}
_MODE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_MAX_OUTPUT_CHARS = 200


# --- document model ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    text: str
    url: str


Cell = str | Link


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    literal_columns: frozenset[int] = field(default_factory=frozenset)  # raw model text: monospace, kept verbatim


@dataclass(frozen=True)
class Image:
    name: str  # file stem of the PNG written beside report.md
    alt: str
    png: bytes


@dataclass(frozen=True)
class Code:
    text: str  # shown verbatim: JSON, YAML
    language: str = ""


Block = str | Table | Image | Code  # a str is one paragraph of plain text


@dataclass(frozen=True)
class Section:
    title: str
    blocks: Sequence[Block]


# --- rendering -----------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def _clip(cell: Cell) -> Cell:
    """Shorten a long model output in a table; the full text stays in eval_report.json."""
    if isinstance(cell, Link) or len(cell) <= _MAX_OUTPUT_CHARS:
        return cell
    return cell[:_MAX_OUTPUT_CHARS] + "…"


def _md_text(text: str) -> str:
    # Entities first (Markdown renders raw HTML), then Markdown's own syntax; a newline would end a table row.
    escaped = html.escape(text, quote=False).replace("\r\n", "\n").replace("\r", "\n")
    return _MD_SPECIAL.sub(r"\\\1", escaped).replace("\n", " ⏎ ")


def _md_cell(cell: Cell) -> str:
    if isinstance(cell, Link):
        return f"[{_md_text(cell.text)}](<{cell.url.replace('>', '%3E')}>)"
    return _md_text(cell)


def to_markdown(title: str, sections: Sequence[Section], image_dir: str) -> str:
    lines = [f"# {_md_text(title)}", ""]
    for section in sections:
        lines += [f"## {_md_text(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append("| " + " | ".join(_md_text(h) for h in block.header) + " |")
                lines.append("|" + "---|" * len(block.header))
                for row in block.rows:
                    cells = (_md_cell(_clip(c) if i in block.literal_columns else c) for i, c in enumerate(row))
                    lines.append("| " + " | ".join(cells) + " |")
            elif isinstance(block, Image):
                lines.append(f"![{_md_text(block.alt)}]({image_dir}/{block.name}.png)")
            elif isinstance(block, Code):
                fence = "~~~~" if "```" in block.text else "```"
                lines += [f"{fence}{block.language}", block.text.rstrip("\n"), fence]
            else:
                lines.append(_md_text(block))
            lines.append("")
    return "\n".join(lines)


def _html_cell(cell: Cell, literal: bool) -> str:
    if isinstance(cell, Link):
        return f'<a href="{html.escape(cell.url)}">{html.escape(cell.text)}</a>'
    return f"<code>{html.escape(_clip(cell))}</code>" if literal else html.escape(cell)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
code { white-space: pre-wrap; word-break: break-all; }
img { max-width: 100%; }
"""


def to_html(title: str, sections: Sequence[Section]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in block.header) + "</tr>")
                for row in block.rows:
                    cells = (_html_cell(c, i in block.literal_columns) for i, c in enumerate(row))
                    parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
                parts.append("</table>")
            elif isinstance(block, Image):
                data = base64.b64encode(block.png).decode("ascii")
                parts.append(f'<p><img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}"></p>')
            elif isinstance(block, Code):
                parts.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
            else:
                parts.append(f"<p>{html.escape(block)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(out_dir: Path, title: str, sections: Sequence[Section], stem: str = "report") -> dict[str, Path]:
    """Write `stem.md` (its plots as PNGs under `plots/`) and the self-contained `stem.html`; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    image_dir = "plots"
    images = [b for s in sections for b in s.blocks if isinstance(b, Image)]
    if images:
        (out_dir / image_dir).mkdir(exist_ok=True)
    for image in images:
        (out_dir / image_dir / f"{image.name}.png").write_bytes(image.png)
    paths = {"markdown": out_dir / f"{stem}.md", "html": out_dir / f"{stem}.html"}
    paths["markdown"].write_text(to_markdown(title, sections, image_dir), encoding="utf-8")
    paths["html"].write_text(to_html(title, sections), encoding="utf-8")
    return paths


# --- plots ---------------------------------------------------------------------------------------------------


def _figure(width: float, height: float, **subplots: Any) -> tuple[Any, Any]:
    # Imported here: matplotlib is slow to import and only reports need it. The Agg canvas needs no display.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(**subplots)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})  # no version stamp: same input, same bytes
    return buf.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "mode"


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def mae_per_key_plot(modes: Modes) -> Image:
    """Grouped bars per key: each mode's MAE over valid cases (a black tick marks its MAE over all) and baselines."""
    baselines = _baselines(modes)
    series = [
        (name, r["metrics"]["mae_per_key"], r["metrics"]["over_all"]["mae_per_key"], color)
        for (name, r), color in zip(modes.items(), _MODE_COLORS)
    ]
    series += [(BASELINES[b], baselines[b]["mae_per_key"], None, _BASELINE_COLORS[b]) for b in BASELINES if b in baselines]
    fig, ax = _figure(10, 4)
    x = np.arange(len(KEYS))
    width = 0.8 / len(series)
    for i, (label, over_valid, over_all, color) in enumerate(series):
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, [_nan((over_valid or {}).get(k)) for k in KEYS], width, label=label, color=color)
        if over_all is not None:
            ax.scatter(pos, [over_all[k] for k in KEYS], marker="_", s=200, color="black", zorder=3)
    ax.scatter([], [], marker="_", color="black", label="over all (invalid = worst error)")
    ax.set_xticks(x, KEYS)
    ax.set_ylabel("mean absolute error")
    ax.set_title("Per-key MAE (bars: over valid cases)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))  # outside: never hides a bar
    return Image("mae_per_key", "Per-key MAE of each mode against the baselines", _png(fig))


def pred_vs_true_plot(name: str, report: Mapping[str, Any]) -> Image | str:
    """Six heat maps of (true, predicted) counts over valid cases: counts show overlap that a scatter would hide.
    One colour scale for all six, so a darker cell means more cases whichever key it is in."""
    pairs = np.array([(c["target"], c["prediction"]) for c in report["cases"] if c["valid"]], dtype=np.int64)
    if not len(pairs):
        return f"{name}: no valid output, so no predicted-vs-true plot."
    size = MAX_VALUE - MIN_VALUE + 1
    counts = np.zeros((len(KEYS), size, size), dtype=np.int64)
    for k in range(len(KEYS)):
        np.add.at(counts[k], (pairs[:, 1, k] - MIN_VALUE, pairs[:, 0, k] - MIN_VALUE), 1)
    fig, axes = _figure(11, 7, nrows=2, ncols=3)
    for k, (key, ax) in enumerate(zip(KEYS, axes.flat)):
        shown = ax.imshow(counts[k], origin="lower", cmap="Blues", vmin=0, vmax=counts.max(),
                          extent=(MIN_VALUE - 0.5, MAX_VALUE + 0.5) * 2)  # fmt: skip
        ax.plot([MIN_VALUE, MAX_VALUE], [MIN_VALUE, MAX_VALUE], color="#d62728", linewidth=0.8)
        ax.set_title(key)
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
    from matplotlib.ticker import MaxNLocator

    fig.colorbar(shown, ax=axes, label="cases", shrink=0.8, ticks=MaxNLocator(integer=True))  # counts: whole ticks
    fig.suptitle(f"{name}: predicted vs true ({len(pairs)} valid cases)")
    return Image(f"pred_vs_true_{_slug(name)}", f"Predicted vs true per key for {name}", _png(fig))


def validity_plot(modes: Modes) -> Image:
    fig, ax = _figure(max(4, 1.5 * len(modes) + 2), 3)
    names = list(modes)
    rates = [100 * r["valid_cases"] / r["total"] for r in modes.values()]
    bars = ax.bar(names, rates, color=_MODE_COLORS[: len(names)])
    ax.bar_label(bars, [f"{r['valid_cases']}/{r['total']}" for r in modes.values()])
    ax.set_ylim(0, 110)
    ax.set_ylabel("valid outputs (%)")
    ax.set_title("Strictly valid outputs per mode")
    return Image("validity", "Share of strictly valid outputs per mode", _png(fig))


def invalid_reasons_plot(modes: Modes) -> Image:
    reasons = _reasons(modes)
    fig, ax = _figure(8, 1.5 + 0.35 * len(reasons) * len(modes))
    y = np.arange(len(reasons))
    height = 0.8 / len(modes)
    for i, ((name, report), color) in enumerate(zip(modes.items(), _MODE_COLORS)):
        counts = [report["error_counts"].get(r, 0) for r in reasons]
        ax.barh(y - 0.4 + height * (i + 0.5), counts, height, label=name, color=color)
    ax.set_yticks(y, reasons)
    ax.invert_yaxis()
    ax.set_xlabel("invalid outputs")
    ax.set_title("Invalid outputs by reason")
    ax.legend(fontsize="small")
    return Image("invalid_reasons", "Invalid outputs by reason per mode", _png(fig))


# --- sections ------------------------------------------------------------------------------------------------


def _baselines(modes: Modes) -> Mapping[str, Any]:
    # A baseline that could not be computed (no train split) is absent; `baselines_skipped` says why.
    return next(iter(modes.values())).get("baselines") or {}


def _reasons(modes: Modes) -> list[str]:
    totals: dict[str, int] = {}
    for report in modes.values():
        for reason, n in report["error_counts"].items():
            totals[reason] = totals.get(reason, 0) + n
    return sorted(totals, key=lambda r: (-totals[r], r))


def _num(value: float) -> str:
    return f"{value:.3f}"


def pct(value: float) -> str:
    """Every percentage of a report, one way: a share in [0, 1] as `12.3%`."""
    return f"{100 * value:.1f}%"


def _key_mean(per_key: Mapping[str, float]) -> float:
    return float(np.mean([per_key[k] for k in KEYS]))


def _metric_rows(modes: Modes) -> list[tuple[str, str, Mapping[str, Any] | None]]:
    """(label, validity, Metrics) rows: each mode over valid and over all, then the baselines (always valid)."""
    rows: list[tuple[str, str, Mapping[str, Any] | None]] = []
    for name, report in modes.items():
        validity = f"{report['valid_cases']}/{report['total']}"
        rows.append((f"{name} (over valid)", validity, report["metrics"]["over_valid"]))
        rows.append((f"{name} (over all)", validity, report["metrics"]["over_all"]))
    for key, label in BASELINES.items():
        metrics = _baselines(modes).get(key)
        if metrics is None:
            continue
        rows.append((label, f"{metrics['n']}/{metrics['n']}", metrics))
    return rows


METRIC_POLICY = (
    "Headline numbers (metrics.mae and siblings) are over valid cases; read them with the validity. "
    "'Over all' counts every invalid output as wrong: for MAE as the worst in-range prediction for each key "
    f"(error max(t - {MIN_VALUE}, {MAX_VALUE} - t)), and as a miss for the exact, within-1 and all-six rates. "
    "Baselines are fitted on the train split and scored on the same rows."
)


def verdict(subject: str, report: Mapping[str, Any]) -> list[str]:
    """One sentence per baseline: does `subject` beat it on MAE over all cases (an invalid output counts as the
    worst answer, so a model cannot win by answering only the easy rows), and by how much."""
    mae = report["metrics"]["over_all"]["mae"]
    skipped = report.get("baselines_skipped") or {}
    sentences = []
    for key, name in _BASELINE_NAMES.items():
        baseline = (report.get("baselines") or {}).get(key)
        if baseline is None:
            sentences.append(f"No comparison with {name}: {skipped.get(key, 'not computed')}.")
            continue
        sentences.append(_compare(subject, mae, name, baseline["mae"]))
    return sentences


def _compare(subject: str, mae: float, name: str, other: float) -> str:
    head = f"{subject} (MAE {_num(mae)} over all cases)"
    if mae < other:
        return f"{head} beats {name} ({_num(other)}) by {pct((other - mae) / other)}."
    if mae == other:
        return f"{head} ties with {name} ({_num(other)})."
    if other == 0:
        return f"{head} does NOT beat {name} ({_num(other)}), which is exact."
    ratio = mae / other
    gap = f"{ratio:.1f}x worse" if ratio >= 2 else f"{pct(ratio - 1)} worse"
    return f"{head} does NOT beat {name} ({_num(other)}): {gap}."


def verdict_section(subject: str, report: Mapping[str, Any]) -> Section:
    return Section("Verdict", [" ".join(verdict(subject, report))])


def summary_section(modes: Modes) -> Section:
    def cells(m: Mapping[str, Any] | None) -> list[str]:
        if m is None:  # no valid case: nothing to average
            return ["—"] * 4
        return [_num(m["mae"]), pct(_key_mean(m["exact"])), pct(_key_mean(m["within1"])), pct(m["all_exact"])]

    table = Table(
        ["", "valid", "MAE", "exact (mean of keys)", "within 1 (mean of keys)", "all six exact"],
        [[label, validity, *cells(m)] for label, validity, m in _metric_rows(modes)],
    )
    return Section("Summary", [table, METRIC_POLICY])


def per_key_section(modes: Modes) -> Section:
    table = Table(
        ["MAE", *KEYS],
        [[label, *(_num(m["mae_per_key"][k]) if m else "—" for k in KEYS)] for label, _, m in _metric_rows(modes)],
    )
    return Section("Per-key error", [mae_per_key_plot(modes), table])


def pred_vs_true_section(modes: Modes) -> Section:
    """One plot per distinct set of outputs: a mode that answered exactly as an earlier one (the merged model
    beside its adapter) is named, not drawn twice."""
    blocks: list[Block] = []
    seen: dict[tuple[str, ...], str] = {}
    for name, report in modes.items():
        outputs = tuple(c["output"] for c in report["cases"])
        if outputs in seen:
            blocks.append(f"{name}: the same output as {seen[outputs]} on every row, shown once above.")
            continue
        seen[outputs] = name
        blocks.append(pred_vs_true_plot(name, report))
    return Section("Predicted vs true", blocks)


def validity_section(modes: Modes) -> Section:
    blocks: list[Block] = [validity_plot(modes)]
    reasons = _reasons(modes)
    if reasons:
        blocks.append(invalid_reasons_plot(modes))
        counts = [[r, *(str(m["error_counts"].get(r, 0)) for m in modes.values())] for r in reasons]
        blocks.append(Table(["reason", *modes], counts))
    else:
        blocks.append("No invalid outputs.")
    return Section("Validity", blocks)


def malformed_section(modes: Modes, limit: int = 5) -> Section:
    """Up to `limit` representative invalid outputs per mode, one per distinct reason first."""
    rows = [
        [name, case.id, case.error, case.output]
        for name, report in modes.items()
        for case in representative_failures([Case(**c) for c in report["cases"]], limit)
    ]
    if not rows:
        return Section("Malformed outputs", ["No malformed outputs."])
    return Section("Malformed outputs", [Table(["mode", "id", "reason", "output"], rows, frozenset({3}))])


def eval_sections(modes: Modes) -> list[Section]:
    """Every section about scored generations, for one mode or several side by side."""
    return [
        summary_section(modes),
        per_key_section(modes),
        validity_section(modes),
        malformed_section(modes),
        pred_vs_true_section(modes),
    ]


def render_eval_report(report: Mapping[str, Any], out_dir: Path, title: str, mode: str = "model") -> dict[str, Path]:
    """`report.md` + `report.html` for one scored set (an `eval_report.json` dict), its verdict first."""
    return write_report(out_dir, title, [verdict_section(f"The {mode}", report), *eval_sections({mode: report})])
