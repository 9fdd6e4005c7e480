"""The ministry's baseline policy pack (GC001-GC017, quotas in quotas.py).

Each rule is one small class: id, title, severity, the field it points at,
a remediation hint, and a docstring that becomes its documentation in
docs/policies.md. Rules only read what the engine precomputed once (site
facts, classified ingress sources) and walk each manifest once: the cost of
the pack is linear in the number of resources.
"""
from __future__ import annotations

import ipaddress
from typing import Iterable

from govcloud.policy.core import ADMIN_PORT_NAMES, ADVISORY, MANDATORY, GroupContext, GroupRule, Rule, ServiceContext, Violation

ENVIRONMENT_WORDS = frozenset({"dev", "development", "test", "testing", "staging", "prod", "production"})
HOSTNAME_MAX = 63


class AdminPortsFromInternet(Rule):
    """Administration and database ports must never be open to the whole internet.

    Fails for every ingress rule whose source is `0.0.0.0/0` or `::/0` and
    whose port (or port range) includes SSH 22, RDP 3389, PostgreSQL 5432,
    MySQL 3306, SQL Server 1433, Oracle 1521, MongoDB 27017 or Redis 6379
    (the list is `settings.adminPorts`), whatever the classification.
    """

    id = "GC001"
    title = "Administration or database port open to the internet"
    severity = MANDATORY
    resource = "spec.network.ingress[].from"
    hint = "allow these ports from the government backbone only (e.g. from: 10.0.0.0/8) or through a bastion/VPN"
    settings = ("adminPorts",)

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        ports = svc.settings.admin_ports
        for i, rule, src in svc.ingress_sources:
            if not src.world or rule.protocol == "icmp":
                continue
            hi = rule.port_max or rule.port
            hit = sorted(p for p in ports if rule.port <= p <= hi)
            if hit:
                names = ", ".join(f"{ADMIN_PORT_NAMES.get(p, 'port')} {p}" for p in hit)
                yield Violation(("spec", "network", "ingress", i, "from"),
                                f"ingress '{rule.name}' opens {names} to {rule.from_} (the whole internet)")


class InternetIngressSensitive(Rule):
    """Restricted and secret services accept no traffic from the internet.

    Fails for every ingress rule of a `restricted` or `secret` service whose
    source is not inside a trusted network: `0.0.0.0/0`, `::/0`, or any
    other public range. Trusted networks are `settings.trustedNetworks`
    (default: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and fc00::/7).
    """

    id = "GC002"
    title = "Internet ingress to a restricted or secret service"
    severity = MANDATORY
    resource = "spec.network.ingress[].from"
    hint = "restricted and secret services are reached from the government backbone only (a private source range)"
    settings = ("trustedNetworks",)

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        if not svc.sensitive:
            return
        for i, rule, _ in svc.internet_ingress:
            yield Violation(("spec", "network", "ingress", i, "from"),
                            f"ingress '{rule.name}' admits {rule.from_}, which is not a private network, "
                            f"to a {svc.classification} service")


class DataResidency(Rule):
    """Restricted and secret data stays in the country.

    Fails when a `restricted` or `secret` service names a site whose
    `residency` (in inventories/sites/) is not `domestic`.
    """

    id = "GC003"
    title = "Restricted or secret service on a site abroad"
    severity = MANDATORY
    resource = "spec.site"
    hint = "choose a domestic site (thr1, isf1, ...) or lower the classification if the data allows it"

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        if svc.sensitive and svc.facts.residency != "domestic":
            yield Violation(("spec", "site"), f"site '{svc.site_name}' has residency '{svc.facts.residency}'; "
                                              f"{svc.classification} data must stay on a domestic site")


class UnencryptedVolume(Rule):
    """Volumes of restricted and secret services are encrypted at rest.

    Fails for every volume of a `restricted` or `secret` service whose
    volume type is not `encrypted: true` at the site.
    """

    id = "GC004"
    title = "Unencrypted volume in a restricted or secret service"
    severity = MANDATORY
    resource = "spec.servers[].volumes[].type"
    hint = "use a volume type with encrypted: true at the site (usually 'encrypted')"

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        if not svc.sensitive:
            return
        encrypted = svc.facts.encrypted_types
        for si, server in enumerate(svc.spec.servers):
            for vi, vol in enumerate(server.volumes):
                if vol.type not in encrypted:
                    choices = ", ".join(sorted(encrypted)) or "none at this site"
                    yield Violation(("spec", "servers", si, "volumes", vi, "type"),
                                    f"volume '{vol.name}' of server '{server.name}' has the unencrypted type "
                                    f"'{vol.type}' (encrypted types at {svc.site_name}: {choices})")


