"""govcloud's own configuration, in one place: what `govcloud.yaml` may say, which environment variables
govcloud reads, and where it keeps its state (`.govcloud/`).

- `GovcloudSettings`: the strict model of a config repo's `govcloud.yaml`. It is checked like a
  manifest (unknown keys are errors at file:line:column naming the allowed keys), because a typo such
  as `backnd:` would otherwise silently deploy to the default backend.
- `ENVIRONMENT`: every environment variable govcloud reads, with its meaning and default; `env()` reads
  only these (an unlisted name is a programming error), so the table and docs/configuration.md
  (generated from it: `python -m govcloud.settings docs/configuration.md`) stay the whole story.
- `StateDir`: the layout of the state directory, one name per path. Naming a path never creates it:
  whoever writes there creates it.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal, Mapping

from pydantic import ConfigDict, Field, field_validator

from govcloud.errors import InputError, Problem, SetupError
from govcloud.load.validation import StrictModel, validate_model

CONFIG_FILE = "govcloud.yaml"
API_VERSION = "govcloud/v1"


# ---------------------------------------------------------------- govcloud.yaml


# built on first use (defer_build): most processes import this module for `env` and never read govcloud.yaml,
# and building the three models was a measurable part of a one-file `validate` (benchmarks/README.md)
_ON_FIRST_USE = ConfigDict(defer_build=True)


class ExchangeSetting(StrictModel):
    model_config = _ON_FIRST_USE

    currency: str = Field(description="ISO 4217 code of the second currency, e.g. EUR")
    rate: str | float = Field(description="units of `currency` per unit of the rate-card currency")


class MeteringSettings(StrictModel):
    model_config = _ON_FIRST_USE

    exchange: str | ExchangeSetting | None = Field(
        None, description="default of `usage report --exchange`: `CODE=RATE` or {currency, rate}")
    provider: str | None = Field(
        None, description="the ministry's name in FOCUS exports (InvoiceIssuerName, ProviderName, PublisherName)")

    @field_validator("exchange")
    @classmethod
    def _parses(cls, value: str | ExchangeSetting | None) -> str | ExchangeSetting | None:
        if value is not None:
            parse_exchange(exchange_text(value))  # ValueError: a located problem
        return value

    @property
    def exchange_text(self) -> str | None:
        """The exchange as `usage report --exchange` takes it (CODE=RATE), or None."""
        return None if self.exchange is None else exchange_text(self.exchange)


def exchange_text(value: str | ExchangeSetting) -> str:
    return value if isinstance(value, str) else f"{value.currency}={value.rate}"


def parse_exchange(text: str) -> tuple[str, Decimal]:
    """CODE=RATE (EUR=0.0000021) -> ("EUR", rate): the second currency of usage reports, from
    `usage report --exchange` or govcloud.yaml (metering.rating.Exchange is built from it)."""
    code, sep, rate = text.partition("=")
    code = code.strip().upper()
    if not sep or len(code) != 3 or not code.isalpha():
        raise ValueError(f"'{text}' is not CODE=RATE (e.g. EUR=0.0000021)")
    try:
        value = Decimal(rate.strip())
    except InvalidOperation:
        raise ValueError(f"'{rate}' is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"the exchange rate must be a positive number, got {rate}")
    return code, value


class GovcloudSettings(StrictModel):
    """govcloud.yaml, the marker and settings file of a config repo (made by `govcloud init`)."""

    model_config = _ON_FIRST_USE

    api_version: Literal["govcloud/v1"] = Field(API_VERSION, description="always govcloud/v1")
    kind: Literal["Config"] = Field("Config", description="always Config")
    backend: str | None = Field(
        None, description="Pulumi state backend URL (any DIY backend: file://, s3://, postgres://); "
                          "a relative file:// path is relative to the config repo; `{agency}` is replaced by the "
                          "stack's agency (a backend per agency). Default: file://<state dir>/state")
    database: str | None = Field(
        None, description="PostgreSQL URL of the shared setup (stack locks across machines, the stack index, the "
                          "audit log, the job queue), e.g. postgres://govcloud@db.example:5432/govcloud; the "
                          "password comes from PGPASSFILE or PGPASSWORD, never from this file. Default: the "
                          "backend, when it is postgres://; none for other backends (one machine, local locks)")
    metering: MeteringSettings = Field(default_factory=MeteringSettings, description="usage and chargeback")

    @field_validator("backend", "database")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        """A password in govcloud.yaml would be committed with the config repo and written to Pulumi.yaml."""
        if value and "://" in value:
            from urllib.parse import urlsplit

            if urlsplit(value).password is not None:
                raise ValueError("the URL holds a password: remove it and give it through PGPASSFILE (a libpq "
                                 "password file, mode 600) or PGPASSWORD (docs/scale.md)")
        return value


def load_settings(path: str | os.PathLike[str]) -> GovcloudSettings:
    """govcloud.yaml at `path`, checked; InputError with every problem located."""
    from govcloud.load.yamlsource import load_yaml_file

    doc = load_yaml_file(path)
    if not isinstance(doc.data, dict):
        raise InputError([Problem(f"{CONFIG_FILE} must be a mapping (apiVersion, kind, backend, ...)",
                                  location=doc.locate(()), code="schema")])
    return validate_model(GovcloudSettings, doc.data, doc.locate)


# ---------------------------------------------------------------- the environment


@dataclass(frozen=True)
class EnvVar:
    name: str
    meaning: str
    default: str = ""  # what govcloud does when it is unset ("" = nothing)
    reader: str = ""  # where it is read
    secret: bool = False  # its value is masked wherever govcloud prints or records text
    also: tuple[str, ...] = ()  # names read together with this one (a CI system's identity)


ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar("GOVCLOUD_CONFIG", "the config repo to use (a directory with a govcloud.yaml)",
           "the nearest directory at or above the working directory that holds a govcloud.yaml; "
           "else the shipped defaults only", "govcloud/config.py find_config_repo"),
    EnvVar("GOVCLOUD_STATE_DIR", "the state directory (Pulumi file backend, workspaces, locks, logs, audit log, "
           "usage store)", "`.govcloud/` in the config repo; without one `$XDG_STATE_HOME/govcloud`",
           "govcloud/settings.py state_dir_for"),
    EnvVar("XDG_STATE_HOME", "base of the state directory when there is no config repo", "~/.local/state",
           "govcloud/settings.py state_dir_for"),
    EnvVar("GOVCLOUD_PASSPHRASE", "the passphrase that encrypts the secrets in stack state",
           "GOVCLOUD_PASSPHRASE_FILE; without either, commands that run the engine refuse (exit 1)",
           "govcloud/settings.py read_passphrase", secret=True),
    EnvVar("GOVCLOUD_PASSPHRASE_FILE", "a file holding the passphrase (its first line; keep it mode 600); "
           "`{agency}` in the name gives every agency its own (e.g. /etc/govcloud/passphrase-{agency})", "",
           "govcloud/settings.py read_passphrase"),
    EnvVar("GOVCLOUD_TOOLCHAIN_DIR", "where govcloud's own build of the Pulumi CLI and OpenStack plugin lives",
           "~/.cache/govcloud/toolchain", "govcloud/engine/toolchain.py toolchain_dir"),
    EnvVar("PULUMI_HOME", "Pulumi's home; the engine looks for the OpenStack plugin in its plugins/",
           "~/.pulumi", "govcloud/engine/toolchain.py plugin_cache_dir"),
    EnvVar("PGPASSFILE", "the libpq password file with the password of the shared PostgreSQL (govcloud.yaml "
           "`backend:` / `database:`); read by libpq, the Pulumi CLI's postgres backend and psycopg", "~/.pgpass",
           "libpq"),
    EnvVar("PGPASSWORD", "the password of the shared PostgreSQL, when no password file is used", "", "libpq",
           secret=True),
    EnvVar("GOVCLOUD_LOCK_STALE_SECONDS", "seconds without a heartbeat after which a stack lock in the shared "
           "database (and a queue worker) counts as dead", "60", "govcloud/shared/locks.py stale_after"),
    EnvVar("AWS_ACCESS_KEY_ID", "with AWS_SECRET_ACCESS_KEY: credentials of an s3:// backend (for Swift's S3 API: "
           "Keystone EC2 credentials)", "", "the Pulumi CLI"),
    EnvVar("AWS_SECRET_ACCESS_KEY", "the secret of an s3:// backend's credentials", "", "the Pulumi CLI",
           secret=True),
    EnvVar("AWS_EC2_METADATA_DISABLED", "set it to true with an s3:// backend: the SDK then never asks the cloud "
           "metadata address for credentials", "", "the Pulumi CLI"),
    EnvVar("GOVCLOUD_TIMINGS", "when set, deploy prints the time of each phase to stderr (benchmarks use it)",
           "", "govcloud/cli/stack.py"),
    EnvVar("NO_COLOR", "when set, the text review has no colour (https://no-color.org)",
           "colour on a terminal", "govcloud/review"),
    EnvVar("GOVCLOUD_SSH_KEY_PASSPHRASE", "the passphrase of the key file verify and ssh use (--key or the site's)",
           "", "govcloud/cli/verify.py", secret=True),
    EnvVar("SSH_AUTH_SOCK", "the SSH agent verify and ssh take keys from when no key file is given "
           "(never forwarded to servers)", "a key file from the site or --key", "govcloud/verify/ssh.py"),
    EnvVar("TERM", "the terminal type `govcloud ssh` asks the server's pty for", "xterm", "govcloud/verify/shell.py"),
    EnvVar("OS_CLOUD", "the clouds.yaml entry to use when a site's own `cloud` entry is not found",
           "", "govcloud/cloud/credentials.py cloud_region"),
    EnvVar("OS_AUTH_URL", "with the other OS_* variables (read by openstacksdk): credentials without clouds.yaml",
           "", "govcloud/cloud/credentials.py cloud_region"),
    EnvVar("OS_CLIENT_CONFIG_FILE", "a clouds.yaml elsewhere than ./, ~/.config/openstack/ or /etc/openstack/ "
           "(read by openstacksdk)", "", "openstacksdk"),
    EnvVar("OS_PASSWORD", "OpenStack password (read by openstacksdk)", "", "openstacksdk", secret=True),
    EnvVar("OS_APPLICATION_CREDENTIAL_SECRET", "OpenStack application credential secret (read by openstacksdk)",
           "", "openstacksdk", secret=True),
    EnvVar("OS_TOKEN", "OpenStack token (read by openstacksdk)", "", "openstacksdk", secret=True),
    EnvVar("PULUMI_CONFIG_PASSPHRASE", "set by govcloud for its engine child from GOVCLOUD_PASSPHRASE; never "
           "needed by users", "", "govcloud/engine/worker.py", secret=True),
    EnvVar("GOVCLOUD_ENGINE_SOCKET", "set by govcloud for its engine child: the socket the stack lock's descriptor "
           "comes over; never set by users", "", "govcloud/engine/worker.py"),
    EnvVar("PYDANTIC_DISABLE_PLUGINS", "set by the govcloud command to `__all__` unless already set: pydantic "
           "then does not scan every installed distribution for plugins (govcloud uses none); set it to an empty "
           "value to have pydantic load its plugins", "`__all__`", "govcloud/cli/__init__.py main"),
    EnvVar("SUDO_USER", "recorded next to the user in audit records when govcloud runs through sudo", "",
           "govcloud/provenance.py who"),
    EnvVar("GITLAB_CI", "a GitLab CI job: audit records keep its identity (names, ids and URLs, never tokens)",
           "", "govcloud/ops/audit.py ci_identity",
           also=("GITLAB_USER_LOGIN", "CI_PIPELINE_URL", "CI_JOB_URL", "CI_COMMIT_REF_NAME", "CI_MERGE_REQUEST_IID")),
    EnvVar("GITHUB_ACTIONS", "a GitHub Actions run: audit records keep its identity (names, ids and URLs, "
           "never tokens)", "", "govcloud/ops/audit.py ci_identity",
           also=("GITHUB_ACTOR", "GITHUB_RUN_ID", "GITHUB_REPOSITORY", "GITHUB_REF_NAME", "GITHUB_WORKFLOW")),
)
_LISTED = {n for v in ENVIRONMENT for n in (v.name, *v.also)}


def env(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of one of the variables in ENVIRONMENT (None when unset or empty)."""
    if name not in _LISTED:
        raise KeyError(f"{name} is not listed in govcloud.settings.ENVIRONMENT")
    return (os.environ if environ is None else environ).get(name) or None


