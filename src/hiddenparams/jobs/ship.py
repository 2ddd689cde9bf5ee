"""How the code reaches a Hugging Face job: a wheel of this checkout, committed with the job's data.

At submit, `hiddenparams` is built into a wheel from the submitting checkout (its version carries the git commit,
`0.1.0+<sha>`, so the job's `code_version()` reports it). The wheel, the job script and the job's data files go to
a private dataset repo in ONE commit; the job then runs

    uv run --with <wheel URL at that commit> <script URL at that commit> ARGS

which is `huggingface_hub.run_uv_job(script=<script URL>, dependencies=[<wheel URL>])`. uv sends the job's HF_TOKEN
secret with its requests to huggingface.co, so the private repo needs nothing more. The script stays a plain PEP 723
file: its header pins the job's dependencies (from constraints/job.txt) and takes torch from an explicit PyTorch
index, which `job_script` sets to the build for the job's flavor (`torch_builds`) when it is shipped.

The wheel declares no dependencies, on purpose: uv resolves a `--with` requirement in an environment of its own,
placed before the script's on sys.path, and ignores the script's pins and index there. A `--with` wheel requiring
`torch>=2.13` would install the newest torch from PyPI (a CUDA 13 build) over the pinned one (seen with uv 0.13.9).
So the wheel carries the code, and the script's header is the job's one dependency set.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_url
from huggingface_hub.errors import RepositoryNotFoundError

from ..provenance import code_version
from .base import JobError
from .torch_builds import INDEX_URL, NoTorchBuild, build_for_flavor, check_build, index_url

PACKAGE = "hiddenparams"
CODE_DIR = "code"  # where the wheel and the job script land in the dataset repo
# The reference regex of PEP 723 (https://peps.python.org/pep-0723/#reference-implementation).
_PEP723 = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
_DEPENDENCIES = re.compile(r"(?ms)^dependencies = \[.*?^\]")
# The torch index line of a job header; `job_script` points it at the flavor's build.
_TORCH_INDEX_URL = re.compile(r'(?m)^# url = "https://download\.pytorch\.org/whl/[a-z0-9]+"$')
# Built wheels, one folder per content hash: a second submit of the same code reuses its wheel. The tests point this
# at a folder of their own run.
WHEEL_CACHE = Path(tempfile.gettempdir()) / f"{PACKAGE}-wheels"


def script_metadata(path: Path, text: str | None = None) -> dict:
    """The parsed `# /// script` block of a job script (of `text` when given, else of the file): its `dependencies`,
    `requires-python` and `tool.uv`."""
    text = path.read_text(encoding="utf-8") if text is None else text
    blocks = [m for m in _PEP723.finditer(text) if m.group("type") == "script"]
    if len(blocks) != 1:
        raise JobError(f"{path}: needs exactly one `# /// script` (PEP 723) header listing its dependencies")
    lines = blocks[0].group("content").splitlines(keepends=True)
    try:
        return tomllib.loads("".join(line[2:] if line.startswith("# ") else line[1:] for line in lines))
    except tomllib.TOMLDecodeError as exc:
        raise JobError(f"{path}: the PEP 723 header is not valid TOML: {exc}") from None


def entry_file(entry: str) -> Path:
    """The file a job runs: a module of this package (`hiddenparams.jobs.train_job`) or a `.py` script."""
    if entry.endswith(".py"):
        if not Path(entry).is_file():
            raise JobError(f"{entry}: no such script")
        return Path(entry)
    try:
        spec = importlib.util.find_spec(entry) if entry.split(".")[0] == PACKAGE else None
    except ModuleNotFoundError:
        spec = None
    if spec is None or spec.origin is None:
        raise JobError(f"{entry}: not a module of the {PACKAGE} package")
    return Path(spec.origin)


def torch_pin(metadata: dict, where: Path) -> str:
    """The exact torch version a job header pins."""
    for line in metadata.get("dependencies", []):
        name, _, version = line.partition("==")
        if name.strip() == "torch" and version:
            return version.strip()
    raise JobError(f"{where}: the PEP 723 header must pin torch exactly (torch==X.Y.Z)")


def job_script(entry: str, flavor: str) -> tuple[str, str]:
    """The job script as a job on `flavor` runs it, and the torch build it installs: the header's PyTorch index set
    to the build `torch_builds` chooses for the flavor from the builds PyTorch publishes of the pinned torch. The
    header's own index (what `uv run` of the file by hand installs) must name a build that exists too."""
    path = entry_file(entry)
    text = path.read_text(encoding="utf-8")
    metadata = script_metadata(path, text)
    torch_version = torch_pin(metadata, path)
    try:
        for index in metadata.get("tool", {}).get("uv", {}).get("index", []):
            if index.get("url", "").startswith(INDEX_URL.format(build="")):
                check_build(torch_version, index["url"].removeprefix(INDEX_URL.format(build="")))
        build = build_for_flavor(torch_version, flavor)
    except NoTorchBuild as exc:
        raise JobError(f"{path.name} on {flavor}: {exc}") from None
    text, count = _TORCH_INDEX_URL.subn(f'# url = "{index_url(build)}"', text)
    if count != 1:
        raise JobError(f"{path}: the PEP 723 header must name exactly one download.pytorch.org index for torch")
    return text, build