class PublicBucket(Rule):
    """Only `public` services publish buckets.

    Fails for every bucket with `public: true` in a service whose
    classification is not `public` (a public bucket is readable and listable
    by anyone on the internet).
    """

    id = "GC005"
    title = "Public bucket in a non-public service"
    severity = MANDATORY
    resource = "spec.buckets[].public"
    hint = "set public: false, or move the published data to a service classified public"

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        if svc.classification == "public":
            return
        for bi, bucket in enumerate(svc.spec.buckets):
            if bucket.public:
                yield Violation(("spec", "buckets", bi, "public"), f"bucket '{bucket.name}' is world-readable "
                                                                     f"in a service classified {svc.classification}")


class PublicIpInternalService(Rule):
    """Servers of internal-only services get no public IP.

    A service is internal-only when it is `restricted` or `secret`, or when
    none of its ingress rules admits a source outside the trusted networks
    (nobody on the internet could use the address). Fails for every server
    with `publicIp: true` in such a service.
    """

    id = "GC006"
    title = "Public IP on a server of an internal-only service"
    severity = MANDATORY
    resource = "spec.servers[].publicIp"
    hint = "remove publicIp (reach the server over the government backbone), or add the public ingress it serves"

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        servers = [(i, s) for i, s in enumerate(svc.spec.servers) if s.public_ip]
        if not servers:
            return
        if svc.sensitive:
            why = f"the service is {svc.classification}"
        elif not svc.internet_ingress:
            why = "no ingress rule admits the internet"
        else:
            return
        for i, server in servers:
            yield Violation(("spec", "servers", i, "publicIp"),
                            f"server '{server.name}' asks for a public IP but {why}")


class OwnerAndCostCenter(Rule):
    """Every service names an owner (an e-mail address) and a cost center.

    Without them nobody can be called when the service breaks and its usage
    cannot be charged back. Fails when `metadata.owner` or
    `metadata.costCenter` is missing.
    """

    id = "GC007"
    title = "Owner or cost center missing"
    severity = MANDATORY
    resource = "metadata.owner, metadata.costCenter"
    hint = "add metadata.owner (the team's e-mail) and metadata.costCenter (e.g. MOH-IT-042)"

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        md = svc.metadata
        if not md.owner:
            yield Violation(("metadata", "owner"), "the service has no owner", at=("metadata",), key=True)
        if not md.cost_center:
            yield Violation(("metadata", "costCenter"), "the service has no cost center", at=("metadata",), key=True)


class UnapprovedImage(Rule):
    """Servers run images the site has approved.

    Fails for every server whose image alias is not `approved: true` in the
    site's inventory (e.g. unhardened or end-of-life images).
    """

    id = "GC008"
    title = "Image not approved at the site"
    severity = MANDATORY
    resource = "spec.servers[].image"
    hint = "use an approved image of the site (see inventories/sites/<site>.yaml)"

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        approved = svc.facts.approved_images
        for i, server in enumerate(svc.spec.servers):
            if server.image not in approved:
                yield Violation(("spec", "servers", i, "image"),
                                f"image '{server.image}' is not approved at {svc.site_name} "
                                f"(approved: {', '.join(sorted(approved)) or 'none'})")


class SizeCeiling(Rule):
    """Servers stay within the environment's size ceiling.

    `settings.sizeCeiling` gives, per environment, the most vCPUs and RAM
    one server may have; by default dev and test allow 4 vCPU / 16 GB
    (`large` at every shipped site: no `xlarge` or bigger), staging and prod
    have no ceiling. The size is compared by its vCPUs and RAM at the
    service's site, so the rule holds whatever the sizes are called.
    """

    id = "GC009"
    title = "Server size above the environment's ceiling"
    severity = MANDATORY
    resource = "spec.servers[].size"
    hint = "pick a smaller size for this environment, or deploy the big one to staging or prod"
    settings = ("sizeCeiling",)

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        ceiling = svc.settings.size_ceiling.get(svc.environment)
        if ceiling is None:
            return
        sizes = svc.facts.sizes
        for i, server in enumerate(svc.spec.servers):
            vcpus, ram = sizes[server.size]
            if vcpus > ceiling.vcpus or ram > ceiling.ram_gb:
                fits = [n for n, (c, r) in sizes.items() if c <= ceiling.vcpus and r <= ceiling.ram_gb]
                yield Violation(("spec", "servers", i, "size"),
                                f"size '{server.size}' ({vcpus} vCPU / {ram:g} GB RAM) is above the "
                                f"{svc.environment} ceiling of {ceiling}",
                                hint=f"sizes within the ceiling at {svc.site_name}: {', '.join(fits) or 'none'}")