AGENCY_PLACEHOLDER = "{agency}"  # in GOVCLOUD_PASSPHRASE_FILE (and govcloud.yaml's backend): one per agency


def read_passphrase(environ: Mapping[str, str] | None = None, agency: str | None = None) -> str:
    """The stack secrets passphrase of `agency`'s stacks: GOVCLOUD_PASSPHRASE, else the file named by
    GOVCLOUD_PASSPHRASE_FILE (`{agency}` in its name replaced by the agency: one passphrase per agency, so one
    agency's passphrase never decrypts another's secrets)."""
    value = env("GOVCLOUD_PASSPHRASE", environ)
    if value:
        return value
    file = env("GOVCLOUD_PASSPHRASE_FILE", environ)
    if file and AGENCY_PLACEHOLDER in file:
        if not agency:
            raise SetupError(f"GOVCLOUD_PASSPHRASE_FILE={file} names one file per agency, and this command acts "
                             f"on no agency's stacks")
        file = file.replace(AGENCY_PLACEHOLDER, agency)
    if file:
        try:
            text = Path(file).expanduser().read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SetupError(f"cannot read the passphrase file GOVCLOUD_PASSPHRASE_FILE={file}: "
                             f"{exc.strerror or exc}") from None
        if not text:
            raise SetupError(f"the passphrase file GOVCLOUD_PASSPHRASE_FILE={file} is empty")
        return text
    raise SetupError(
        "no passphrase for the stack's secrets: set GOVCLOUD_PASSPHRASE, or GOVCLOUD_PASSPHRASE_FILE to a file "
        "holding it (e.g. `umask 077; head -c 32 /dev/urandom | base64 > ~/.govcloud-passphrase`). It encrypts "
        "secrets such as the OpenStack password in the stack state: keep it, the state cannot be used without it")


