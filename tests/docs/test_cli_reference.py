"""Issue 15: ``--help`` and docs/cli.rst say the same thing, so they cannot drift apart again.

The audit found them disagreeing (``run -p/-t``, ``send -n``, ``hu -v``, ``--can-die all``,
``HU_SOCKET``, and ``--ready-timeout`` with no help at all). These tests read every command
of the real command line (click's own objects, the lazy commands included) and docs/cli.rst:

* every option a ``--help`` shows has help text;
* every flag of every shown option is in the doc, where that command is described (a
  global option in *Global options*, the control options in *Controlling a running hu*);
* every flag the doc lists for a command (its option terms, its synopsis) is one of that
  command's flags, with the metavar ``--help`` shows;
* an option read from the environment names its variable in its help and in the doc's
  *Environment variables*;
* a global option that changes nothing on a command is hidden from that command's help.

:data:`PENDING` lists what another change documents; remove an entry once its doc is written.
"""

from __future__ import annotations

import re

import click
import pytest

from honcho_uv.cli import cli
from honcho_uv.cli.options import _NAMES as GLOBAL
from tests.kit.hu import REPO

DOC = REPO / "docs" / "cli.rst"
#: (command, flag) -> why the doc does not have it yet. Remove an entry once it is documented.
PENDING: dict[tuple[str, str], str] = {}
#: The options of the commands that talk to a running hu, described once for all of them.
CONTROL = {"app_root", "socket_", "url", "token"}
FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def _commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    found = {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}
    return {name: command for name, command in found.items() if command is not None and not command.hidden}


