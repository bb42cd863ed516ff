"""Finding weights: the documented order; downloads (from a local server) checked and atomic."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from jaxviz.errors import JaxvizError
from jaxviz.model import weight_search as fetch


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("JAXVIZ_WEIGHTS", raising=False)


def test_order_explicit_env_keras_cache(tmp_path, monkeypatch, clean_env):
    keras_file = tmp_path / "home" / ".keras" / "models" / fetch.NOTOP.name
    keras_file.parent.mkdir(parents=True)
    keras_file.write_bytes(b"k")
    env_file, explicit = tmp_path / "env.h5", tmp_path / "explicit.h5"
    env_file.write_bytes(b"e")
    explicit.write_bytes(b"x")
    assert fetch.find_weights().path == keras_file
    monkeypatch.setenv("JAXVIZ_WEIGHTS", str(env_file))
    assert fetch.find_weights().path == env_file
    assert fetch.find_weights(str(explicit)).path == explicit
    with pytest.raises(JaxvizError, match="does not exist"):
        fetch.find_weights(str(tmp_path / "nope.h5"))


def test_directory_given_says_it_is_a_directory(tmp_path, monkeypatch, clean_env):
    with pytest.raises(JaxvizError, match="weights file .* is a directory, not a weights file"):
        fetch.find_weights(str(tmp_path))
    monkeypatch.setenv("JAXVIZ_WEIGHTS", str(tmp_path))
    with pytest.raises(JaxvizError, match="JAXVIZ_WEIGHTS file .* is a directory, not a weights file"):
        fetch.find_weights()


def test_cli_directory_as_weights_is_one_line(tmp_path, capsys, clean_env):
    from conftest import assert_main_refuses

    from jaxviz.cli.convert import main as convert_main

    argv = ["--weights", str(tmp_path), "--output", str(tmp_path / "p.msgpack")]
    assert_main_refuses(convert_main, argv, capsys, "is a directory", ".keras")


def test_nothing_found_offline_lists_the_options(clean_env):
    with pytest.raises(JaxvizError) as e:
        fetch.find_weights()
    text = str(e.value)
    assert "--weights" in text and "JAXVIZ_WEIGHTS" in text and ".keras" in text and "\n" not in text


@pytest.fixture
def server(tmp_path):
    payload = b"vgg16 weights stand-in" * 1000
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "w.h5").write_bytes(payload)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(tmp_path / "srv"), **k)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/w.h5", payload
    httpd.shutdown()


def test_download_checks_and_renames(tmp_path, server):
    url, payload = server
    target = tmp_path / "cache" / "w.h5"
    fetch.download_file(url, target, hashlib.md5(payload).hexdigest(), len(payload))
    assert target.read_bytes() == payload
    assert [p.name for p in target.parent.iterdir()] == ["w.h5"]


def test_corrupt_download_leaves_nothing(tmp_path, server):
    url, payload = server
    target = tmp_path / "cache" / "w.h5"
    with pytest.raises(JaxvizError, match="corrupt"):
        fetch.download_file(url, target, "0" * 32, len(payload))
    assert list(target.parent.iterdir()) == []


def test_a_failed_download_says_its_real_cause(clean_env, monkeypatch):
    import socket
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.delenv("JAXVIZ_NO_DOWNLOAD", raising=False)
    monkeypatch.setattr(fetch.urllib.request, "urlopen", offline)
    with pytest.raises(JaxvizError, match="cannot resolve storage.googleapis.com: no network, or no DNS here"):
        fetch.find_weights()

    def refused(*args, **kwargs):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr(fetch.urllib.request, "urlopen", refused)
    with pytest.raises(JaxvizError, match=r"cannot reach storage.googleapis.com: Connection refused \[ECONNREFUSED\]"):
        fetch.find_weights()
