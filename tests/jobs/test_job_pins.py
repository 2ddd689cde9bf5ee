"""One source of pins: constraints/job.txt. Every job script's PEP 723 header pins exactly those versions and takes
torch from a PyTorch index that has a build of the pinned release (hiddenparams/jobs/torch_builds.py); the script a job
runs names the build for its flavor; setup installs the project under the same file."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import JobHardware
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hiddenparams.jobs.base import JobError
from hiddenparams.jobs.ship import job_script, script_metadata
from hiddenparams.jobs.torch_builds import (
    NoTorchBuild,
    build_for_flavor,
    builds,
    check_build,
    driver_needed,
    index_url,
)

ROOT = Path(__file__).resolve().parents[2]
JOB_SCRIPTS = sorted((ROOT / "src" / "hiddenparams" / "jobs").glob("*_job.py"))
INDEX_PREFIX = "https://download.pytorch.org/whl/"


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints" / "job.txt").read_text().splitlines():
        if line.split("#")[0].strip():
            requirement = Requirement(line.split("#")[0])
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"constraints/job.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def torch_index(metadata: dict) -> str:
    """The build name of the one explicit PyTorch index a header takes torch from."""
    uv = metadata["tool"]["uv"]
    (index,) = uv["index"]
    assert index["explicit"] is True and index["url"].startswith(INDEX_PREFIX)
    assert uv["sources"] == {"torch": {"index": index["name"]}}
    return index["url"].removeprefix(INDEX_PREFIX)


def test_the_job_scripts_are_found():
    assert {p.name for p in JOB_SCRIPTS} >= {"train_job.py", "eval_job.py", "merge_job.py"}


@pytest.mark.parametrize("script", JOB_SCRIPTS, ids=lambda p: p.name)
def test_every_job_header_pins_the_versions_of_constraints(script):
    pins, metadata = constraints(), script_metadata(script)
    for line in metadata["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{script.name}: {line!r} is not in constraints/job.txt: add its tested version there"
        expected = f"{requirement.name}=={pins[name]}"
        assert str(requirement) == expected, f"{script.name}: {line!r} disagrees with constraints/job.txt ({expected})"
    check_build(pins["torch"], torch_index(metadata))  # the header as committed (`uv run` by hand) installs too


@pytest.mark.parametrize("flavor", [hardware.value for hardware in JobHardware])
@pytest.mark.parametrize("script", JOB_SCRIPTS, ids=lambda p: p.name)
def test_the_script_a_job_runs_names_a_build_that_exists_for_its_flavor(script, flavor):
    text, build = job_script(f"hiddenparams.jobs.{script.stem}", flavor)
    metadata = script_metadata(script, text)
    assert torch_index(metadata) == build
    check_build(constraints()["torch"], build)
    # Only the index line differs from the committed script.
    changed = [(a, b) for a, b in zip(script.read_text().splitlines(), text.splitlines(), strict=True) if a != b]
    assert all(a.startswith("# url = ") for a, _ in changed)


@pytest.mark.parametrize(
    ("flavor", "build"),
    [
        ("a100-large", "cu126"),
        ("h200x8", "cu126"),
        ("t4-small", "cu126"),
        ("l40sx1", "cu126"),
        ("a10g-small", "cu126"),
        ("rtx-pro-6000", "cu130"),  # Blackwell needs CUDA >= 12.8: the release's first cu13x build
        ("rtx-pro-6000x4", "cu130"),
        ("cpu-basic", "cpu"),
        ("cpu-upgrade", "cpu"),
    ],
)
def test_the_build_per_flavor_for_torch_2_13(flavor, build):
    assert build_for_flavor("2.13.0", flavor) == build


def test_the_table_follows_pytorchs_release_matrix():
    assert builds("2.11.0")[:-1] == ("cu126", "cu128", "cu130")
    assert builds("2.12.1") == builds("2.13.0") == builds("2.14.0") == ("cu126", "cu130", "cu132", "cpu")
    assert builds("2.15.0")[:-1] == ("cu130", "cu132")
    # cu126 was dropped at 2.15: every GPU flavor then takes cu130, which needs driver 580.
    assert build_for_flavor("2.15.0", "a100-large") == "cu130" and driver_needed("cu130") == (580, 0)
    assert build_for_flavor("2.11.0", "rtx-pro-6000") == "cu128" and driver_needed("cu128") == (525, 60)
    assert driver_needed("cpu") is None and index_url("cu126") == INDEX_PREFIX + "cu126"


@pytest.mark.parametrize(("torch", "build"), [("2.13.0", "cu128"), ("2.12.0", "cu124"), ("2.15.0", "cu126")])
def test_a_torch_index_pair_the_table_does_not_list_is_refused(torch, build):
    with pytest.raises(NoTorchBuild, match=f"no {build} build of torch {torch[:4]}"):
        check_build(torch, build)


def test_a_release_the_table_does_not_know_is_refused_with_what_to_do():
    with pytest.raises(NoTorchBuild, match="no CUDA builds known for release 2.16.*RELEASE.md"):
        build_for_flavor("2.16.0", "a100-large")


def test_a_header_pinning_an_unknown_torch_is_refused_when_shipped(tmp_path):
    script = JOB_SCRIPTS[0].read_text().replace("torch==2.13.0", "torch==2.9.0")
    (tmp_path / "job.py").write_text(script)
    with pytest.raises(JobError, match="job.py on a100-large: .*release 2.9"):
        job_script(str(tmp_path / "job.py"), "a100-large")


def test_the_test_suite_runs_the_pinned_versions():
    from importlib.metadata import version

    for name, pinned in constraints().items():
        installed = version(name).split("+")[0]  # torch 2.13.0+cpu here is torch 2.13.0
        assert installed == pinned, f"{name}: the tests run {installed}, constraints/job.txt pins {pinned}"


def test_setup_installs_under_the_same_constraints():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "PINS=constraints/job.txt" in setup and setup.count('-c "$PINS"') == 3


def test_a_header_naming_a_build_that_does_not_exist_is_refused_before_it_ships(tmp_path):
    script = JOB_SCRIPTS[0].read_text().replace("whl/cu126", "whl/cu128")  # no cu128 build of torch 2.13
    (tmp_path / "job.py").write_text(script)
    with pytest.raises(JobError, match="job.py on a100-large: PyTorch publishes no cu128 build of torch 2.13"):
        job_script(str(tmp_path / "job.py"), "a100-large")