class TooManyServers(Rule):
    """Dev and test services stay small.

    `settings.maxServers` gives, per environment, the most servers
    (instances: the sum of every `count`) one manifest may run; by default 6
    in dev and in test, no limit in staging and prod. Points at the server
    entry that goes over the limit.
    """

    id = "GC010"
    title = "Too many servers for the environment"
    severity = MANDATORY
    resource = "spec.servers[].count"
    hint = "lower the counts; load tests with more servers belong in staging"
    settings = ("maxServers",)

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        limit = svc.settings.max_servers.get(svc.environment)
        if limit is None or svc.instances <= limit:
            return
        total = 0
        for i, server in enumerate(svc.spec.servers):
            total += server.count
            if total > limit:
                yield Violation(("spec", "servers", i, "count"),
                                f"{svc.instances} servers in {svc.environment}; the limit is {limit} "
                                f"(server '{server.name}' goes over it)")
                return


class SingleServerInProd(Rule):
    """Production tiers should survive the loss of one server.

    Warns for every server entry of a `prod` service with `count: 1`: that
    tier stops when its one server or hypervisor does. (With `count` 2 or
    more, govcloud places the servers in an anti-affinity group.)
    """

    id = "GC011"
    title = "Single server in production"
    severity = ADVISORY
    resource = "spec.servers[].count"
    hint = "run at least two (count: 2) for redundancy, or record why one is enough with an exception"

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        if svc.environment != "prod":
            return
        for i, server in enumerate(svc.spec.servers):
            if server.count == 1:
                yield Violation(("spec", "servers", i, "count"),
                                f"server '{server.name}' runs a single instance in prod")


class OverlappingNetworks(GroupRule):
    """Services of one agency on one site use distinct networks.

    Fails when the `spec.network.cidr` of a manifest overlaps the network of
    another manifest of the same agency on the same site, among all
    manifests checked together (a directory, plus `settings.manifestDirs`):
    overlapping subnets cannot be routed or peered later.
    """

    id = "GC012"
    title = "Network overlaps another service of the agency at the site"
    severity = MANDATORY
    resource = "spec.network.cidr"
    hint = "give each service of the agency its own range at the site (e.g. the next free /24)"
    group_by = ("agency_id", "site_name")

    def check(self, group: GroupContext) -> Iterable[Violation]:  # type: ignore[override]
        if len(group.services) < 2:
            return
        nets = [(*span(svc.spec.network.cidr), svc) for svc in group.services]
        nets.sort(key=lambda t: (t[0], t[1], -t[2]))
        other: dict[int, ServiceContext] = {}  # id(svc) -> one service it overlaps
        widest = None  # the earlier network reaching furthest
        for version, start, end, svc in nets:
            if widest is not None and widest[0] == version and start <= widest[2]:
                other.setdefault(id(svc), widest[3])
                other.setdefault(id(widest[3]), svc)
            if widest is None or widest[0] != version or end > widest[2]:
                widest = (version, start, end, svc)
        for _, _, _, svc in nets:
            o = other.get(id(svc))
            if o is not None and svc.reported:
                where = o.locator.locate(("spec", "network", "cidr"))
                yield Violation(("spec", "network", "cidr"),
                                f"{svc.spec.network.cidr} overlaps {o.spec.network.cidr} of service "
                                f"'{o.name}' ({o.environment}) at {where}",
                                service=svc, data={"other": o.file, "otherCidr": o.spec.network.cidr})


def span(cidr: str) -> tuple[int, int, int]:
    """(IP version, first address, last address) of a network, without ipaddress for plain IPv4."""
    addr, _, plen = cidr.partition("/")
    parts = addr.split(".")
    if len(parts) == 4 and plen.isdigit():
        a, b, c, d = (int(x) for x in parts)
        start = (a << 24) | (b << 16) | (c << 8) | d
        return 4, start, start | ((1 << (32 - int(plen))) - 1)
    net = ipaddress.ip_network(cidr, strict=False)
    return net.version, int(net.network_address), int(net.broadcast_address)


class NamingScheme(Rule):
    """Names follow the naming scheme.

    Every OpenStack resource is named `<agency>-<environment>-<service>-<part>`
    (e.g. `moh-prod-patient-portal-web-1`), so the parts must not repeat
    each other:

    - a word of the service name (the parts between `-`) may not be the
      agency id (`moh-portal` in agency moh) nor an environment name (`dev`,
      `development`, `test`, `testing`, `staging`, `prod`, `production`):
      the environment is chosen by `metadata.environment`, and the same
      manifest is promoted from dev to prod unchanged;
    - a server name may not repeat the service name (`portal` in service
      `portal`, or `portal-web`);
    - each server's host name `<agency>-<environment>-<service>-<server>-<n>`
      must fit a 63-character DNS label (cloud-init sets it as the host name).
    """

    id = "GC013"
    title = "Name breaks the naming scheme"
    severity = MANDATORY
    resource = "metadata.name, spec.servers[].name"
    hint = "name what the service does (patient-portal); agency and environment are added to every name"

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        name = svc.name
        words = name.split("-")
        if svc.agency_id in words:
            yield Violation(("metadata", "name"), f"service name '{name}' repeats the agency id '{svc.agency_id}'")
        envs = [w for w in words if w in ENVIRONMENT_WORDS]
        if envs:
            yield Violation(("metadata", "name"), f"service name '{name}' contains the environment word "
                                                  f"'{envs[0]}'")
        prefix_len = len(svc.plan.service.prefix)
        for i, server in enumerate(svc.spec.servers):
            if server.name == name or server.name.startswith(name + "-"):
                yield Violation(("spec", "servers", i, "name"),
                                f"server name '{server.name}' repeats the service name '{name}'")
            host = prefix_len + 1 + len(server.name) + 1 + len(str(server.count))
            if host > HOSTNAME_MAX:
                yield Violation(("spec", "servers", i, "name"),
                                f"host name {svc.plan.service.prefix}-{server.name}-{server.count} has {host} "
                                f"characters; at most {HOSTNAME_MAX} fit a DNS label",
                                hint="shorten the service or server name")


