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

from ..files import write_atomic
from ..schema import KEYS, MAX_VALUE, MIN_VALUE
from . import failures
from .score import Case, representative_failures

Modes = Mapping[str, Mapping[str, Any]]

BASELINES = {"train_mean": "baseline: train mean", "tfidf_ridge": "baseline: TF-IDF + ridge"}
_BASELINE_NAMES = {"train_mean": "the train-mean baseline", "tfidf_ridge": "TF-IDF + ridge"}
_BASELINE_COLORS = {"train_mean": "#bbbbbb", "tfidf_ridge": "#777777"}
# One colour per model in every plot of every report; a name not listed takes the next free one of the palette.
MODEL_COLORS = {"base model alone": "#1f77b4", "base + adapter": "#ff7f0e", "merged (full model)": "#2ca02c"}
_PALETTE = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_MAX_OUTPUT_CHARS = 200


def model_color(name: str, names: Sequence[str]) -> str:
    if name in MODEL_COLORS:
        return MODEL_COLORS[name]
    others = [n for n in names if n not in MODEL_COLORS]
    return _PALETTE[others.index(name) % len(_PALETTE)] if name in others else _PALETTE[0]


def num(value: Any) -> str:
    """Every number of a report, one way: whole numbers as they are, others with three decimals (a tiny one in
    scientific notation, so 2.4e-05 does not read as zero), yes/no for a flag, a dash for nothing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1):
        return str(int(value))
    if value != 0 and abs(value) < 0.001:
        return f"{value:.1e}"
    return f"{value:.3f}"


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


@dataclass(frozen=True)
class Details:
    summary: str  # shown; the code opens on a click (long text such as a resolved config)
    code: Code


Block = str | Table | Image | Code | Details | Link  # a str is one paragraph of plain text


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


def _md_url(url: str) -> str:
    # A link to another report of the run goes to its Markdown twin, so report.md links only Markdown files.
    if not re.match(r"[a-z]+://", url) and url.endswith(".html"):
        url = url.removesuffix(".html") + ".md"
    return url.replace(">", "%3E")


def _md_cell(cell: Cell) -> str:
    if isinstance(cell, Link):
        return f"[{_md_text(cell.text)}](<{_md_url(cell.url)}>)"
    return _md_text(cell)


def _md_code(code: Code) -> list[str]:
    fence = "~~~~" if "```" in code.text else "```"
    return [f"{fence}{code.language}", code.text.rstrip("\n"), fence]


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
                lines += _md_code(block)
            elif isinstance(block, Details):
                # Inside an HTML block Markdown escapes are not read: the summary is escaped as HTML only.
                lines += [
                    f"<details><summary>{html.escape(block.summary)}</summary>",
                    "",
                    *_md_code(block.code),
                    "",
                    "</details>",
                ]
            elif isinstance(block, Link):
                lines.append(_md_cell(block))
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
details { margin: 0.5em 0 1em; } summary { cursor: pointer; }
"""


def to_html(title: str, sections: Sequence[Section]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f'<h2 id="{_slug(section.title)}">{html.escape(section.title)}</h2>')
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
            elif isinstance(block, Details):
                parts.append(
                    f"<details><summary>{html.escape(block.summary)}</summary>"
                    f"<pre><code>{html.escape(block.code.text)}</code></pre></details>"
                )
            elif isinstance(block, Link):
                parts.append(f"<p>{_html_cell(block, False)}</p>")
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
    write_atomic(paths["markdown"], to_markdown(title, sections, image_dir))
    write_atomic(paths["html"], to_html(title, sections))
    return paths


# --- plots ---------------------------------------------------------------------------------------------------


def figure(width: float, height: float, **subplots: Any) -> tuple[Any, Any]:
    # Imported here: matplotlib is slow to import and only reports need it. The Agg canvas needs no display.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(**subplots)


