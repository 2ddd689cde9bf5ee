"""One source of pins: constraints/job.txt. Every job script's PEP 723 header pins exactly those versions, takes torch
from the CUDA 12.8 index, and setup installs the project under the same file."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hiddenparams.jobs.ship import script_metadata

ROOT = Path(__file__).resolve().parents[1]
JOB_SCRIPTS = sorted((ROOT / "src" / "hiddenparams").glob("*_job.py"))


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints" / "job.txt").read_text().splitlines():
        if line.split("#")[0].strip():
            requirement = Requirement(line.split("#")[0])
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"constraints/job.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def test_the_job_scripts_are_found():
    assert {p.name for p in JOB_SCRIPTS} >= {"train_job.py", "eval_job.py"}


@pytest.mark.parametrize("script", JOB_SCRIPTS, ids=lambda p: p.name)
def test_every_job_header_pins_the_versions_of_constraints(script):
    pins, metadata = constraints(), script_metadata(script)
    for line in metadata["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{script.name}: {line!r} is not in constraints/job.txt: add its tested version there"
        expected = f"{requirement.name}=={pins[name]}"
        assert str(requirement) == expected, f"{script.name}: {line!r} disagrees with constraints/job.txt ({expected})"
    uv = metadata["tool"]["uv"]
    (index,) = uv["index"]
    assert (index["url"], index["explicit"]) == ("https://download.pytorch.org/whl/cu128", True)
    assert uv["sources"] == {"torch": {"index": index["name"]}}


def test_the_test_suite_runs_the_pinned_versions():
    from importlib.metadata import version

    for name, pinned in constraints().items():
        installed = version(name).split("+")[0]  # torch 2.13.0+cpu here is torch 2.13.0
        assert installed == pinned, f"{name}: the tests run {installed}, constraints/job.txt pins {pinned}"


def test_setup_installs_under_the_same_constraints():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "PINS=constraints/job.txt" in setup and setup.count('-c "$PINS"') == 3
