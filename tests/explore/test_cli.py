"""``attnflow explore`` as a user runs it: prints its URL, serves, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("uvicorn")


def test_the_command_serves_on_loopback_and_stops_on_ctrl_c() -> None:
    command = [sys.executable, "-c", "from attnflow.cli import main; main()", "explore", "--no-browser"]
    env = {**os.environ, "COLUMNS": "200"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline, url = time.monotonic() + 60, None
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            found = re.search(r"http://127\.0\.0\.1:\d+/", line)
            url = found.group(0) if found else None
        assert url is not None, "no URL printed"
        with urllib.request.urlopen(url + "api/config", timeout=30) as response:
            assert json.load(response)["defaults"]["n"] > 0
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_a_missing_sweep_store_is_one_line() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from attnflow.cli import main; main()",
            "explore",
            "--sweep",
            "/no/such/store",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no sweep store at /no/such/store" in result.stderr and "Traceback" not in result.stderr
