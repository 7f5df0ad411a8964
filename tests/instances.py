"""Real service instances as separate processes (``authz serve``), for tests of several instances and of Redis
(the Redis servers themselves are in tests/redis_servers.py; re-exported here for the tests that import them)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.redis_servers import RedisServer, free_port

__all__ = ["Instance", "RedisServer", "free_port"]


class Instance:
    """One ``authz serve`` process on a loopback port."""

    def __init__(self, env: dict[str, str], name: str, args: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.name = name
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix=f"authz-{name}-", suffix=".log")[1])
        # Without a second factor unless the test asks for one (R17 has its own tests), as the settings fixture.
        # The decision log's journal in a directory of its own, unless the test shares one between instances.
        full_env = {**os.environ, "AUTHZ_MFA_REQUIRED": "none",
                    "AUTHZ_DECISION_LOG_DIR": tempfile.mkdtemp(prefix=f"authz-{name}-decisions-"), **env,
                    "AUTHZ_LOG_LEVEL": "INFO"}
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "authz.cli", "serve", "--port", str(self.port), *args],
            env=full_env, stdout=self._out, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"instance {self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                if self.client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"instance {self.name} not ready:\n{self.log.read_text()[-3000:]}")

    def readyz(self) -> dict[str, Any]:
        data: dict[str, Any] = self.client.get("/readyz").json()
        return data

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
