"""Engine output goes to runs/<run_id>/engine.log; warmstart's own lines stay on the terminal."""

import os
import subprocess
import sys

import pytest
import yaml

from flows.cli import main
from flows.engine_log import engine_output, log_path
from flows.progress import console, stage_bar
from schemas import terminal

ENGINE_LINES = ["c-level stdout", "c-level stderr", "python print", "child stdout", "child stderr"]
LIBRARY_LINES = ["library warning", "python warning", "library error"]


def chatter() -> None:
    """What engines do: C code writes to fds 1 and 2, Python prints, child processes inherit the fds."""
    os.write(1, b"c-level stdout\n")
    os.write(2, b"c-level stderr\n")
    print("python print")
    subprocess.run([sys.executable, "-c", "import sys; print('child stdout'); print('child stderr', file=sys.stderr)"],
                   check=True)


def own_output() -> None:
    terminal.echo("own stage line")
    console.print("own console line")
    with stage_bar("generate", 2) as advance:
        advance(2)


# In a process of its own, as under the `warmstart` command: pytest captures logging and warnings itself.
SCRIPT = """
import logging, sys, warnings
sys.path.insert(0, {tests!r})
from test_engine_log import chatter, own_output
from flows.engine_log import engine_output

with engine_output("r1"):
    logging.getLogger("vllm.fake").addHandler(logging.StreamHandler())  # as vLLM sets itself up at import
    logging.getLogger("vllm.fake").warning("library warning")
    logging.getLogger("torch.fake").error("library error")  # no handler of its own: logging's last resort
    warnings.warn("python warning")
    chatter()
    own_output()
"""


def test_engine_output_goes_to_the_log_and_warmstart_output_to_the_terminal():
    from pathlib import Path

    shown = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=str(Path(__file__).parent))],
                           capture_output=True, text=True, check=True)
    text = log_path("r1").read_text()
    *terminal_lines, last = (shown.stdout + shown.stderr).splitlines()
    for line in ENGINE_LINES + LIBRARY_LINES:
        assert line in text, line
        assert not any(line in shown_line for shown_line in terminal_lines), line
    assert "own stage line" in shown.stdout and "own console line" in shown.stderr and "generate" in shown.stderr
    assert "own" not in text
    # the one line about the engines: where the log is, and the error a library logged
    first_error = "ERROR torch.fake: library error"
    assert last == f"engine log: {log_path('r1')} (1 error line(s) from the engines; first: {first_error})"


def test_after_the_block_output_reaches_the_terminal_again(capfd):
    with engine_output("r2"):
        os.write(1, b"inside\n")
    os.write(1, b"after\n")
    print("after print")
    shown = capfd.readouterr().out
    assert "inside" not in shown and "after\n" in shown and "after print" in shown


def test_verbose_leaves_engine_output_on_the_terminal(capfd):
    with engine_output("r3", verbose=True) as log:
        chatter()
    shown = capfd.readouterr()
    assert log is None and not log_path("r3").exists()
    for line in ENGINE_LINES:
        assert line in shown.out + shown.err, line


def test_a_log_left_empty_is_removed(capfd):
    with engine_output("r4") as log:
        terminal.echo("nothing from the engines")
    assert not log.exists() and not log.parent.exists()
    assert "engine log" not in capfd.readouterr().err


def test_engine_errors_surface_as_one_line_naming_the_log(capfd):
    with engine_output("r5") as log:
        os.write(2, b"WARNING noise\n")
        os.write(2, b"RuntimeError: CUDA out of memory while allocating the KV cache\n")
    err = capfd.readouterr().err
    assert err.count("\n") == 1
    assert f"engine log: {log} (1 error line(s) from the engines; first: " in err and "out of memory" in err


def write_config(tmp_path) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"lake": str(tmp_path / "lake"), "backend": "transformers", "sources": [
        {"type": "reasoning_gym", "task": "gcd", "count": 2, "seed": 1}]}))
    return str(path)


@pytest.fixture
def noisy_curation(monkeypatch):
    """run_curation replaced by engine chatter and a summary-less result (the flow is tested elsewhere)."""
    from flows.summary import RunSummary

    def fake(cfg, *, run_id, **_):
        chatter()
        return RunSummary(run_id)

    monkeypatch.setattr("flows.curate.run_curation", fake)


def test_cli_prints_the_summary_and_the_log_path_not_the_chatter(noisy_curation, tmp_path, capfd):
    assert main(["run", write_config(tmp_path)]) == 0
    shown = capfd.readouterr()
    assert "splits" in shown.err and "engine log: " in shown.err
    for line in ENGINE_LINES:
        assert line not in shown.out + shown.err, line
    run_id = shown.err.split("engine log: ")[1].split("/")[-2]
    assert "run " + run_id in shown.err  # the log folder is the lake's run id
    assert "c-level stderr" in log_path(run_id).read_text()


def test_cli_verbose_shows_the_chatter(noisy_curation, tmp_path, capfd):
    assert main(["run", write_config(tmp_path), "--verbose"]) == 0
    shown = capfd.readouterr()
    for line in ENGINE_LINES:
        assert line in shown.out + shown.err, line
    assert "engine log" not in shown.err


def test_an_unexpected_exception_is_one_line_and_its_traceback_is_in_the_log(monkeypatch, tmp_path, capfd):
    def broken(cfg, *, run_id, **_):
        os.write(2, b"engine: something went wrong\n")
        raise RuntimeError("engine died\nwith a second line")

    monkeypatch.setattr("flows.curate.run_curation", broken)
    assert main(["run", write_config(tmp_path)]) == 1
    err = capfd.readouterr().err
    assert err.startswith("error: unexpected RuntimeError: engine died; traceback in ") and err.count("\n") == 1
    log = err.rstrip().rsplit(" ", 1)[1]
    assert "Traceback (most recent call last)" in open(log).read() and "something went wrong" in open(log).read()
    with pytest.raises(RuntimeError):
        main(["run", write_config(tmp_path), "--debug"])


def test_a_bad_config_leaves_no_log_behind(tmp_path, capfd, runs_dir):
    before = set(runs_dir.iterdir())
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert capfd.readouterr().err.startswith("error: ") and set(runs_dir.iterdir()) == before


def test_passwords_a_library_prints_are_masked_in_the_log(capfd):
    with engine_output("r6") as log:
        os.write(2, b"ERROR cannot connect to postgres://warm:s3cr3t@db:5432/lake?data_path=/x\n")
        os.write(2, b"conninfo: host=db password=s3cr3t dbname=lake\n")
    text = log.read_text()
    assert "s3cr3t" not in text and "s3cr3t" not in capfd.readouterr().err
    assert "postgres://warm:***@db:5432/lake" in text and "password=*** dbname=lake" in text
