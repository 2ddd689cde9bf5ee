"""Which PyTorch build a job installs: one table of the CUDA builds PyTorch publishes per release, and the choice of
one of them per Hugging Face Jobs flavor.

A job names its torch index in its PEP 723 header; an index that has no build of the pinned torch stops the job at
install, after the upload and the image start were paid for. So the index is chosen from this table, and the tests
fail for a header whose torch/index pair the table does not list.

Source of the table: PyTorch's RELEASE.md support matrix and the release RFCs of 2.11-2.15 (cu128 was dropped at
2.12, cu126 at 2.15). CUDA 12.x builds run on NVIDIA drivers >= 525.60 (CUDA minor-version compatibility); CUDA 13.x
builds need a driver >= 580 (NVIDIA's CUDA compatibility tables).
"""

from __future__ import annotations

import re

# release -> CUDA builds on download.pytorch.org/whl/<build>. Every release also has a CPU build ("cpu").
CUDA_BUILDS: dict[str, tuple[str, ...]] = {
    "2.11": ("cu126", "cu128", "cu130"),
    "2.12": ("cu126", "cu130", "cu132"),
    "2.13": ("cu126", "cu130", "cu132"),
    "2.14": ("cu126", "cu130", "cu132"),
    "2.15": ("cu130", "cu132"),
}
CPU_BUILD = "cpu"
# The oldest NVIDIA driver each CUDA major version runs on.
MIN_DRIVER: dict[str, tuple[int, int]] = {"12": (525, 60), "13": (580, 0)}
# GPUs that need a newer CUDA than the oldest build: Blackwell (RTX PRO 6000, sm_120) needs CUDA >= 12.8. Every
# other Jobs GPU (T4, A10G, L4, L40S, A100, H100, H200: Turing to Hopper) runs the oldest build a release has.
FLAVOR_MIN_CUDA: dict[str, tuple[int, int]] = {"rtx-pro-6000": (12, 8)}
INDEX_URL = "https://download.pytorch.org/whl/{build}"
_BUILD = re.compile(r"^cu(\d+)(\d)$")  # cu126 -> CUDA 12.6, cu130 -> 13.0


class NoTorchBuild(ValueError):
    """The table has no build of this torch release for what was asked."""


def release(torch_version: str) -> str:
    """`2.13.0` (or `2.13.0+cpu`) -> `2.13`."""
    return ".".join(torch_version.split("+")[0].split(".")[:2])


def build_cuda(build: str) -> tuple[int, int]:
    """`cu126` -> (12, 6)."""
    match = _BUILD.match(build)
    if not match:
        raise NoTorchBuild(f"{build!r} is not a CUDA build name (cuXYZ)")
    return int(match.group(1)), int(match.group(2))


def builds(torch_version: str) -> tuple[str, ...]:
    """Every build PyTorch publishes of this release, CUDA ones first, oldest CUDA first."""
    cuda = CUDA_BUILDS.get(release(torch_version))
    if cuda is None:
        raise NoTorchBuild(
            f"torch {torch_version}: no CUDA builds known for release {release(torch_version)}"
            f" (known: {', '.join(CUDA_BUILDS)}); add it to hiddenparams/jobs/torch_builds.py from PyTorch's RELEASE.md"
        )
    return (*cuda, CPU_BUILD)


def check_build(torch_version: str, build: str) -> None:
    """Raise NoTorchBuild when PyTorch publishes no `build` of this torch release."""
    if build not in builds(torch_version):
        raise NoTorchBuild(
            f"PyTorch publishes no {build} build of torch {release(torch_version)} (it has"
            f" {', '.join(builds(torch_version))}): the job would stop at install"
        )


def is_gpu_flavor(flavor: str | None) -> bool:
    """A Jobs flavor with GPUs: any but `cpu-*` (None: a local job, no flavor)."""
    return bool(flavor) and not flavor.startswith("cpu")


def build_for_flavor(torch_version: str, flavor: str) -> str:
    """The build a job on `flavor` installs: the CPU build on CPU flavors (no CUDA libraries to download), else the
    oldest CUDA build the flavor's GPU runs, since the oldest CUDA runs on the widest range of drivers."""
    if not is_gpu_flavor(flavor):
        return CPU_BUILD
    need = next((cuda for prefix, cuda in FLAVOR_MIN_CUDA.items() if flavor.startswith(prefix)), (0, 0))
    for build in builds(torch_version)[:-1]:
        if build_cuda(build) >= need:
            return build
    raise NoTorchBuild(
        f"flavor {flavor} needs CUDA >= {need[0]}.{need[1]}, and torch {torch_version} has no such build"
    )


def driver_needed(build: str) -> tuple[int, int] | None:
    """The oldest NVIDIA driver a build runs on; None for the CPU build."""
    return None if build == CPU_BUILD else MIN_DRIVER[str(build_cuda(build)[0])]


def index_url(build: str) -> str:
    return INDEX_URL.format(build=build)
