"""docs/configuration.md documents every variable of `settings.VARIABLES` and every command-line option.

Variables: the rows of the tables under `## Variables` whose first column is `variable`; the default column
begins with the backquoted default, or with "unset" when the default is empty. Commands: one `### tracker ...`
heading per command under `## Commands`, with its options as the first column (`option`) of a table.
"""

from __future__ import annotations

import re

import pytest

from tests.support import markdown
from tracker.cli import main
from tracker.settings import VARIABLES

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
# argparse writes a sub-command choice as "{a,b} ..." in the usage line; an option's choices have no "...".
SUBCOMMANDS = re.compile(r"\{([a-z][a-z0-9,-]*)\} \.\.\.")


def section(title: str) -> list[markdown.Line]:
    body = markdown.lines(markdown.read("configuration.md"))
    [content] = [lines for heading, lines in markdown.sections(body, 2) if markdown.heading_title(heading) == title]
    return content


def documented_variables() -> dict[str, str]:
    """Variable name -> its default cell."""
    rows = [row for table in markdown.tables(section("Variables")) if table and next(iter(table[0])) == "variable"
            for row in table]
    names = [row["variable"].strip("`") for row in rows]
    assert len(names) == len(set(names)), "a variable is documented twice"
    return {row["variable"].strip("`"): row["default"] for row in rows}


def test_every_variable_of_the_settings_is_documented_with_its_default() -> None:
    documented = documented_variables()
    for name, (default, _meaning) in VARIABLES.items():
        assert name in documented, f"{name} is not in docs/configuration.md"
        cell = documented[name]
        if default:
            assert cell.startswith(f"`{default}`"), f"{name}: the default is {default!r}, the page says {cell!r}"
        else:
            assert cell.startswith("unset"), f"{name} has no default; the page should say 'unset...', not {cell!r}"


def test_the_page_documents_no_variable_the_settings_do_not_read() -> None:
    for name in documented_variables():
        # A family such as TRACKER_ATTRIBUTION_WINDOW_<CHANNEL> belongs to the variable it refines.
        base = name.split("_<", 1)[0]
        assert base in VARIABLES, f"docs/configuration.md documents {name}, which tracker/settings.py does not read"


def help_text(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def cli_commands(capsys: pytest.CaptureFixture[str], *prefix: str) -> dict[str, set[str]]:
    """'tracker links create' -> its options, for every leaf command, from argparse's own help."""
    text = help_text(capsys, *prefix)
    usage = text.split("\n\n", 1)[0]
    found = SUBCOMMANDS.search(usage)
    if found is None:
        return {" ".join(("tracker", *prefix)): set(OPTION.findall(text)) - {"--help"}}
    commands: dict[str, set[str]] = {}
    for name in found.group(1).split(","):
        commands.update(cli_commands(capsys, *prefix, name))
    return commands


def test_every_command_and_option_of_the_cli_is_documented(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per usage, whatever the terminal
    commands = cli_commands(capsys)
    documented: dict[str, set[str]] = {}
    for heading, lines in markdown.sections(section("Commands"), 3):
        options = {row["option"].strip("`") for table in markdown.tables(lines)
                   if table and next(iter(table[0])) == "option" for row in table}
        documented[markdown.heading_title(heading)] = options
    assert {name: sorted(options) for name, options in documented.items()} == {
        name: sorted(options) for name, options in commands.items()
    }
