"""The split report, typed: `SplitReport.to_json()` is split_report.json (and the `report` that `split --json`
prints); `markdown()` is split_report.md, the same report as a page a person reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .records import SourceStats
from .rows import SPLITS
from ..schema import KEYS, VALUES
from .split_checks import Divergence, Leakage



@dataclass
class Counts:
    """Every input record is in exactly one of train/validation/test/rejected; blank lines are not records."""

    input_records: int
    train: int
    validation: int
    test: int
    rejected: int
    blank_lines: int
    coerced_integral_floats: int  # labels written as integral floats (4.0), read as integers

    def of(self, name: str) -> int:
        """One count by its name: a split, `rejected`, `input_records`..."""
        return int(getattr(self, name))

    @property
    def kept(self) -> int:
        return sum(self.of(name) for name in SPLITS)


@dataclass
class Duplicates:
    policy: str
    duplicate: int
    conflict: int
    conflict_groups: int
    conflict_examples: list[dict[str, Any]]


@dataclass
class NearDuplicates:
    threshold: float
    flagged_by_lsh: int
    candidate_pairs: int
    confirmed_pairs: int
    groups: int
    rows_in_groups: int
    largest_group: int
    largest_group_examples: list[str]
    warning_limit_rows: float
    warnings: list[str]


@dataclass
class SplitReport:
    params: Any  # the split's config dataclass (split.SplitConfig): the report does not depend on the splitter
    inputs: list[SourceStats]
    counts: Counts
    rejected_by_reason: dict[str, int]
    duplicates: Duplicates
    near_duplicates: NearDuplicates
    stratification: str
    histograms: dict[str, dict[str, list[int]]]
    divergence: Divergence
    leakage: Leakage
    origin: dict[str, dict[str, int]]  # input file -> rows it gave each split
    warnings: list[str]
    timings_s: dict[str, float]
    provenance: dict[str, Any]  # `provenance.provenance(cfg, inputs)`

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "divergence": self.divergence.to_json(), "leakage": self.leakage.to_json()}

    def markdown(self) -> str:
        c, div, nd, leak = self.counts, self.divergence, self.near_duplicates, self.leakage
        lines = ["# Split report", ""]
        lines += _table(["", "rows"], [[k, c.of(k)] for k in ("input_records", *SPLITS, "rejected", "blank_lines")])
        lines += [
            "",
            f"Every input record is in exactly one of train/validation/test/rejected ({c.input_records} in all).",
        ]
        if c.coerced_integral_floats:
            lines += [
                "",
                f"{c.coerced_integral_floats} records had labels written as integral floats (4.0, as pandas writes a "
                "float column): read as integers.",
            ]
        lines += ["", "## Rejected by reason", ""]
        by_reason = sorted(self.rejected_by_reason.items())
        lines += _table(["reason", "rows"], by_reason) if by_reason else ["None."]
        d = self.duplicates
        lines += [
            "",
            f"Duplicates: {d.duplicate}; conflicts: {d.conflict} in {d.conflict_groups} groups. Policy: {d.policy}.",
        ]
        lines += ["", "## Leakage across splits", ""]
        lines += [f"{leak.total} (exact {leak.exact}, near {leak.near}); must be 0."]
        lines += ["", "## Near-duplicate groups", ""]
        if nd.groups:
            lines += [
                f"{nd.groups} groups holding {nd.rows_in_groups} rows (MinHash Jaccard >= {nd.threshold}); "
                f"largest: {nd.largest_group} rows, e.g. "
                + "; ".join(repr(t[:60]) for t in nd.largest_group_examples)
                + "."
            ]
        else:
            lines += ["None."]
        lines += ["", "## Label distribution", ""]
        if div.max_tvd is not None and div.splits:
            lines += [
                f"Largest divergence: total-variation distance {div.max_tvd} on `{div.key}` between "
                f"{div.splits[0]} and {div.splits[1]}.",
                "",
            ]
        hists = self.histograms
        for key in KEYS:
            lines += [f"### {key}", ""]
            totals = {s: max(1, sum(hists[s][key])) for s in SPLITS}
            lines += _table(
                ["value", *SPLITS],
                [[v, *(f"{100 * hists[s][key][k] / totals[s]:.1f}%" for s in SPLITS)] for k, v in enumerate(VALUES)],
            )
            lines.append("")
        lines += ["## Warnings", ""] + ([f"- {w}" for w in self.warnings] or ["None."])
        lines += ["", "## Parameters", "", "```json", json.dumps(asdict(self.params), indent=2), "```", ""]
        prov = self.provenance
        lines += ["## Provenance", ""]
        lines += [f"config hash `{prov['config_hash']}`, code version `{prov['code_version']}`", ""]
        lines += _table(["input", "sha256"], sorted(prov["data_sha256"].items())) + [""]
        return "\n".join(lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(map(str, row)) + " |" for row in rows
    ]