def png_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})  # no version stamp: same input, same bytes
    return buf.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "mode"


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def _drawn_modes(modes: Modes) -> list[str]:
    """The modes with at least one valid output: the others have no MAE over valid cases to draw."""
    return [name for name, r in modes.items() if r["metrics"]["over_valid"]]


def mae_per_key_plot(modes: Modes) -> Image:
    """Grouped bars per key: each mode's MAE over valid cases beside the baselines', on the scale of what is drawn
    (a mode with invalid outputs has its MAE over all in the table and the text, not off this scale)."""
    baselines = _baselines(modes)
    names = list(modes)
    series = [(name, modes[name]["metrics"]["mae_per_key"], model_color(name, names)) for name in _drawn_modes(modes)]
    series += [(BASELINES[b], baselines[b]["mae_per_key"], _BASELINE_COLORS[b]) for b in BASELINES if b in baselines]
    fig, ax = figure(10, 4)
    x = np.arange(len(KEYS))
    width = 0.8 / max(len(series), 1)
    for i, (label, per_key, color) in enumerate(series):
        ax.bar(x - 0.4 + width * (i + 0.5), [per_key[k] for k in KEYS], width, label=label, color=color)
    ax.set_xticks(x, KEYS)
    ax.set_ylabel("mean absolute error")
    ax.set_title("Per-key MAE over valid cases")
    if series:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))  # outside: never hides a bar
    return Image("mae_per_key", "Per-key MAE of each mode against the baselines", png_bytes(fig))


def pred_vs_true_plot(name: str, report: Mapping[str, Any]) -> Image | str:
    """Six heat maps of (true, predicted) counts over valid cases: counts show overlap that a scatter would hide.
    The colour scale is logarithmic, so a single off-diagonal case is as visible as it is beside a diagonal of
    hundreds; one scale for all six panels, each titled with its key's MAE."""
    from matplotlib.colors import LogNorm

    pairs = np.array([(c["target"], c["prediction"]) for c in report["cases"] if c["valid"]], dtype=np.int64)
    if not len(pairs):
        return f"{name}: no valid output, so no predicted-vs-true plot."
    size = MAX_VALUE - MIN_VALUE + 1
    counts = np.zeros((len(KEYS), size, size), dtype=np.int64)
    for k in range(len(KEYS)):
        np.add.at(counts[k], (pairs[:, 1, k] - MIN_VALUE, pairs[:, 0, k] - MIN_VALUE), 1)
    norm = LogNorm(vmin=1, vmax=max(int(counts.max()), 2))
    mae = np.abs(pairs[:, 0] - pairs[:, 1]).mean(axis=0)
    fig, axes = figure(11, 7, nrows=2, ncols=3)
    for k, (key, ax) in enumerate(zip(KEYS, axes.flat)):
        shown = ax.imshow(
            np.ma.masked_equal(counts[k], 0),
            origin="lower",
            cmap="viridis_r",
            norm=norm,
            extent=(MIN_VALUE - 0.5, MAX_VALUE + 0.5) * 2,
        )
        ax.plot([MIN_VALUE, MAX_VALUE], [MIN_VALUE, MAX_VALUE], color="#d62728", linewidth=0.8)
        ax.set_title(f"{key} (MAE {num(float(mae[k]))})")
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
    fig.colorbar(shown, ax=axes, label="cases (log scale; empty cells blank)", shrink=0.8)
    fig.suptitle(f"{name}: predicted vs true ({len(pairs)} valid cases)")
    return Image(f"pred_vs_true_{_slug(name)}", f"Predicted vs true per key for {name}", png_bytes(fig))


def validity_plot(modes: Modes) -> Image:
    fig, ax = figure(max(4, 1.5 * len(modes) + 2), 3)
    names = list(modes)
    rates = [100 * r["valid_cases"] / r["total"] for r in modes.values()]
    bars = ax.bar(names, rates, color=[model_color(n, names) for n in names])
    ax.bar_label(bars, [f"{r['valid_cases']}/{r['total']}" for r in modes.values()])
    ax.set_ylim(0, 110)
    ax.set_ylabel("valid outputs (%)")
    ax.set_title("Strictly valid outputs per mode")
    return Image("validity", "Share of strictly valid outputs per mode", png_bytes(fig))


