"""The suite runs offline whatever the caller's environment (conftest's `offline` fixture), and what a submit builds
locally, the job's wheel, needs no network either."""

from __future__ import annotations

import importlib.util
import socket
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from urllib.request import urlopen

import pytest
from conftest import NetworkRefused
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import OfflineModeIsEnabled

from hiddenparams.jobs import JobError, ship


def test_the_hub_is_offline_and_only_loopback_sockets_connect(offline):
    assert constants.HF_HUB_OFFLINE and constants.is_offline_mode()
    with pytest.raises(OfflineModeIsEnabled):
        HfApi().model_info("mistralai/Ministral-3-3B-Instruct-2512")
    with pytest.raises(NetworkRefused, match="name lookup of huggingface.co: tests run offline"):
        socket.create_connection(("huggingface.co", 443), timeout=1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # an address needs no lookup: connect is guarded
        with pytest.raises(NetworkRefused, match="connect to 8.8.8.8:443: tests run offline"):
            sock.connect(("8.8.8.8", 443))
        with pytest.raises(NetworkRefused, match="connect to 1.1.1.1:443"):
            sock.connect_ex(("1.1.1.1", 443))
    assert len(offline) == 3
    offline.clear()  # the attempts above were this test's point; any other fails the test at teardown

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert urlopen(f"http://127.0.0.1:{server.server_port}/", timeout=10).read() == b"hello"
        assert urlopen(f"http://localhost:{server.server_port}/", timeout=10).read() == b"hello"
    finally:
        server.shutdown()
    left, right = socket.socketpair(socket.AF_UNIX)
    left.sendall(b"x")
    assert right.recv(1) == b"x"


def test_the_wheel_builds_offline_with_the_environments_setuptools(wheel_cache):
    wheel = ship.build_wheel()  # PIP_NO_INDEX is set: pip could not download anything
    assert wheel.parent.parent == wheel_cache
    with zipfile.ZipFile(wheel) as built:
        names = built.namelist()
    assert "hiddenparams/jobs/ship.py" in names and "hiddenparams/jobs/train_job.py" in names
    assert ship.build_wheel() == wheel and [p.name for p in wheel.parent.iterdir()] == [wheel.name]  # no leftovers


def test_without_setuptools_the_wheel_build_says_how_to_build_offline(monkeypatch, tmp_path):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(ship, "WHEEL_CACHE", tmp_path / "wheels")
    monkeypatch.setattr(
        ship.importlib.util, "find_spec", lambda name, *a: None if name == "setuptools" else real_find_spec(name, *a)
    )
    with pytest.raises(JobError) as caught:
        ship.build_wheel()
    message = str(caught.value)
    assert "this environment has no setuptools, so pip tried to download it (build isolation)" in message
    assert "pip install 'setuptools>=77') and the wheel builds offline" in message
    assert not list((tmp_path / "wheels").rglob("*.whl"))  # nothing half-built left in the cache