class HealthCheckInProd(Rule):
    """Production servers declare a health check.

    Warns for every server of a `prod` service without `healthCheck`
    (a port, a command or both): `govcloud verify` and the operators'
    monitoring have nothing to check otherwise.
    """

    id = "GC014"
    title = "Production server without a health check"
    severity = ADVISORY
    resource = "spec.servers[].healthCheck"
    hint = "add healthCheck: {port: ..., command: \"systemctl is-active ...\"}"

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        if svc.environment != "prod":
            return
        for i, server in enumerate(svc.spec.servers):
            if server.health_check is None:
                yield Violation(("spec", "servers", i, "healthCheck"),
                                f"server '{server.name}' has no health check", at=("spec", "servers", i))


class DuplicateServiceName(GroupRule):
    """A service name is used once per agency and environment.

    The Pulumi stack of a service is `govcloud-<agency>/<service>-<environment>`
    whatever its site, so two manifests with the same agency, environment and
    name would overwrite each other's resources. Fails for each such manifest,
    among all manifests checked together.
    """

    id = "GC016"
    title = "Service name used twice in an agency and environment"
    severity = MANDATORY
    resource = "metadata.name"
    hint = "rename one of the services (names are unique per agency and environment)"
    group_by = ("agency_id", "environment")

    def check(self, group: GroupContext) -> Iterable[Violation]:  # type: ignore[override]
        first: dict[str, ServiceContext] = {}
        dups: dict[int, ServiceContext] = {}
        for svc in group.services:
            seen = first.setdefault(svc.name, svc)
            if seen is not svc:
                dups[id(svc)] = seen
                dups.setdefault(id(seen), svc)
        for svc in group.services:
            o = dups.get(id(svc))
            if o is not None and svc.reported:
                yield Violation(("metadata", "name"),
                                f"service '{svc.name}' ({svc.agency_id}, {svc.environment}) is also defined at "
                                f"{o.locator.locate(('metadata', 'name'))}", service=svc, data={"other": o.file})


class PublishedDataPublic(Rule):
    """What the national catalog publishes is public.

    The catalog (`govcloud catalog build`) lists every `publish` section for
    everyone, and open data is downloaded by anyone. Fails when a
    `restricted` or `secret` service has a `publish` section at all; when a
    service not classified `public` lists `publish.openData`; and for every
    open dataset whose `bucket` is not a bucket of the same manifest or is
    not `public: true` (its file could not be downloaded).
    """

    id = "GC017"
    title = "Published data is not public"
    severity = MANDATORY
    resource = "spec.publish, spec.publish.openData[].bucket"
    hint = ("publish open data from a public bucket of a service classified public; restricted and secret "
            "services are not published")

    def check(self, svc: ServiceContext) -> Iterable[Violation]:
        publish = svc.spec.publish
        if publish is None:
            return
        if svc.sensitive:
            yield Violation(("spec", "publish"), f"a {svc.classification} service cannot be published in the "
                                                 f"national catalog", key=True)
            return
        buckets = {b.name: b for b in svc.spec.buckets}
        for i, data in enumerate(publish.open_data):
            if svc.classification != "public":
                yield Violation(("spec", "publish", "openData", i, "name"),
                                f"open dataset '{data.name}' is published by a service classified "
                                f"{svc.classification}")
                continue
            if data.bucket is None:
                continue
            bucket = buckets.get(data.bucket)
            where = ("spec", "publish", "openData", i, "bucket")
            if bucket is None:
                yield Violation(where, f"open dataset '{data.name}' names bucket '{data.bucket}', which is not a "
                                       f"bucket of this manifest (buckets: {', '.join(buckets) or 'none'})")
            elif not bucket.public:
                yield Violation(where, f"open dataset '{data.name}' sits in bucket '{data.bucket}', which is not "
                                       f"public (anonymous downloads would be refused)")
