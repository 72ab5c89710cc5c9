"""Shared fixtures: a fresh lake per test, the bundled model (prepared once per session), and a real
PostgreSQL server for shared lakes (started once per session, a new database per lake)."""

import glob
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# a loaded 2-core machine can take longer than Prefect's default 20 s to start its ephemeral API
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


@pytest.fixture
def lake(tmp_path):
    """An empty lake in a temporary directory."""
    from schemas.lake import Lake

    return Lake(tmp_path / "lake")


@pytest.fixture(scope="session")
def bundled_model_path():
    """The converted SmolLM2-135M-Instruct directory (converted once if missing)."""
    from curation.models import prepare_bundled

    return prepare_bundled()


# --- PostgreSQL ---------------------------------------------------------------------------------

def postgres_bin() -> Path | None:
    """The folder holding initdb/pg_ctl/createdb: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    candidates = ([Path(on_path).resolve().parent] if on_path else []) + [
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if all((folder / tool).exists() for tool in ("initdb", "pg_ctl", "createdb", "pg_dump", "postgres")):
            return folder
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A localhost port nothing listens on."""
    return free_port()


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server on a free localhost port; its `postgres` user has a random password
    (so a test can search files and output for it). Yields port, password and createdb(name)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (CI: apt-get install -y postgresql)")
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no `postgres` user to run the server as")
    password = f"pw-{secrets.token_hex(8)}"
    home = Path(tempfile.mkdtemp(prefix="warmstart-pg-"))
    (home / "pw").write_text(password + "\n")
    if os.geteuid() == 0:
        for path in (home, home / "pw"):
            os.chown(path, server_user.pw_uid, server_user.pw_gid)
    port, data = free_port(), home / "data"
    run = lambda *cmd: subprocess.run(_as_server_user([str(bin_dir / cmd[0]), *cmd[1:]]),  # noqa: E731
                                      check=True, capture_output=True, timeout=120)
    run("initdb", "-D", str(data), "-U", "postgres", "--auth-host=scram-sha-256",
        "--auth-local=trust", f"--pwfile={home / 'pw'}")
    (home / "pw").unlink()
    run("pg_ctl", "-D", str(data), "-l", str(home / "log"), "-w", "start",
        "-o", f"-p {port} -k {home} -h 127.0.0.1 -c fsync=off")
    try:
        client = lambda tool, name: run(tool, "-h", str(home), "-p", str(port), "-U", "postgres", name)  # noqa: E731
        yield {"port": port, "password": password, "createdb": lambda name: client("createdb", name),
               "dump": lambda name: client("pg_dump", name).stdout.decode()}
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def new_pg_lake(pg_server, tmp_path_factory):
    """A factory: the URL (password included) of a new, empty lake: its own database and data_path."""
    numbers = itertools.count()

    def make() -> str:
        name = f"lake{next(numbers)}"
        pg_server["createdb"](name)
        files = tmp_path_factory.mktemp(f"shared-{name}")
        return f"postgres://postgres:{pg_server['password']}@127.0.0.1:{pg_server['port']}/{name}?data_path={files}"

    return make
