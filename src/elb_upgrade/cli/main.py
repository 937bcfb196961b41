"""`elb-upgrade`: the entry point. Maps every ending to an exit code in one place.

Exit codes (docs/operate/upgrade.md has the table):
  0 success / rollback_success / dry run     1 the run failed; the app is as before
  2 usage or config error; nothing happened  3 rollback failed: a human must look now
  130 interrupted (Ctrl+C)                   143 terminated (SIGTERM)

Only click is imported here: `--help` and shell completion run on every TAB, so the
envelope, rich, httpx and the cloud SDKs load inside the commands that need them.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from elb_upgrade import __version__
from elb_upgrade.cli.history import history_command
from elb_upgrade.cli.lock import lock_group
from elb_upgrade.cli.releases import releases_command
from elb_upgrade.cli.report import report_command
from elb_upgrade.cli.status import status_command
from elb_upgrade.cli.upgrade import upgrade_command

COMMANDS_HELP = """Safe, locked, audited rolling upgrades for container apps.

\b
  elb-upgrade SCOPE [OPTIONS]     upgrade SCOPE (a scope or alias from elb-upgrade.toml)
  elb-upgrade rollback [OPTIONS]  restore the release of the last snapshot (--to: any kept)
  elb-upgrade COMMAND ...         history, lock, releases, report, status

Run `elb-upgrade SCOPE --help` for the upgrade options.
"""


class ScopeFirstGroup(click.Group):
    """A group whose first argument may be a scope instead of a command name."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["upgrade", *args]
        return super().parse_args(ctx, args)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        from elb_upgrade.cli.complete import scope_items

        return [*scope_items(incomplete), *super().shell_complete(ctx, incomplete)]


@click.group(
    cls=ScopeFirstGroup,
    help=COMMANDS_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="elb-upgrade")
def cli() -> None:
    pass


cli.add_command(upgrade_command)
cli.add_command(history_command)
cli.add_command(lock_group)
cli.add_command(releases_command)
cli.add_command(status_command)
cli.add_command(report_command)


def main(argv: list[str] | None = None) -> int:
    """Run a command; the one place an exception becomes an exit code and a message.

    An upgrade decides its own ending (`elb_upgrade.run`); every other command lets our
    errors reach here, and `elb_upgrade.results.exit_code_for` says the code.
    """
    from elb_upgrade.errors import ElbUpgradeError
    from elb_upgrade.results import exit_code_for

    try:
        result = cli.main(args=argv, prog_name="elb-upgrade", standalone_mode=False)
    except ElbUpgradeError as exc:
        from elb_upgrade.ui import printable

        hint = f" → {exc.hint}" if exc.hint else ""
        click.echo(printable(f"error: {exc.message}{hint}"), err=True)
        return exit_code_for(exc)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