def checkout() -> Path:
    """The root of the checkout this package runs from: hf-jobs ships that checkout's code."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").is_file() or not (root / "src" / PACKAGE).is_dir():
        raise JobError(f"hf-jobs builds the job's code from a checkout of {PACKAGE}; none at {root}")
    return root


def git_commit(root: Path) -> dict[str, str | bool | None]:
    """The commit of the checkout, and whether the files the wheel is built from differ from it (then the wheel
    holds those changes)."""

    def git(*args: str) -> str | None:
        try:
            run = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return run.stdout.strip() if run.returncode == 0 else None

    status = git("status", "--porcelain", "--", f"src/{PACKAGE}", "pyproject.toml")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def wheel_name(version: str) -> str:
    return f"{PACKAGE}-{version}-py3-none-any.whl"


def build_wheel() -> Path:
    """The wheel of this checkout, built once per content (cached under WHEEL_CACHE, keyed by a hash of the sources).
    Built with pip from a copy whose pyproject has no dependencies (see the module docstring), with the setuptools of
    this environment when it has one; without it pip's build isolation downloads setuptools from the package index."""
    root, version = checkout(), code_version()
    sources = sorted(p for p in (root / "src" / PACKAGE).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    digest = hashlib.sha256(version.encode())
    for path in [root / "pyproject.toml", *sources]:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    out = WHEEL_CACHE / digest.hexdigest()[:16]
    wheel = out / wheel_name(version)
    if wheel.is_file():
        return wheel
    if importlib.util.find_spec("pip") is None:
        raise JobError(f"building the job's wheel needs pip in this environment ({sys.executable} -m ensurepip)")
    isolated = importlib.util.find_spec("setuptools") is None
    isolation = [] if isolated else ["--no-build-isolation"]
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    # Built beside the cache and moved in whole: a concurrent submit or a build cut short never leaves half a wheel.
    with tempfile.TemporaryDirectory() as stage, tempfile.TemporaryDirectory(dir=WHEEL_CACHE) as built:
        skip = shutil.ignore_patterns("__pycache__")
        shutil.copytree(root / "src" / PACKAGE, Path(stage, "src", PACKAGE), ignore=skip)
        shutil.copy(root / "README.md", stage)
        pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
        pyproject = re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject)
        Path(stage, "pyproject.toml").write_text(_DEPENDENCIES.sub("dependencies = []", pyproject), encoding="utf-8")
        command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, stage, "-w", built]
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        if run.returncode != 0 or not Path(built, wheel.name).is_file():
            hint = (
                "; this environment has no setuptools, so pip tried to download it (build isolation): install it"
                f" ({sys.executable} -m pip install 'setuptools>=77') and the wheel builds offline"
                if isolated
                else ""
            )
            raise JobError(f"building the wheel of {root} failed: {run.stderr.strip()[-2000:]}{hint}")
        out.mkdir(exist_ok=True)
        os.replace(Path(built, wheel.name), wheel)
    return wheel


def resolve_url(repo_id: str, path: str, revision: str) -> str:
    """A file of a dataset repo at one commit, as the job downloads it (HF_ENDPOINT honoured)."""
    return hf_hub_url(repo_id, path, repo_type="dataset", revision=revision)


@dataclass
class Shipment:
    """What one submit committed: the repo, the commit, and the URLs the job's command reads."""

    repo: str
    revision: str
    wheel_url: str
    script_url: str
    files: list[str]  # every path of the commit
    wheel: str  # the wheel's file name


def planned(repo_id: str, entry: str, data: dict[str, str], revision: str, wheel: str) -> Shipment:
    """The shipment of `entry` and `data` as the commit `revision` of `repo_id` holds it (the dry run's too)."""
    code = [f"{CODE_DIR}/{wheel}", f"{CODE_DIR}/{entry_file(entry).name}"]
    return Shipment(
        repo=repo_id,
        revision=revision,
        wheel_url=resolve_url(repo_id, code[0], revision),
        script_url=resolve_url(repo_id, code[1], revision),
        files=sorted([*code, *data]),
        wheel=wheel,
    )


def ship(api: HfApi, repo_id: str, entry: str, flavor: str, data: dict[str, str], message: str) -> Shipment:
    """Commit the wheel, the job script (its torch index set for `flavor`) and the data files (path in the repo ->
    local file) to a private dataset repo, created if missing, in one commit. A public repo is refused: the data and
    code are private."""
    try:
        if not api.repo_info(repo_id, repo_type="dataset").private:
            raise JobError(
                f"the dataset repo {repo_id} is public: refusing to upload the job's data and code to it"
                " (make it private on the Hub, or pick another repo)"
            )
    except RepositoryNotFoundError:
        api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=True)
    script, _ = job_script(entry, flavor)
    wheel = build_wheel()
    files = {f"{CODE_DIR}/{wheel.name}": wheel, **data}
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in files.items()]
    operations.append(
        CommitOperationAdd(path_in_repo=f"{CODE_DIR}/{entry_file(entry).name}", path_or_fileobj=script.encode())
    )
    commit = api.create_commit(repo_id, operations, commit_message=message, repo_type="dataset")
    return planned(repo_id, entry, data, commit.oid, wheel.name)
