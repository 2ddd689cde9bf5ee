"""`hiddenparams split`: labelled requests -> train/validation/test without leakage, every record accounted for.

The pipeline, each step a function on data in its own module:
  normalise -> exact dedup (`dedup`, first occurrence kept) -> near-duplicate groups (`neardup`: MinHash of character
  5-gram sets, LSH, candidate pairs confirmed by the MinHash Jaccard estimate, union-find) -> whole groups assigned
  greedily, stratified on every key's label values (`stratify`) -> an independent cross-split leakage check of the
  result and the size and drift rules that `check-splits` applies too (`split_checks`) -> report (`split_report`).

`run(cfg)` refuses splits those rules reject (unless `allow_small`) and writes the folder whole or not at all.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ConfigError, flag
from .dedup import Deduped, exact_dedup
from .neardup import (
    NearDupConfig,
    PhaseCallback,
    SimilarPairs,
    Timer,
    flag_texts,
    group_roots,
    similar_pairs,
)
from ..files import check_out, staged_folder
from ..provenance import provenance
from .records import ReadResult, Reason, Rejected, read_input
from .rows import SPLITS, DataError, Row, write_jsonl
from .split_checks import (
    MIN_EVAL_ROWS,
    cross_split_leakage,
    divergence,
    label_histograms,
    split_problems,
)
from .split_report import Counts, Duplicates, NearDuplicates, SplitReport
from .stratify import STRATIFICATION, assign_groups, label_matrix


@dataclass(frozen=True)
class SplitConfig(NearDupConfig):
    input: str = ""  # JSONL, CSV or Parquet file, or a folder of train/validation/test files to re-split
    out: str = field(
        default="", metadata=flag("Folder for train/validation/test/rejected.jsonl and the reports (required).")
    )
    val_frac: float = field(default=0.1, metadata=flag("Share of rows for validation."))
    test_frac: float = field(default=0.1, metadata=flag("Share of rows for test."))
    seed: int = field(default=0, metadata=flag("Seed of the group order; the same seed gives the same split."))
    # A near-duplicate group larger than this share of the smallest split's target size is reported as a warning.
    max_group_share: float = 0.5
    allow_small: bool = field(
        default=False,
        metadata=flag(
            f"Write splits even when validation or test get fewer than {MIN_EVAL_ROWS} rows (or their labels drift);"
            " check-splits will still ask to rebuild them."
        ),
    )
    overwrite: bool = field(default=False, metadata=flag("Replace the files of a non-empty --out folder."))

    def validate(self, source: str = "config") -> None:
        super().validate(source)
        if self.val_frac < 0 or self.test_frac < 0 or self.val_frac + self.test_frac >= 1:
            raise ConfigError(
                f"{source}: fields 'val_frac' ({self.val_frac}) and 'test_frac' ({self.test_frac}) "
                "(--val-frac, --test-frac) must be >= 0 and sum to less than 1"
            )
        if self.max_group_share <= 0:
            raise ConfigError(f"{source}: field 'max_group_share': must be > 0, got {self.max_group_share}")
        for name in ("input", "out"):
            if not getattr(self, name):
                raise ConfigError(f"{source}: field '{name}': required")

    @property
    def fractions(self) -> np.ndarray:
        return np.array([1.0 - self.val_frac - self.test_frac, self.val_frac, self.test_frac])

    @property
    def wanted(self) -> list[str]:
        """The splits asked for (a fraction of 0 asks for none)."""
        return [name for name, f in zip(SPLITS, self.fractions.tolist()) if f > 0]


@dataclass
class Splits:
    """What `split_records` makes: the rows of each split, the rejected records, the report, and why the splits are
    not usable (`split_problems`; empty when they are)."""

    splits: dict[str, list[Row]]
    rejected: list[Rejected]
    report: SplitReport
    problems: list[str]


@dataclass
class SplitResult:
    """What `run` wrote. Its JSON form is what `split --json` prints; `report.to_json()` is split_report.json."""

    out: Path
    files: dict[str, Path]
    report: SplitReport

    def to_json(self) -> dict[str, Any]:
        files = {k: str(v) for k, v in self.files.items()}
        return {"out": str(self.out), "files": files, "report": self.report.to_json()}


def _group_report(
    roots: np.ndarray, choice: np.ndarray, dedup: Deduped, pairs: SimilarPairs, cfg: SplitConfig
) -> NearDuplicates:
    sizes = np.bincount(roots, minlength=len(roots))  # non-zero only at each group's first member
    multi = np.flatnonzero(sizes > 1)
    fractions = cfg.fractions
    smallest_target = len(roots) * fractions[fractions > 0].min()
    limit = cfg.max_group_share * smallest_target
    warnings = []
    for root in multi[np.argsort(-sizes[multi], kind="stable")]:
        if sizes[root] <= limit:
            break
        first = dedup.kept[root].request_text[:60]
        warnings.append(
            f"near-duplicate group of {sizes[root]} texts (first: {first!r}) is larger than {cfg.max_group_share:g} x "
            f"the smallest split's target ({smallest_target:.0f} rows): it all went to {SPLITS[choice[root]]}; "
            "check for templated texts or raise --threshold"
        )
    largest = int(multi[np.argmax(sizes[multi])]) if len(multi) else None
    return NearDuplicates(
        threshold=cfg.threshold,
        flagged_by_lsh=pairs.flagged,
        candidate_pairs=pairs.candidates,
        confirmed_pairs=len(pairs.i),
        groups=len(multi),
        rows_in_groups=int(sizes[multi].sum()),
        largest_group=int(sizes[largest]) if largest is not None else 1,
        largest_group_examples=[dedup.kept[k].request_text for k in np.flatnonzero(roots == largest)[:3]]
        if largest is not None
        else [],
        warning_limit_rows=round(limit, 1),
        warnings=warnings,
    )


def split_records(read: ReadResult, cfg: SplitConfig, on_phase: PhaseCallback | None = None) -> Splits:
    """The core of `hiddenparams split`: valid records in, three splits + rejected + report out (nothing written)."""
    timer = Timer(on_phase)
    with timer.phase("dedup"):
        dedup = exact_dedup(read.records)
    flagged = flag_texts(dedup.texts, cfg, timer)
    pairs = similar_pairs(dedup.texts, cfg, timer, flagged=flagged)
    with timer.phase("grouping"):
        roots = group_roots(len(dedup.texts), pairs.i, pairs.j)
    with timer.phase("assignment"):
        labels = label_matrix(dedup.kept)
        choice = assign_groups(roots, labels, cfg.fractions, cfg.seed)
        splits = {name: [r for r, c in zip(dedup.kept, choice.tolist()) if c == k] for k, name in enumerate(SPLITS)}
        hists = label_histograms({name: labels[choice == k] for k, name in enumerate(SPLITS)})
        groups = _group_report(roots, choice, dedup, pairs, cfg)
    # The kept texts are exactly the splits' texts, so their signatures can be reused by the leakage check.
    known = flagged.by_text(dedup.texts)
    del flagged
    leakage = cross_split_leakage({n: [r.request_text for r in rs] for n, rs in splits.items()}, cfg, timer, known)

    rejected = sorted(read.rejected + dedup.rejected, key=lambda r: (r.source, r.line))
    sizes = {name: len(rows) for name, rows in splits.items()}
    if sum(sizes.values()) + len(rejected) != read.n_input:  # a bug, never bad input: every record must land somewhere
        raise RuntimeError(f"accounting error: {sizes} + {len(rejected)} rejected != {read.n_input} input records")
    by_reason: dict[str, int] = {}
    for r in rejected:
        by_reason[r.reason.value] = by_reason.get(r.reason.value, 0) + 1
    warnings = list(groups.warnings)
    if leakage.total:
        warnings.append(f"{leakage.total} cross-split leaks found after assignment (must be 0): this is a bug")
    id_counts: dict[str, int] = {}
    for r in dedup.kept:
        id_counts[r.id] = id_counts.get(r.id, 0) + 1
    repeated_ids = sum(1 for c in id_counts.values() if c > 1)
    if repeated_ids:
        warnings.append(f"{repeated_ids} ids are used by more than one kept row (ids are kept as given)")
    origin: dict[str, dict[str, int]] = {}
    for name, rows in splits.items():
        for r in rows:
            per = origin.setdefault(r.source, {s: 0 for s in SPLITS})
            per[name] += 1
    div = divergence(hists)
    problems = split_problems(sizes, cfg.wanted, div)
    report = SplitReport(
        params=cfg,
        inputs=read.sources,
        counts=Counts(
            input_records=read.n_input,
            **sizes,
            rejected=len(rejected),
            blank_lines=sum(s.blank_lines for s in read.sources),
            coerced_integral_floats=read.coerced_integral_floats,
        ),
        rejected_by_reason=dict(sorted(by_reason.items())),
        duplicates=Duplicates(
            policy="first occurrence of each normalised text kept; later ones rejected as duplicate (same labels) "
            "or conflict (labels differ), naming the kept record",
            duplicate=by_reason.get(Reason.DUPLICATE.value, 0),
            conflict=by_reason.get(Reason.CONFLICT.value, 0),
            conflict_groups=dedup.conflict_groups,
            conflict_examples=dedup.conflict_examples,
        ),
        near_duplicates=groups,
        stratification=STRATIFICATION,
        histograms=hists,
        divergence=div,
        leakage=leakage,
        origin=origin,
        warnings=warnings,
        timings_s={k: round(v, 3) for k, v in timer.seconds.items()},
        provenance=provenance(cfg, [s.path for s in read.sources]),
    )
    return Splits(splits, rejected, report, problems)


def write_split(result: Splits, out: Path) -> dict[str, Path]:
    """Write the four data files and both reports into `out`; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.jsonl" for name in (*SPLITS, "rejected")}
    for name in SPLITS:
        write_jsonl(paths[name], (r.to_dict() for r in result.splits[name]))
    write_jsonl(paths["rejected"], (r.to_json() for r in result.rejected))
    paths["report_json"] = out / "split_report.json"
    paths["report_md"] = out / "split_report.md"
    report_json = json.dumps(result.report.to_json(), indent=2, ensure_ascii=False)
    paths["report_json"].write_text(report_json + "\n", encoding="utf-8")
    paths["report_md"].write_text(result.report.markdown(), encoding="utf-8")
    return paths


