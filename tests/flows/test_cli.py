"""The CLI is thin: every command has help with examples; errors are one line with a typed exit code."""

import argparse

import pytest

from flows.cli import COMMANDS, build_parser, main


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


def every_parser(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) for the top level, every command and every sub-command."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from every_parser(child, path + (name,))


def test_every_command_and_sub_command_shows_an_example_of_itself():
    found = dict(every_parser(build_parser()))
    assert {path[0] for path in found if path} == set(COMMANDS)
    assert {("train", t) for t in ("sft", "dpo", "grpo")} <= set(found) and ("model", "prepare") in found
    for path, parser in found.items():
        text = parser.format_help()
        assert "\nexamples:\n" in text, f"warmstart {' '.join(path)} --help has no examples"
        lines = text.split("\nexamples:\n", 1)[1].splitlines()
        command = " ".join(("warmstart",) + path)
        assert any(line.strip().startswith(command) for line in lines), f"no example of `{command}`"


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