def invalid_reasons_plot(modes: Modes) -> Image:
    """Bars per reason for the modes that have invalid outputs (only those are in the legend), centred on their
    reason's label."""
    reasons = _reasons(modes)
    names = list(modes)
    failing = [n for n in names if modes[n]["error_counts"]]
    fig, ax = figure(8, 1.5 + 0.35 * len(reasons) * len(failing))
    y = np.arange(len(reasons))
    height = 0.8 / len(failing)
    for i, name in enumerate(failing):
        counts = [modes[name]["error_counts"].get(r, 0) for r in reasons]
        ax.barh(y - 0.4 + height * (i + 0.5), counts, height, label=name, color=model_color(name, names))
    ax.set_yticks(y, reasons)
    ax.invert_yaxis()
    ax.set_xlabel("invalid outputs")
    ax.set_title("Invalid outputs by reason")
    ax.legend(fontsize="small")
    return Image("invalid_reasons", "Invalid outputs by reason per mode", png_bytes(fig))


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


def pct(value: float) -> str:
    """Every percentage of a report, one way: a share in [0, 1] as `12.3%`."""
    return f"{100 * value:.1f}%"


def _key_mean(per_key: Mapping[str, float]) -> float:
    return float(np.mean([per_key[k] for k in KEYS]))


def _metric_rows(modes: Modes) -> list[tuple[str, str, Mapping[str, Any] | None]]:
    """(label, validity, Metrics) rows: each mode over valid and over all (one row when every output is valid: the
    two are then the same), then the baselines (always valid)."""
    rows: list[tuple[str, str, Mapping[str, Any] | None]] = []
    for name, report in modes.items():
        validity = f"{report['valid_cases']}/{report['total']}"
        if report["valid_cases"] == report["total"]:
            rows.append((name, validity, report["metrics"]["over_all"]))
            continue
        rows.append((f"{name} (over valid)", validity, report["metrics"]["over_valid"]))
        rows.append((f"{name} (over all)", validity, report["metrics"]["over_all"]))
    for key, label in BASELINES.items():
        metrics = _baselines(modes).get(key)
        if metrics is None:
            continue
        rows.append((label, f"{metrics['n']}/{metrics['n']}", metrics))
    return rows


METRIC_POLICY = (
    "A row marked 'over valid' averages the strictly valid outputs only; read it with the validity. "
    "'Over all' counts every invalid output as wrong: for MAE as the worst in-range prediction for each key "
    f"(error max(t - {MIN_VALUE}, {MAX_VALUE} - t)), and as a miss for the exact, within-1 and all-six rates. "
    "Baselines are fitted on the train split and scored on the same rows."
)


def verdict(subject: str, report: Mapping[str, Any]) -> list[str]:
    """One sentence per baseline: does `subject` beat it on MAE over all cases (an invalid output counts as the
    worst answer, so a model cannot win by answering only the easy rows), and by how much; then the interval of the
    difference against the strongest baseline, and the keys where the model loses to it."""
    mae = report["metrics"]["over_all"]["mae"]
    skipped = report.get("baselines_skipped") or {}
    sentences = []
    for key, name in _BASELINE_NAMES.items():
        baseline = (report.get("baselines") or {}).get(key)
        if baseline is None:
            sentences.append(f"No comparison with {name}: {skipped.get(key, 'not computed')}.")
            continue
        sentences.append(_compare(subject, mae, name, baseline["mae"]))
    return sentences + uncertainty(report)