def passphrase_source(environ: Mapping[str, str] | None = None) -> str:
    """Where the passphrase comes from, for `govcloud doctor` (never the value)."""
    if env("GOVCLOUD_PASSPHRASE", environ):
        return "GOVCLOUD_PASSPHRASE"
    return f"GOVCLOUD_PASSPHRASE_FILE ({env('GOVCLOUD_PASSPHRASE_FILE', environ)})"


def passphrase_files(environ: Mapping[str, str] | None = None) -> list[str]:
    """The passphrase files GOVCLOUD_PASSPHRASE_FILE names: the file, or every agency's when it holds `{agency}`."""
    import glob

    file = env("GOVCLOUD_PASSPHRASE_FILE", environ)
    if not file:
        return []
    if AGENCY_PLACEHOLDER not in file:
        return [file]
    before, _, after = os.path.expanduser(file).partition(AGENCY_PLACEHOLDER)
    return sorted(glob.glob(glob.escape(before) + "*" + glob.escape(after)))


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values this process knows (secret variables and the passphrase files), to mask in text."""
    values = [value for v in ENVIRONMENT if v.secret and (value := env(v.name, environ))]
    for file in passphrase_files(environ):
        try:
            values.append(read_passphrase({"GOVCLOUD_PASSPHRASE_FILE": file}))
        except SetupError:
            pass  # unreadable: nothing of it can leak
    return values


# ---------------------------------------------------------------- the state directory


@dataclass(frozen=True)
class StateDir:
    """The state directory's layout. Every path is only a name: the writer creates what it writes."""

    root: Path

    @property
    def file_backend(self) -> Path:
        """The default Pulumi backend (file://), when govcloud.yaml names none."""
        return self.root / "state"

    @property
    def workspaces(self) -> Path:
        return self.root / "workspaces"

    def workspace(self, project: str, stack: str) -> Path:
        """The Pulumi project directory of one stack (Pulumi.yaml, Pulumi.<stack>.yaml with the salt)."""
        return self.workspaces / project / stack

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def stack_lock(self, project: str, stack: str) -> Path:
        """govcloud's own lock of one stack (engine/locks.py StackLock)."""
        return self.locks / f"{project}--{stack}.lock"

    def verify_stack(self, project: str, stack: str) -> Path:
        """What `govcloud verify` keeps of a stack: its pinned host keys and its last report (verify/store.py)."""
        return self.root / "verify" / project / stack

    def unsure_creates(self, project: str, stack: str) -> Path:
        """Creates the engine reported failed that may have reached the cloud (engine/recovery.py)."""
        return self.root / "pending" / f"{project}--{stack}.json"

    @property
    def logs(self) -> Path:
        """Engine logs: <project>--<stack>--<op>--<time>-<pid>.log and .events.jsonl (engine/runner.py)."""
        return self.root / "logs"

    @property
    def stack_index(self) -> Path:
        """The local stack index (one JSON file per stack; govcloud/shared/index.py), without a shared database."""
        return self.root / "index"

    @property
    def audit_log(self) -> Path:
        """The append-only audit log of deploys and destroys (ops/audit.py)."""
        return self.root / "audit.log"

    @property
    def usage_store(self) -> Path:
        """The metered usage (metering/store.py)."""
        return self.root / "usage.sqlite"


