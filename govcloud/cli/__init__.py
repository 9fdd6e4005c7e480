"""The `govcloud` command: thin Click functions over the library.

Start-up stays fast: this module imports only click and govcloud's light
modules at load time; a command's module is imported only when that command
runs (or help lists them all), and each command imports what it needs
(pydantic, jinja2, rich, and the heavy pulumi / openstacksdk / paramiko only
in the commands that talk to a cloud or a server).

Exit codes: 0 ok, 1 invalid input or policy failure, 2 usage error,
3 deploy failed. Errors go to stderr, data to stdout.
"""
from __future__ import annotations

import importlib
import os

import click

from govcloud import __version__
from govcloud.errors import GovcloudError, InputError, printable


# Which module of govcloud.cli defines each top-level command. `validate one.yaml` then imports the
# offline commands only, not the deploy, agency or usage ones with their workflow and hooks
# (benchmarks/README.md); a unit test checks this table against what each module registers.
COMMAND_MODULES: dict[str, str] = {
    **dict.fromkeys(("validate", "schema", "plan", "cost", "blueprints", "init"), "offline"),
    **dict.fromkeys(("deploy", "destroy", "refresh", "status", "outputs", "history", "diff", "unlock",
                     "doctor"), "stack"),
    **dict.fromkeys(("worker", "jobs", "stacks"), "fleet"),
    **dict.fromkeys(("verify", "ssh"), "verify"),
    "usage": "usage", "policy": "policy", "agency": "agency", "catalog": "catalog", "audit": "audit",
}


class GovcloudGroup(click.Group):
    """Loads a command's module when the command is asked for; turns every GovcloudError into a clear
    message and its exit code, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"govcloud.cli.{COMMAND_MODULES[cmd_name]}").register(self)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            from govcloud.cli.render import print_problems

            print_problems(exc.problems)
            n = len(exc.problems)
            click.echo(f"{n} problem{'s' if n != 1 else ''}; nothing was changed", err=True)
            ctx.exit(exc.exit_code)
        except GovcloudError as exc:  # a message may quote input: every line escaped, as problems are
            click.echo("error: " + "\n".join(printable(line) for line in str(exc).split("\n")), err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=GovcloudGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="govcloud")
def cli() -> None:
    """Infrastructure as code for the abar-dowlat government cloud.

    Agencies describe services in YAML manifests; govcloud checks them against
    ministry policy, compiles them into Pulumi stacks on OpenStack, deploys
    them, reviews changes with their cost, and meters usage.
    """



def main() -> None:
    # pydantic looks for plugins on its first model by reading the entry points of every installed
    # distribution (about 7 ms of a one-file validate, benchmarks/README.md); govcloud uses none. The
    # variable is inherited by the engine child. A user who wants pydantic plugins sets it to "".
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    cli(prog_name="govcloud")


if __name__ == "__main__":  # pragma: no cover
    main()