def _refused(cfg: SplitConfig, result: Splits) -> DataError:
    counts = result.report.counts
    if not counts.kept:
        reasons = ", ".join(f"{k} {v}" for k, v in result.report.rejected_by_reason.items())
        first = "; ".join(r.message for r in result.rejected[:3])
        return DataError(
            f"no valid record in {cfg.input}: all {counts.input_records} input records are rejected ({reasons}), "
            f"e.g. {first}"
        )
    eval_fracs = [f for f in (cfg.val_frac, cfg.test_frac) if f > 0]
    minimum = f" (at least {math.ceil(MIN_EVAL_ROWS / min(eval_fracs))} valid rows for them)" if eval_fracs else ""
    sizes = ", ".join(f"{name} {counts.of(name)}" for name in SPLITS)
    return DataError(
        f"{cfg.input}: {counts.kept} valid rows split into {sizes}: " + "; ".join(result.problems) + ". "
        f"Validation and test need at least {MIN_EVAL_ROWS} rows each to measure anything, the minimum "
        f"check-splits applies. Give more rows for --val-frac {cfg.val_frac} --test-frac {cfg.test_frac}{minimum}, "
        "lower the fractions (0 asks for no such split), or pass --allow-small to write these splits anyway"
    )


def run(cfg: SplitConfig, on_phase: PhaseCallback | None = None) -> SplitResult:
    """Read, split, judge and write `cfg.input` into `cfg.out`. Nothing is written when anything fails."""
    src, out = Path(cfg.input), Path(cfg.out)
    if src.exists() and (out.resolve() == src.resolve() or out.resolve() in src.resolve().parents):
        raise DataError(f"--out {out} would overwrite the input {src}; write the new splits to another folder")
    check_out(out, cfg.overwrite)
    result = split_records(read_input(src), cfg, on_phase)
    report = result.report
    if report.leakage.total:
        raise RuntimeError(f"{report.leakage.total} cross-split leaks after assignment: a bug in split")
    if result.problems and (not cfg.allow_small or not report.counts.train):
        raise _refused(cfg, result)
    report.warnings += [f"{p} (written anyway: --allow-small)" for p in result.problems]
    with staged_folder(out, cfg.overwrite) as stage:
        written = write_split(result, stage)
    return SplitResult(out, {name: out / path.name for name, path in written.items()}, report)