# (path under the state dir, what it holds) for the docs
STATE_LAYOUT: tuple[tuple[str, str], ...] = (
    ("state/", "the Pulumi file backend, when govcloud.yaml names no `backend:`"),
    ("workspaces/<project>/<stack>/", "the Pulumi project directory of each stack (Pulumi.yaml, the secrets salt)"),
    ("locks/<project>--<stack>.lock", "govcloud's lock of a stack, held for a whole command"),
    ("pending/<project>--<stack>.json", "creates a failed run may have made in the cloud: the next run's recovery "
     "looks them up and adopts or drops them"),
    ("logs/", "the engine's log and event file of each operation (the last 40 per stack are kept)"),
    ("index/<project>--<stack>.json", "the stack index without a shared database: inputs digest and last operation"),
    ("audit.log", "one JSON line per deploy and destroy: who, what, the result (append-only, hash-chained: "
                  "`govcloud audit verify`; with a shared database the records go to its table instead)"),
    ("usage.sqlite", "the usage store that `usage collect` fills and `usage report` prices"),
)


def state_dir_for(root: Path | None, environ: Mapping[str, str] | None = None) -> StateDir:
    """GOVCLOUD_STATE_DIR, else `.govcloud/` of the config repo at `root`, else $XDG_STATE_HOME/govcloud."""
    override = env("GOVCLOUD_STATE_DIR", environ)
    if override:
        return StateDir(Path(override))
    if root is not None:
        return StateDir(root / ".govcloud")
    base = env("XDG_STATE_HOME", environ)
    return StateDir((Path(base) if base else Path.home() / ".local" / "state") / "govcloud")