def uncertainty(report: Mapping[str, Any]) -> list[str]:
    """The paired bootstrap interval of the MAE difference against the strongest baseline, and where it loses."""
    strongest = failures.strongest_baseline(report)
    if strongest is None:
        return []
    name = _BASELINE_NAMES.get(strongest, strongest)
    sentences = []
    diff = failures.paired_bootstrap(report, strongest)
    if diff is not None:
        sure = (
            "the interval excludes zero"
            if diff.low > 0 or diff.high < 0
            else "the interval includes zero: no clear difference"
        )
        sentences.append(
            f"MAE difference against {name}, the strongest baseline: {num(diff.difference)} "
            f"(95% paired bootstrap interval {num(diff.low)} to {num(diff.high)}, {diff.rows} rows, "
            f"{diff.resamples} resamples; {sure})."
        )
    losing = failures.losing_keys(report, strongest)
    if losing:
        keys = ", ".join(f"{k} ({num(m)} vs {num(b)})" for k, m, b in losing)
        sentences.append(f"It loses to {name} on {keys}.")
    else:
        sentences.append(f"It is at or below {name} on every key.")
    return sentences


def _compare(subject: str, mae: float, name: str, other: float) -> str:
    head = f"{subject} (MAE {num(mae)} over all cases)"
    if mae < other:
        return f"{head} beats {name} ({num(other)}) by {pct((other - mae) / other)}."
    if mae == other:
        return f"{head} ties with {name} ({num(other)})."
    if other == 0:
        return f"{head} does NOT beat {name} ({num(other)}), which is exact."
    ratio = mae / other
    gap = f"{ratio:.1f}x worse" if ratio >= 2 else f"{pct(ratio - 1)} worse"
    return f"{head} does NOT beat {name} ({num(other)}): {gap}."


def verdict_section(subject: str, report: Mapping[str, Any]) -> Section:
    return Section("Verdict", [" ".join(verdict(subject, report))])


def summary_section(modes: Modes) -> Section:
    def cells(m: Mapping[str, Any] | None) -> list[str]:
        if m is None:  # no valid case: nothing to average
            return ["—"] * 4
        return [num(m["mae"]), pct(_key_mean(m["exact"])), pct(_key_mean(m["within1"])), pct(m["all_exact"])]

    table = Table(
        ["", "valid", "MAE", "exact (mean of keys)", "within 1 (mean of keys)", "all six exact"],
        [[label, validity, *cells(m)] for label, validity, m in _metric_rows(modes)],
    )
    return Section("Summary", [table, METRIC_POLICY])


def per_key_section(modes: Modes) -> Section:
    table = Table(
        ["MAE", *KEYS],
        [[label, *(num(m["mae_per_key"][k]) if m else "—" for k in KEYS)] for label, _, m in _metric_rows(modes)],
    )
    blocks: list[Block] = [mae_per_key_plot(modes)]
    for name, report in modes.items():
        if not report["metrics"]["over_valid"]:
            blocks.append(
                f"{name}: no valid output, so no bar; its MAE over all is "
                f"{num(report['metrics']['over_all']['mae'])} (table below)."
            )
        elif report["valid_cases"] < report["total"]:
            blocks.append(
                f"{name}: bars over its {report['valid_cases']} valid outputs; over all "
                f"{report['total']} rows its MAE is {num(report['metrics']['over_all']['mae'])}."
            )
    return Section("Per-key error", [*blocks, table])


def _distinct(modes: Modes) -> list[tuple[str, str | None]]:
    """(mode, the earlier mode that gave the very same outputs on every row, or None): a merged model that answers
    as its adapter is named, not shown twice."""
    seen: dict[tuple[str, ...], str] = {}
    found = []
    for name, report in modes.items():
        outputs = tuple(c["output"] for c in report["cases"])
        found.append((name, seen.get(outputs)))
        seen.setdefault(outputs, name)
    return found


