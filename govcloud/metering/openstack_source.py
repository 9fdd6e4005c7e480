"""The real Source: the cloud's own APIs through openstacksdk (imported lazily).

Credentials come from clouds.yaml / OS_CLOUD / OS_* like every OpenStack tool,
through govcloud/cloud/credentials.py (the engine's path too); a site names its
clouds.yaml entry (`Site.cloud`). Collection needs an admin
(or reader with all-projects rights): os-simple-tenant-usage for every
project, all_tenants volume listings, every floating IP; Swift accounts are
read by scoping to each agency project in turn.
"""
from __future__ import annotations

from datetime import datetime

from govcloud.errors import CloudError
from govcloud.metering.collect import ContainerSeen, FloatingIpSeen, ServerSeen, ServerUsage, VolumeSeen
from govcloud.metering.periods import UTC, parse_instant, quantize


def _naive_utc(dt: datetime) -> datetime:
    # Nova's usage API wants "YYYY-MM-DDTHH:MM:SS" without an offset
    return dt.astimezone(UTC).replace(tzinfo=None)


class OpenStackSource:
    def __init__(self, cloud: str, region: str | None = None, connection=None):
        if connection is None:
            from govcloud.cloud.credentials import connect

            try:
                connection = connect(cloud, region=region, api_timeout=120)
                connection.authorize()
            except Exception as exc:  # noqa: BLE001 - any failure (no credentials too): "cannot reach the cloud"
                raise CloudError(f"cannot connect to cloud '{cloud}' (clouds.yaml / OS_CLOUD): "
                                 f"{type(exc).__name__}: {exc}") from None
        self.conn = connection
        self.cloud = cloud
        self._project_conns: dict[str, object] = {}

    def now(self) -> datetime:
        return datetime.now(UTC)

    def projects(self) -> dict[str, str]:
        try:
            return {p.id: p.name for p in self.conn.identity.projects()}
        except Exception as exc:  # noqa: BLE001 - nothing can be attributed without the projects
            raise CloudError(f"cannot list the projects of cloud '{self.cloud}' (needs an admin): "
                             f"{type(exc).__name__}: {exc}") from None

    def server_usage(self, start: datetime, end: datetime) -> list[ServerUsage]:
        out: dict[str, ServerUsage] = {}
        # detailed=1 lists every server of every project; from microversion 2.40 the
        # answer is paged and openstacksdk follows the links (one project may span pages)
        for usage in self.conn.compute.usages(start=_naive_utc(start), end=_naive_utc(end), detailed="1"):
            for s in usage.server_usages or ():
                su = s if isinstance(s, dict) else s.to_dict()
                pid = su.get("tenant_id") or su.get("project_id") or usage.project_id
                hours = quantize(su.get("hours") or 0)
                prev = out.get(su["instance_id"])
                if prev is not None:  # the same server twice (paging): keep the larger window
                    if prev.hours >= hours:
                        continue
                out[su["instance_id"]] = ServerUsage(
                    su["instance_id"], su.get("name") or "", pid, hours, int(su.get("vcpus") or 0),
                    int(su.get("memory_mb") or 0), int(su.get("local_gb") or 0), su.get("flavor") or "",
                    su.get("state") or "")
        return list(out.values())

    def servers(self) -> list[ServerSeen]:
        return [ServerSeen(s.id, s.name or "", s.project_id, dict(s.metadata or {}), parse_instant(s.created_at))
                for s in self.conn.compute.servers(details=True, all_projects=True)]

    def volumes(self) -> list[VolumeSeen]:
        return [VolumeSeen(v.id, v.name or "", v.project_id, int(v.size or 0), v.volume_type or "", v.status or "",
                           parse_instant(v.created_at), dict(v.metadata or {}))
                for v in self.conn.block_storage.volumes(details=True, all_projects=True)]

    def floating_ips(self) -> list[FloatingIpSeen]:
        return [FloatingIpSeen(f.id, f.floating_ip_address or "", f.project_id, parse_instant(f.created_at),
                               tuple(f.tags or ()))
                for f in self.conn.network.ips()]

    def _as_project(self, project_id: str):
        if project_id not in self._project_conns:
            self._project_conns[project_id] = self.conn.connect_as(project_id=project_id)
        return self._project_conns[project_id]

    def containers(self, project_id: str) -> list[ContainerSeen]:
        conn = self._as_project(project_id)
        out = []
        for c in conn.object_store.containers():
            # the account listing lags behind writes; the container HEAD is authoritative
            head = conn.object_store.get_container_metadata(c.name)
            out.append(ContainerSeen(project_id, c.name, int(head.bytes_used or 0), parse_instant(head.timestamp),
                                     dict(head.metadata or {})))
        return out