# ---------------------------------------------------------------- docs/configuration.md

DOCS_BEGIN = "<!-- generated by `python -m govcloud.settings docs/configuration.md`: do not edit below -->"
DOCS_END = "<!-- end of generated section -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _model_rows(model: type[StrictModel], prefix: str = "") -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        inner = field.annotation
        if isinstance(inner, type) and issubclass(inner, StrictModel):
            rows.append(f"| `{key}` | {_cell(field.description or '')} | |")
            rows += _model_rows(inner, key + ".")
            continue
        default = field.get_default(call_default_factory=True)
        shown = "" if default is None else f"`{default}`"
        rows.append(f"| `{key}` | {_cell(field.description or '')} | {shown} |")
    return rows


def render_docs() -> str:
    """The generated section of docs/configuration.md: govcloud.yaml keys, environment, state layout."""
    out = [DOCS_BEGIN, "", "### govcloud.yaml keys", "", "| key | meaning | default |", "|---|---|---|"]
    out += _model_rows(GovcloudSettings)
    out += ["", "### Environment variables", "", "| variable | meaning | when unset | read by |",
            "|---|---|---|---|"]
    for v in ENVIRONMENT:
        name = f"`{v.name}`" + (" (with " + ", ".join(f"`{n}`" for n in v.also) + ")" if v.also else "")
        meaning = v.meaning + (" (secret: masked in output, logs and audit records)" if v.secret else "")
        out.append(f"| {name} | {_cell(meaning)} | {_cell(v.default)} | {_cell(v.reader)} |")
    out += ["", "### The state directory", "", "| path | holds |", "|---|---|"]
    out += [f"| `{p}` | {_cell(what)} |" for p, what in STATE_LAYOUT]
    out += ["", DOCS_END]
    return "\n".join(out) + "\n"


def update_docs(text: str) -> str:
    """`text` (a markdown file) with its generated section replaced by render_docs()."""
    head, sep, rest = text.partition(DOCS_BEGIN)
    if not sep:
        return text.rstrip("\n") + "\n\n" + render_docs()
    _, sep2, tail = rest.partition(DOCS_END)
    return head + render_docs() + (tail.lstrip("\n") if sep2 else "")


if __name__ == "__main__":  # python -m govcloud.settings [FILE]: print the section, or rewrite it in FILE
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.write_text(update_docs(target.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        sys.stdout.write(render_docs())
