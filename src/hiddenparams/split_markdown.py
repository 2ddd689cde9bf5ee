"""split_report.md: the split report as a page a person reads (the JSON report is the machine's copy)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .rows import SPLITS
from .schema import KEYS, VALUES


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(map(str, row)) + " |" for row in rows
    ]


def split_markdown(report: dict[str, Any]) -> str:
    c = report["counts"]
    div = report["divergence"]
    nd = report["near_duplicates"]
    leak = report["leakage"]
    lines = ["# Split report", ""]
    lines += _table(["", "rows"], [[k, c[k]] for k in ("input_records", *SPLITS, "rejected", "blank_lines")])
    lines += [
        "",
        f"Every input record is in exactly one of train/validation/test/rejected ({c['input_records']} in all).",
    ]
    if c.get("coerced_integral_floats"):
        lines += [
            "",
            f"{c['coerced_integral_floats']} records had labels written as integral floats (4.0, as pandas writes a "
            "float column): read as integers.",
        ]
    lines += ["", "## Rejected by reason", ""]
    lines += (
        _table(["reason", "rows"], sorted(report["rejected_by_reason"].items()))
        if report["rejected_by_reason"]
        else ["None."]
    )
    d = report["duplicates"]
    lines += [
        "",
        f"Duplicates: {d['duplicate']}; conflicts: {d['conflict']} in {d['conflict_groups']} groups. "
        f"Policy: {d['policy']}.",
    ]
    lines += [
        "",
        "## Leakage across splits",
        "",
        f"{leak['total']} (exact {leak['exact']}, near {leak['near']}); must be 0.",
    ]
    lines += ["", "## Near-duplicate groups", ""]
    if nd.get("groups"):
        lines += [
            f"{nd['groups']} groups holding {nd['rows_in_groups']} rows (MinHash Jaccard >= {nd['threshold']}); "
            f"largest: {nd['largest_group']} rows, e.g. "
            + "; ".join(repr(t[:60]) for t in nd["largest_group_examples"])
            + "."
        ]
    else:
        lines += ["None."]
    lines += ["", "## Label distribution", ""]
    if div["max_tvd"] is not None:
        lines += [
            f"Largest divergence: total-variation distance {div['max_tvd']} on `{div['key']}` between "
            f"{div['splits'][0]} and {div['splits'][1]}.",
            "",
        ]
    hists = report["histograms"]
    for key in KEYS:
        lines += [f"### {key}", ""]
        totals = {s: max(1, sum(hists[s][key])) for s in SPLITS}
        lines += _table(
            ["value", *SPLITS],
            [[v, *(f"{100 * hists[s][key][k] / totals[s]:.1f}%" for s in SPLITS)] for k, v in enumerate(VALUES)],
        )
        lines.append("")
    lines += ["## Warnings", ""] + ([f"- {w}" for w in report["warnings"]] or ["None."])
    lines += ["", "## Parameters", "", "```json", json.dumps(report["params"], indent=2), "```", ""]
    prov = report["provenance"]
    lines += ["## Provenance", "", f"config hash `{prov['config_hash']}`, code version `{prov['code_version']}`", ""]
    lines += _table(["input", "sha256"], sorted(prov["data_sha256"].items())) + [""]
    return "\n".join(lines)

