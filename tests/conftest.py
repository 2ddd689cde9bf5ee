"""Shared fixtures: a tiny Ministral-3-architecture model and a LoRA adapter on it, built once per session in a
few seconds, so tests run the real model code without a trained model (and never a mock of the model)."""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants
from hypothesis import settings

# The mocked Hub and a 3B run config on it, shared with test_eval_job.py and test_jobs_service.py.
from test_jobs_hf import TOKEN, config_3b, data_dir, hub  # noqa: F401

from hiddenparams.data.rows import Row
from hiddenparams.data.sample import generate_rows
from hiddenparams.jobs import ship
from hiddenparams.model.tiny import TinySpec, make_tiny_model

# The tiny model's matrices are too small to split across threads: on this shared 2-core machine a second intra-op
# thread made one forward pass 60x slower (1.8 ms -> 110 ms) while other processes held the cores.
torch.set_num_threads(1)

# Weights drawn wider than the 0.02 init: an init-scale random model repeats one token for every input, which
# would hide padding and cache bugs; at this scale greedy outputs depend on the input and some stop at EOS early.
RANDOM_WEIGHT_STD = 0.2

# Property tests: no per-example deadline (timings on a machine shared with other processes say nothing about the
# code), and the same examples on every run, so a failure is seen again by whoever reruns it.
settings.register_profile("hiddenparams", deadline=None, derandomize=True)
settings.load_profile("hiddenparams")


class NetworkRefused(RuntimeError):
    """A test tried to reach a host other than this machine."""


def _is_loopback(host: object) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:  # a host name: only `localhost` is known not to leave the machine without resolving it
        return False


@pytest.fixture(autouse=True)
def offline(monkeypatch, wheel_cache):
    """Every test runs offline, whatever the caller's environment: the Hub in offline mode (huggingface_hub and
    datasets read HF_HUB_OFFLINE once, at import: their constants are set too; subprocesses get the variable), pip
    without an index, and a socket guard that lets only loopback and Unix sockets connect. A test that needs the
    Hub uses the `hub` fixture: it turns offline mode off against a mock transport, where no socket is opened."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    if "datasets.config" in sys.modules:  # imported later, it takes the patched huggingface_hub constant
        monkeypatch.setattr(sys.modules["datasets.config"], "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(ship, "WHEEL_CACHE", wheel_cache)
    refused: list[str] = []

    def refuse(what: str) -> None:
        refused.append(what)
        raise NetworkRefused(
            f"{what}: tests run offline; fake the Hub at its HTTP transport (the `hub` fixture, tests/jobs/test_jobs_hf.py)"
            " or serve files on 127.0.0.1"
        )

    def guarded(connect):
        def guard(sock, address, *args):
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
                refuse(f"connect to {address[0]}:{address[1]}")
            return connect(sock, address, *args)

        return guard

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            refuse(f"name lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(socket.socket.connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield refused
    # A library may catch the error and carry on (a retry, a fallback to the cache): the attempt still fails the test.
    assert not refused, f"the test tried to go online: {refused}"


@pytest.fixture(scope="session")
def wheel_cache(tmp_path_factory) -> Path:
    """The job wheels of this test run: built once per run (3-4 s each), never reused from an earlier run's folder."""
    return tmp_path_factory.mktemp("wheels")


@dataclass(frozen=True)
class SecretToken:
    value: str

    def assert_absent(self, *places: Path | str) -> None:
        """The token in none of `places`: every file under a folder (read as bytes), or a console output (also with
        its whitespace removed: rich wraps long lines)."""
        needle = self.value.encode()
        for place in places:
            if isinstance(place, Path):
                files = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()]
                assert files, f"{place}: no file to search"
                leaks = [str(path) for path in files if needle in path.read_bytes()]
                assert not leaks, f"the token is written in {leaks}"
            else:
                assert self.value not in "".join(place.split()), "the token is in the console output"


@pytest.fixture
def hf_token(monkeypatch) -> SecretToken:
    """A token-shaped HF_TOKEN for the whole test, as for a user who runs every command logged in: an end-to-end test
    runs with it and then checks, with `assert_absent`, that no file it wrote and none of its output holds it."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return SecretToken(TOKEN)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from hiddenparams.model.load import load_model

    path = tmp_path_factory.mktemp("tiny-ministral3")
    make_tiny_model(path, TinySpec(pretrain_steps=0, corpus_size=2000))
    model, _ = load_model(str(path))
    torch.manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                torch.nn.init.normal_(param, std=RANDOM_WEIGHT_STD)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_adapter_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter with random A and B (a zero-initialised B would change nothing), saved with the tokenizer,
    recording `tiny_model_dir` as its base, as the training job saves one."""
    from peft import LoraConfig, get_peft_model

    from hiddenparams.model.load import load_model, load_tokenizer, lora_targets

    path = tmp_path_factory.mktemp("tiny-adapter")
    model, _ = load_model(str(tiny_model_dir))
    torch.manual_seed(1)
    config = LoraConfig(target_modules=lora_targets(model.config), init_lora_weights=False, r=4, task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(path)
    load_tokenizer(str(tiny_model_dir)).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def eval_data_dir(tmp_path_factory) -> Path:
    """test.jsonl (12 rows) and train.jsonl (48 rows) of generated canonical rows."""
    path = tmp_path_factory.mktemp("eval-data")
    rows = generate_rows(60, seed=11)
    for name, part in (("test", rows[:12]), ("train", rows[12:])):
        (path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def eval_rows(eval_data_dir) -> list[Row]:
    from hiddenparams.data.rows import read_rows

    return read_rows(eval_data_dir / "test.jsonl")


@pytest.fixture(scope="session")
def full_model(tiny_model_dir):
    """(model, tokenizer, description) of the tiny model in full-model mode, loaded once."""
    from hiddenparams.model.load import load_for_inference

    return load_for_inference(model_id=str(tiny_model_dir))


@pytest.fixture(scope="session")
def adapted_model(tiny_model_dir, tiny_adapter_dir):
    """(model, tokenizer, description) of the tiny base + adapter, loaded once."""
    from hiddenparams.model.load import load_for_inference

    return load_for_inference(base_model_id=str(tiny_model_dir), adapter_id=str(tiny_adapter_dir))


@pytest.fixture
def said():
    """A CliRunner result's stderr with rich's line wrapping undone, for phrase assertions; a user-facing error the
    command raised counts as said (the CLI's one handler prints it)."""
    from hiddenparams.errors import HiddenParamsError

    def said(result) -> str:
        raised = str(result.exception) if isinstance(result.exception, HiddenParamsError) else ""
        return " ".join((result.stderr + " " + raised).split())

    return said