def _shown(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


def _flags(option: click.Option) -> list[str]:
    return [*option.opts, *option.secondary_opts]


def _sections() -> dict[str, str]:
    """Section title -> its text (every heading of cli.rst is one level)."""
    lines = DOC.read_text().splitlines()
    heads = [i - 1 for i, line in enumerate(lines) if i and re.fullmatch(r"([-=~^])\1{3,}", line)
             and len(line) >= len(lines[i - 1]) > 0]
    return {lines[h]: "\n".join(lines[h + 2:nxt]) for h, nxt in zip(heads, [*heads[1:], len(lines)], strict=True)}


def _entries(text: str) -> list[tuple[str, str]]:
    """The definition-list items of *text*: (term line, term line + its indented body)."""
    out: list[tuple[str, str]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("``") and i + 1 < len(lines) and lines[i + 1].startswith("    "):
            body = [line]
            for nxt in lines[i + 1:]:
                if nxt and not nxt.startswith(" "):
                    break
                body.append(nxt)
            out.append((line, "\n".join(body)))
    return out


def _literals(text: str) -> list[str]:
    return re.findall(r"``(.+?)``", text, re.S)


def _regions() -> dict[str, tuple[str, list[str]]]:
    """Command -> (the doc text describing it, its term lines listing flags)."""
    sections = _sections()
    titles = list(sections)
    regions: dict[str, tuple[str, list[str]]] = {}
    for i, title in enumerate(titles):
        match = re.match(r"``hu ([a-z-]+)", title)
        if not match or match.group(1) not in _commands():
            continue
        text = sections[title]
        if match.group(1) == "start":  # its subsections, up to the next command
            for later in titles[i + 1:]:
                if later.startswith("``hu "):
                    break
                text += "\n" + sections[later]
        terms = [t for t, _ in _entries(text) if t.startswith("``-")]
        if match.group(1) in ("daemon", "export"):  # their options are one sentence of literals
            terms = [lit for lit in _literals(text) if lit.startswith("-")]
        regions[match.group(1)] = (text, terms)
    control = sections["Controlling a running hu"]
    intro = _control_opening()
    for term, body in _entries(control):
        for name in re.findall(r"``hu ([a-z-]+)", term):
            regions[name] = (intro + "\n" + body, [term])
    return regions


def _where(name: str, option: click.Option, regions: dict[str, tuple[str, list[str]]]) -> str:
    """The text in which *option* of command *name* may be described: where the command is,
    *Global options* for a global option, the control section's opening for a control one."""
    sections = _sections()
    text = regions[name][0]
    if option.name in GLOBAL:
        text += "\n" + sections["Global options"]
    if option.name in CONTROL:
        text += "\n" + _control_opening()
    return text


def _control_opening() -> str:
    """*Controlling a running hu* up to its first command entry: the options they share."""
    text = _sections()["Controlling a running hu"]
    first = _entries(text)[0][0]
    return text[:text.index("\n" + first)]


def test_every_option_shown_by_help_has_help_text():
    missing = [f"hu {name} {option.opts[-1]}" for name, command in _commands().items()
               for option in _shown(command) if not (option.help or "").strip()]
    assert not missing, missing


def test_every_command_is_described_in_cli_rst():
    regions = _regions()
    missing = [name for name in _commands() if name not in regions and (name, "") not in PENDING]
    assert not missing, f"commands with no section or entry in docs/cli.rst: {missing}"


def test_every_flag_help_shows_is_in_cli_rst_where_its_command_is():
    regions = _regions()
    missing = []
    for name, command in _commands().items():
        if name not in regions:
            continue
        for option in _shown(command):
            if option.name == "help":
                continue
            text = _where(name, option, regions)
            tokens = {flag for literal in _literals(text) for flag in FLAG.findall(literal)}
            for flag in _flags(option):
                if flag not in tokens and (name, flag) not in PENDING:
                    missing.append(f"hu {name} {flag}")
    group = {flag for option in _shown(cli) for flag in _flags(option)} - {"-h", "--help"}
    described = {flag for literal in _literals(_sections()["Global options"]) for flag in FLAG.findall(literal)}
    missing += [f"hu {flag}" for flag in sorted(group - described)]
    assert not missing, f"flags --help shows that docs/cli.rst does not describe: {missing}"


def test_every_flag_cli_rst_lists_for_a_command_is_one_of_its_flags_with_its_metavar():
    wrong = []
    for name, (_, terms) in _regions().items():
        command = _commands()[name]
        options = {flag: option for option in command.params if isinstance(option, click.Option)
                   for flag in _flags(option)}
        for term in terms:
            for literal in _literals(term) or [term]:
                if literal.startswith("hu ") and not literal.startswith(f"hu {name}"):
                    continue  # another command of a shared entry (``hu stop ...``, ``hu start-process ...``)
                for flag in FLAG.findall(literal):
                    option = options.get(flag)
                    if option is None:
                        wrong.append(f"hu {name}: {flag} is not an option")
                        continue
                    shown = re.search(rf"(?<![\w-]){re.escape(flag)}(?: / --[\w-]+)? ([A-Z][^\s`\]]*)", literal)
                    if shown and option.metavar and _bare(shown.group(1)) != _bare(option.metavar):
                        wrong.append(f"hu {name} {flag}: the doc says {shown.group(1)}, --help {option.metavar}")
    assert not wrong, wrong


def _bare(metavar: str) -> str:
    return metavar.replace("[", "").replace("]", "")


def test_options_read_from_the_environment_name_their_variable_in_help_and_docs():
    environment = _sections()["Environment variables"]
    wrong = []
    for name, command in _commands().items():
        for option in _shown(command):
            for var in [option.envvar] if isinstance(option.envvar, str) else option.envvar or ():
                if var not in (option.help or ""):
                    wrong.append(f"hu {name} {option.opts[-1]}: its help does not name {var}")
                if var not in environment:
                    wrong.append(f"{var} is not under Environment variables in docs/cli.rst")
    assert not wrong, sorted(set(wrong))


@pytest.mark.parametrize("name", ["check", "export"])
def test_regression_display_options_are_hidden_where_they_change_nothing(name):
    # `hu check --help` and `hu export --help` offered --color, --no-prefix and --timestamps.
    command = _commands()[name]
    shown = {flag for option in _shown(command) for flag in _flags(option)}
    assert not shown & {"--color", "--no-color", "--no-prefix", "--timestamps", "--no-timestamps"}
    hidden = {flag for option in command.params if isinstance(option, click.Option) and option.hidden
              for flag in _flags(option)}
    assert {"--color", "--no-prefix", "--timestamps"} <= hidden, "still accepted, as before the subcommand"
