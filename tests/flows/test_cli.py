"""The CLI is thin: every command has help; errors are one line with a typed exit code."""

import pytest

from flows.cli import build_parser, main


def commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices


@pytest.mark.parametrize("name", ["model", "run", "sql", "splits", "export", "train", "report"])
def test_every_core_command_exists_and_has_help(name):
    assert name in commands(), f"command {name} missing"
    assert commands()[name].format_help().strip()
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert helps.get(name), f"{name} has no one-line help"


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    code = main(["run", str(tmp_path / "missing.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "config file not found" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_debug_flag_shows_the_exception(tmp_path):
    from schemas.errors import ConfigError

    with pytest.raises(ConfigError):
        main(["--debug", "run", str(tmp_path / "missing.yaml")])


def test_sql_on_missing_lake_is_a_clear_error(tmp_path, capsys):
    assert main(["sql", "SELECT 1", "--lake", str(tmp_path / "nolake")]) == 4
    assert "no lake at" in capsys.readouterr().err