def pred_vs_true_section(modes: Modes) -> Section:
    blocks: list[Block] = []
    for name, same_as in _distinct(modes):
        if same_as:
            blocks.append(f"{name}: the same output as {same_as} on every row, shown once above.")
        else:
            blocks.append(pred_vs_true_plot(name, modes[name]))
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


def _request(case: Mapping[str, Any]) -> str:
    return case.get("request_text") or "(not recorded in this report)"


def _row_values(values: Sequence[int]) -> str:
    return " ".join(str(v) for v in values)


def failures_section(name: str, report: Mapping[str, Any], worst: int = 10, malformed: int = 10) -> Section:
    """Where one model fails: its worst valid rows, its invalid outputs with their requests, and slices of the
    rows with the baselines' MAE on the same slice."""
    blocks: list[Block] = []
    rows = failures.worst_rows(report, worst)
    if rows:
        blocks.append(
            f"The {len(rows)} valid outputs with the largest mean absolute error; a key's cell reads "
            "true → predicted (targets and predictions in the key order of the header)."
        )
        table_rows = [
            [
                r.case["id"],
                _request(r.case),
                *(f"{t} → {p}" if e else str(t) for t, p, e in zip(r.case["target"], r.case["prediction"], r.errors)),
                num(r.mae),
            ]
            for r in rows
        ]
        blocks.append(Table(["id", "request", *KEYS, "row MAE"], table_rows))
    elif report["valid_cases"]:
        blocks.append("No valid output misses any key.")
    else:
        blocks.append("No valid output to rank.")
    invalid = representative_failures([Case(**c) for c in report["cases"]], malformed)
    n_invalid = report["total"] - report["valid_cases"]
    if invalid:
        shown = "" if len(invalid) == n_invalid else f", {len(invalid)} shown, one per reason first"
        blocks.append(f"Malformed outputs ({n_invalid}{shown}), with the request each one answered:")
        blocks.append(
            Table(
                ["id", "request", "reason", "output"],
                [[c.id, c.request_text or "—", c.error or "—", c.output] for c in invalid],
                frozenset({3}),
            )
        )
    else:
        blocks.append("No malformed outputs.")
    found = failures.slices(report)
    if found:
        baselines = [b for b in BASELINES if b in (report.get("baselines") or {})]
        blocks.append(
            "MAE over all rows of each slice (an invalid output counts as the worst answer), beside the "
            "baselines on the same rows. Language is a light guess from stop words and the script."
        )
        blocks.append(
            Table(
                [
                    "slice",
                    "",
                    "rows",
                    f"{name} MAE",
                    *(BASELINES[b].removeprefix("baseline: ") + " MAE" for b in baselines),
                ],
                [[s.group, s.name, str(s.n), num(s.mae), *(num(s.baselines.get(b)) for b in baselines)] for s in found],
            )
        )
    return Section(f"Failures: {name}", blocks)


def failure_sections(modes: Modes) -> list[Section]:
    sections = []
    for name, same_as in _distinct(modes):
        if same_as:
            sections.append(Section(f"Failures: {name}", [f"The same outputs as {same_as} on every row: see above."]))
        else:
            sections.append(failures_section(name, modes[name]))
    return sections


def eval_sections(modes: Modes) -> list[Section]:
    """Every section about scored generations, for one mode or several side by side."""
    return [
        summary_section(modes),
        per_key_section(modes),
        validity_section(modes),
        *failure_sections(modes),
        pred_vs_true_section(modes),
    ]


def render_eval_report(
    report: Mapping[str, Any], out_dir: Path, title: str, mode: str = "model", links: Sequence[Link] = ()
) -> dict[str, Path]:
    """`report.md` + `report.html` for one scored set (an `eval_report.json` dict), its verdict first, then `links`
    (to the run's other reports, relative to `out_dir`)."""
    head = [Section("Related reports", list(links))] if links else []
    return write_report(out_dir, title, [verdict_section(f"The {mode}", report), *head, *eval_sections({mode: report})])
