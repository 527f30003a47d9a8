"""Fixtures of the pipeline tests (helpers live in pipeline_helpers.py)."""

from __future__ import annotations

import pytest

from .pipeline_helpers import LocalServer


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    server = LocalServer(root)
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
