"""The `govcloud` command: thin Click functions over the library.

Start-up stays fast: this module imports only click and govcloud's light
modules at load time; each command imports what it needs (pydantic, jinja2,
rich, and the heavy pulumi / openstacksdk / paramiko only in the commands
that talk to a cloud or a server).

Exit codes: 0 ok, 1 invalid input or policy failure, 2 usage error,
3 deploy failed. Errors go to stderr, data to stdout.
"""
from __future__ import annotations

import click

from govcloud import __version__
from govcloud.errors import GovcloudError, InputError, printable


class GovcloudGroup(click.Group):
    """Turns every GovcloudError into a clear message and its exit code, never a traceback."""

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


def _register() -> None:
    """Every command module adds its commands to the group (each imports only click at load time)."""
    from govcloud.cli import agency, audit, catalog, fleet, offline, policy, stack, usage, verify

    for module in (offline, usage, policy, stack, fleet, agency, verify, catalog, audit):
        module.register(cli)


_register()


def main() -> None:
    cli(prog_name="govcloud")


if __name__ == "__main__":  # pragma: no cover
    main()
