"""The Pulumi inline program: one pulumi_openstack resource per ResourcePlan entry, nothing else.

`build_program(plan)` returns the function the Automation API runs. It creates

- one explicit `pulumi_openstack.Provider` ("openstack-<site>") configured from
  the site's cloud (`ProviderConfig`, resolved by govcloud.engine from
  clouds.yaml / OS_* the way the OpenStack CLI does), with the region of the
  site and the agency's project; the password goes in as a secret, so the
  state file only ever holds it encrypted. Every resource uses this provider:
  a stray OS_* variable can never redirect a resource to another project;
- one resource per plan entry, of the type in `PlannedResource.type`, named
  by its `key` (the logical name in the URN), with the entry's inputs.
  `Ref(key, attr)` becomes that resource's output attribute (`.id`,
  `.address`, `.name`); `Lookup("network", name)` becomes the id of
  `openstack.networking.get_network(name=...)` (one lookup per name);
- the stack outputs: `servers` ({openstack name: {key, fixedIp, floatingIp,
  id}}), `networkId`, `subnetId`, `routerId`, `securityGroupId`, `volumes`
  ({openstack name: {id, server}}) and `buckets` ([names]), each a secret in
  the state (encrypted with the stack's passphrase: another agency's CI,
  with its own passphrase, cannot read them from a shared backend). A run
  with a `record` keeps their plain values there once all are known (an
  up): the engine child hands those to its parent instead of reading them
  back from the state with the CLI.

Resource options, per entry:

- `depends_on` from the plan (ordering beyond the Refs in the inputs);
- `custom_timeouts` (10 minutes; the provider's default is 30) for the
  operations each resource type honours (govcloud.plan.resources), so a stuck API call
  fails a deploy instead of hanging CI;
- stateful entries (volumes, buckets: `stateful=True`) get `protect=True` and
  `retain_on_delete=True`: neither a manifest edit nor a destroy can delete
  their data. `allow_data_loss=True` (deploy/destroy --allow-data-loss)
  builds them unprotected. Protection recorded in the state by an earlier
  run still applies to resources the program no longer declares, so the
  engine module also clears it in the state before such a run;
- `delete_before_replace` for resources the cloud cannot hold twice
  (the table in govcloud.plan.resources: rules, router interfaces, floating IP
  associations, volume attachments, keypairs, containers, and servers,
  which are bound to their port);
- instances get `ignore_changes=["user_data"]`. Changing a server's
  `user_data` forces the provider to destroy and recreate the server, and
  cloud-init reads user data only on first boot anyway. So a template or
  manifest change that alters user data does not touch existing servers:
  new servers (a grown count) get the new user data, existing ones keep
  theirs. The review says so for every server whose user data differs from
  the deployed one (govcloud.engine.user_data_drift), and
  `govcloud deploy --replace <key>` rebuilds a server on purpose.

Nothing here talks to a cloud by itself: under `pulumi.runtime.set_mocks` the
same program runs offline (tests/program).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from govcloud.plan.model import Lookup, PlannedResource, Ref, ResourcePlan
from govcloud.plan.resources import CONTAINER, DEFAULT_TIMEOUT, FLOATING_IP_ASSOCIATE, INSTANCE, NETWORK, ROUTER, SECGROUP, SUBNET, VOLUME, resource_type



@dataclass(frozen=True)
class ProviderConfig:
    """What the explicit OpenStack provider is configured with (built by govcloud.engine)."""

    auth_url: str
    region: str
    project: str  # the agency's project (tenant_name)
    user_name: str | None = None
    password: str | None = field(default=None, repr=False)
    user_domain_name: str | None = None
    project_domain_name: str | None = None
    user_domain_id: str | None = None
    project_domain_id: str | None = None
    application_credential_id: str | None = None
    application_credential_secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    endpoint_type: str | None = None  # public | internal | admin
    insecure: bool | None = None
    cacert_file: str | None = None
    cert: str | None = None
    key: str | None = None

    SECRET_FIELDS = ("password", "application_credential_secret", "token")

    def provider_args(self) -> dict[str, Any]:
        """Keyword arguments of pulumi_openstack.Provider (secrets still plain: the program wraps them)."""
        args = {"auth_url": self.auth_url, "region": self.region, "tenant_name": self.project}
        for name in ("user_name", "password", "user_domain_name", "project_domain_name", "user_domain_id",
                     "project_domain_id", "application_credential_id", "application_credential_secret",
                     "token", "endpoint_type", "insecure", "cacert_file", "cert", "key"):
            value = getattr(self, name)
            if value is not None and value != "":
                args[name] = value
        return args


def placeholder_provider_config(plan: ResourcePlan) -> ProviderConfig:
    """A provider configuration that reaches no cloud (for tests and offline previews of the program)."""
    return ProviderConfig(auth_url="http://127.0.0.1:9/v3", region=plan.service.region,
                          project=plan.service.project, user_name="govcloud", password="unused",
                          user_domain_name="Default", project_domain_name="Default")


def resource_class(type_token: str):
    """`openstack:networking/network:Network` -> pulumi_openstack.networking.Network."""
    try:
        pkg, middle, cls = type_token.split(":")
        module = middle.split("/")[0]
    except ValueError:
        raise ValueError(f"not a Pulumi resource type token: {type_token!r}") from None
    if pkg != "openstack":
        raise ValueError(f"{type_token}: govcloud only creates pulumi_openstack resources")
    mod = importlib.import_module(f"pulumi_openstack.{module}")
    try:
        return getattr(mod, cls)
    except AttributeError:
        raise ValueError(f"{type_token}: pulumi_openstack.{module} has no resource {cls}") from None


def resource_options(entry: PlannedResource, provider: Any, depends_on: list[Any], *,
                     allow_data_loss: bool = False):
    """The ResourceOptions of one plan entry (see the module docstring)."""
    import pulumi

    opts: dict[str, Any] = {"provider": provider}
    traits = resource_type(entry.type)
    timeouts = traits.timeouts
    if timeouts:
        opts["custom_timeouts"] = pulumi.CustomTimeouts(**{op: DEFAULT_TIMEOUT for op in timeouts})
    if depends_on:
        opts["depends_on"] = depends_on
    if traits.delete_before_replace:
        opts["delete_before_replace"] = True
    if entry.stateful:
        keep = not allow_data_loss
        opts["protect"] = keep
        opts["retain_on_delete"] = keep
    ignored = traits.ignored_changes or None
    if entry.import_id:
        # adopt what exists outside govcloud: the engine reads it into the state. An import whose inputs
        # differ from the cloud's fails, so they are ignored for this one run; the next run applies them.
        opts["import_"] = entry.import_id
        ignored = tuple(dict.fromkeys([*(ignored or ()), *entry.inputs]))
    if ignored:
        opts["ignore_changes"] = list(ignored)
    return pulumi.ResourceOptions(**opts)


@dataclass
class ProgramRun:
    """What one run of the program created (filled while it runs; used by tests and outputs)."""

    provider: Any = None
    resources: dict[str, Any] = field(default_factory=dict)  # plan key -> pulumi resource
    lookups: dict[str, Any] = field(default_factory=dict)  # network name -> Output of get_network
    # the stack outputs' plain values, once every one of them is known (an up; never a preview): what
    # `pulumi stack output --show-secrets` would read back from the state afterwards
    outputs: dict[str, Any] | None = None


def build_program(plan: ResourcePlan, provider_config: ProviderConfig | None = None, *,
                  allow_data_loss: bool = False,
                  record: ProgramRun | None = None) -> Callable[[], None]:
    """The inline Pulumi program of a plan.

    `provider_config` defaults to a placeholder that reaches no cloud (fine for
    mocks); govcloud.engine passes the real one. `record`, when given, is
    filled with the resources the program creates.
    """
    config = provider_config or placeholder_provider_config(plan)
    _check_plan(plan)

    def program() -> None:
        import pulumi
        import pulumi_openstack as openstack

        run = record if record is not None else ProgramRun()
        run.resources.clear()
        run.lookups.clear()
        run.outputs = None
        args = config.provider_args()
        for secret in ProviderConfig.SECRET_FIELDS:
            if secret in args:
                args[secret] = pulumi.Output.secret(args[secret])
        provider = openstack.Provider(f"openstack-{plan.service.site}", **args)
        run.provider = provider

        def lookup(item: Lookup):
            if item.kind != "network":
                raise ValueError(f"unsupported lookup kind {item.kind!r} (only 'network')")
            if item.name not in run.lookups:
                run.lookups[item.name] = openstack.networking.get_network_output(
                    name=item.name, opts=pulumi.InvokeOutputOptions(provider=provider))
            return run.lookups[item.name].id

        def resolve(value: Any) -> Any:
            if isinstance(value, Ref):
                return getattr(run.resources[value.resource], value.attr.replace("-", "_"))
            if isinstance(value, Lookup):
                return lookup(value)
            if isinstance(value, Mapping):
                return {k: resolve(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [resolve(v) for v in value]
            return value

        for entry in plan.resources:  # the compiler emits entries after the ones they refer to
            cls = resource_class(entry.type)
            deps = [run.resources[k] for k in entry.depends_on]
            opts = resource_options(entry, provider, deps, allow_data_loss=allow_data_loss)
            inputs = resolve(dict(entry.inputs))
            run.resources[entry.key] = cls(entry.key, **inputs, opts=opts)

        outputs = stack_outputs(plan, run.resources)
        for name, value in outputs.items():
            pulumi.export(name, value)
        # runs only when all are known (not in a preview); the engine child hands them to its parent
        pulumi.Output.all(**outputs).apply(lambda values: setattr(run, "outputs", dict(values)))

    return program


def _check_plan(plan: ResourcePlan) -> None:
    """Refs point at earlier entries, keys are unique: the program creates entries in plan order."""
    seen: set[str] = set()
    for entry in plan.resources:
        if entry.key in seen:
            raise ValueError(f"duplicate resource key {entry.key!r} in the plan")
        for ref in sorted(entry.refs() | set(entry.depends_on)):
            if ref not in seen:
                raise ValueError(f"{entry.key}: refers to {ref!r}, which is not an earlier entry of the plan")
        seen.add(entry.key)


def stack_outputs(plan: ResourcePlan, created: Mapping[str, Any]) -> dict[str, Any]:
    """Stack outputs from the created resources (Outputs; the engine resolves them)."""
    import pulumi

    by_key = plan.by_key()
    servers: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    buckets: list[str] = []
    out: dict[str, Any] = {}
    first = {NETWORK: "networkId", SUBNET: "subnetId", ROUTER: "routerId", SECGROUP: "securityGroupId"}
    for entry in plan.resources:
        res = created[entry.key]
        if entry.type in first and first[entry.type] not in out:
            out[first[entry.type]] = res.id
        elif entry.type == INSTANCE:
            port = _port_of(entry, created)
            fip = _floating_ip_of(entry, by_key, created, port)
            fixed = port.all_fixed_ips.apply(lambda ips: ips[0] if ips else None) if port is not None \
                else res.access_ip_v4
            servers[entry.name] = {"key": entry.key, "id": res.id, "fixedIp": fixed,
                                   "floatingIp": fip.address if fip is not None else None}
        elif entry.type == VOLUME:
            volumes[entry.name] = {"key": entry.key, "id": res.id,
                                   "server": entry.inputs.get("metadata", {}).get("govcloud:server")}
        elif entry.type == CONTAINER:
            buckets.append(entry.name)
    out["servers"] = servers
    out["volumes"] = volumes
    out["buckets"] = buckets
    out["service"] = {"agency": plan.service.agency, "environment": plan.service.environment,
                      "name": plan.service.service, "site": plan.service.site, "project": plan.service.project}
    # secrets at rest: the backend holds them encrypted with this stack's passphrase, so another agency
    # reading a shared backend (or its CI with its own passphrase) cannot read them; `govcloud outputs` decrypts
    return {k: pulumi.Output.secret(v) for k, v in out.items()}


def _port_of(instance: PlannedResource, created: Mapping[str, Any]):
    for net in instance.inputs.get("networks", ()):
        port = net.get("port") if isinstance(net, Mapping) else None
        if isinstance(port, Ref):
            return created[port.resource]
    return None


def _floating_ip_of(instance: PlannedResource, by_key: Mapping[str, PlannedResource],
                    created: Mapping[str, Any], port: Any):
    """The floating IP associated with the instance's port, if any."""
    port_key = next((k for k, r in created.items() if r is port), None)
    for entry in by_key.values():
        if entry.type != FLOATING_IP_ASSOCIATE:
            continue
        p, f = entry.inputs.get("port_id"), entry.inputs.get("floating_ip")
        if isinstance(p, Ref) and p.resource == port_key and isinstance(f, Ref):
            return created[f.resource]
    return None
