"""OpenStack credentials, read the way the OpenStack CLI reads them: the one path for the engine's
provider, recovery, onboarding, drift checks and metering.

openstacksdk's OpenStackConfig: clouds.yaml in ./, ~/.config/openstack/, /etc/openstack/ or
OS_CLIENT_CONFIG_FILE; the entry named by the site's `cloud`, else OS_CLOUD, else the OS_* variables;
the agency's project replaces the entry's project and the site's region is used. They configure the
program's explicit provider; the password is a secret there, so the state holds it encrypted.
"""
from __future__ import annotations

from govcloud.errors import NoCredentials, SetupError
from govcloud.plan.model import ResourcePlan
from govcloud.settings import env






def cloud_region(cloud: str | None, project: str | None = None, region: str | None = None,
                 api_timeout: float | None = None):
    """openstacksdk's CloudRegion for a clouds.yaml entry (or OS_CLOUD / OS_* when the entry is absent),
    scoped to `project` when given; `api_timeout` (seconds per API call) unless the entry sets its own."""
    try:
        import openstack.config
        from openstack import exceptions as os_exc
    except ImportError as exc:  # pragma: no cover - a dependency
        raise SetupError(f"openstacksdk is not installed: {exc}") from None
    cfg = openstack.config.OpenStackConfig()
    names = [c for c in (cloud, env("OS_CLOUD")) if c]
    known = set(cfg.get_cloud_names())
    chosen = next((n for n in names if n in known), None)
    try:
        if chosen is not None:
            cc = cfg.get_one(cloud=chosen)
        elif "envvars" in known or env("OS_AUTH_URL"):
            cc = cfg.get_one(cloud="envvars" if "envvars" in known else None)
        else:
            raise NoCredentials(
                f"no OpenStack credentials for cloud '{cloud}': add an entry '{cloud}' to clouds.yaml "
                f"(~/.config/openstack/clouds.yaml, ./clouds.yaml, /etc/openstack/clouds.yaml or the file in "
                f"OS_CLIENT_CONFIG_FILE), or set OS_CLOUD to an entry, or the OS_* variables (OS_AUTH_URL, "
                f"OS_USERNAME, OS_PASSWORD, ...). Entries found: {', '.join(sorted(known - {'envvars'})) or 'none'}")
    except os_exc.ConfigException as exc:
        raise SetupError(f"OpenStack configuration of cloud '{chosen or cloud}': {exc}") from None
    if not (project or region or api_timeout):
        return cc
    # get_one deep-merges overrides into the entry (a project_id there would stay and win), and the auth
    # plugin is built inside get_one: rebuild the region from the edited config alone (no files, no env)
    import copy

    conf = copy.deepcopy(cc.config)
    conf.pop("name", None)
    auth = conf.setdefault("auth", {})
    if project and conf.get("auth_type", "password") not in ("v3applicationcredential",):
        for k in ("project_id", "tenant_id", "tenant_name"):
            auth.pop(k, None)
        auth["project_name"] = project
    if region:
        conf["region_name"] = region
    if api_timeout and not conf.get("api_timeout"):
        conf["api_timeout"] = api_timeout
    try:
        return openstack.config.OpenStackConfig(load_yaml_config=False, load_envvars=False).get_one(**conf)
    except os_exc.ConfigException as exc:
        raise SetupError(f"OpenStack configuration of cloud '{chosen or cloud}': {exc}") from None


def provider_config(plan: ResourcePlan):
    """The program's ProviderConfig for the plan's site cloud and the agency's project."""
    from govcloud.engine.program import ProviderConfig

    cc = cloud_region(plan.service.cloud, plan.service.project, plan.service.region)
    auth = cc.config.get("auth", {})
    auth_url = auth.get("auth_url")
    if not auth_url:
        raise SetupError(f"cloud '{plan.service.cloud}' has no auth_url in clouds.yaml / OS_AUTH_URL")
    verify = cc.config.get("verify", True)
    cacert = cc.config.get("cacert")
    interface = cc.config.get("interface")
    return ProviderConfig(
        auth_url=auth_url, region=plan.service.region, project=plan.service.project,
        user_name=auth.get("username"), password=auth.get("password"),
        user_domain_name=auth.get("user_domain_name") or (None if auth.get("user_domain_id") else
                                                          auth.get("domain_name")),
        project_domain_name=auth.get("project_domain_name") or (None if auth.get("project_domain_id") else
                                                                auth.get("domain_name")),
        user_domain_id=auth.get("user_domain_id"), project_domain_id=auth.get("project_domain_id"),
        application_credential_id=auth.get("application_credential_id"),
        application_credential_secret=auth.get("application_credential_secret"),
        token=auth.get("token"), endpoint_type=interface if interface in ("public", "internal", "admin") else None,
        insecure=True if verify is False else None, cacert_file=cacert or None,
        cert=cc.config.get("cert"), key=cc.config.get("key"),
    )


def connect(cloud: str | None, project: str | None = None, region: str | None = None,
            api_timeout: float | None = None):
    """An openstacksdk Connection to the site's cloud, in the agency's project."""
    import openstack.connection

    return openstack.connection.Connection(config=cloud_region(cloud, project, region, api_timeout))
