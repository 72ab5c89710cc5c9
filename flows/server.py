"""A real local Prefect server (API, UI, scheduler) as a child process, and quick reachability checks.

    server = start_server(port=4200)     # waits until /api/health answers
    print(server.ui, server.api)         # http://127.0.0.1:4200, http://127.0.0.1:4200/api
    server.stop()
"""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from schemas.errors import ConfigError

DEFAULT_API = "http://127.0.0.1:4200/api"


def api_url(host: str, port: int) -> str:
    """The API address of a server listening on host:port."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/api"


def resolve_api(url: str | None = None) -> str:
    """--api, else $PREFECT_API_URL, else the default local server."""
    return (url or os.environ.get("PREFECT_API_URL") or DEFAULT_API).rstrip("/")


def is_healthy(api: str, timeout: float = 3.0) -> bool:
    """Whether a Prefect API answers its health check at `api`."""
    try:
        with urlopen(f"{api}/health", timeout=timeout) as response:
            return response.status == 200
    except (URLError, OSError, ValueError):
        return False


def check_api(api: str, timeout: float = 3.0) -> None:
    """Fail within seconds, with the way out, when no Prefect server answers at `api`."""
    if not api.startswith(("http://", "https://")):
        raise ConfigError(f"Prefect API '{api}' must be an http(s) URL, e.g. {DEFAULT_API}")
    if not is_healthy(api, timeout):
        raise ConfigError(f"no Prefect server answers at {api}; start one with `warmstart server` "
                          "(or pass --api / set PREFECT_API_URL)")


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on host:port."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1" if host in ("0.0.0.0", "") else host, port)) == 0


@dataclass
class ServerProcess:
    """A running `prefect server start` child process."""

    process: subprocess.Popen
    api: str

    @property
    def ui(self) -> str:
        """The UI's address (the API without /api)."""
        return self.api.removesuffix("/api")

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate the server (and its own children) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(home: Path | None, scheduler_loop_s: float | None) -> dict[str, str]:
    """The child's environment: analytics off, its own PREFECT_HOME (database) if given."""
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)  # the server must not think it is a client of another one
    if home is not None:
        env["PREFECT_HOME"] = str(Path(home).resolve())
    if scheduler_loop_s is not None:
        env["PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"] = str(scheduler_loop_s)
    return env


def start_server(host: str = "127.0.0.1", port: int = 4200, *, home: Path | None = None,
                 timeout: float = 90.0, scheduler_loop_s: float | None = None, log=None) -> ServerProcess:
    """Start `prefect server start` and wait until its API is healthy; ConfigError if it cannot."""
    api = api_url(host, port)
    if port_in_use(host, port):
        raise ConfigError(f"port {port} on {host} is already in use"
                          + (f" (a Prefect server answers at {api})" if is_healthy(api) else "")
                          + "; pass --port")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port),
               "--analytics-off"]
    process = subprocess.Popen(command, env=server_env(home, scheduler_loop_s), stdin=subprocess.DEVNULL,
                               stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)
    server = ServerProcess(process, api)
    deadline = time.monotonic() + timeout
    while not is_healthy(api, timeout=2.0):
        if process.poll() is not None:
            raise ConfigError(f"the Prefect server exited at start (code {process.returncode}); "
                              "run `prefect server start` to see why")
        if time.monotonic() > deadline:
            server.stop()
            raise ConfigError(f"the Prefect server did not answer at {api} within {timeout:.0f} s")
        time.sleep(0.5)
    return server
