"""The OpenStack resource types govcloud creates, and what each one is: one table, read by every stage.

The compiler plans these types, the program turns them into pulumi_openstack
resources with the options below, the review and the data-loss guard read
`stateful`, recovery and drift look them up by type, and the policy pack
counts them. Adding a type (a file share, a database instance) is one row here;
nothing else keeps its own list.

Traits:
- `stateful`: it holds data (a volume, a bucket). Protected in the state;
  deleting or replacing it is data loss and needs --allow-data-loss.
- `delete_before_replace`: the cloud identifies it by its content or name, so
  a second copy cannot exist next to the first: a security group rule (Neutron
  refuses a duplicate rule, and a description change replaces the rule), a
  router interface, a floating IP association, a volume attachment, a keypair,
  an object storage container (creating the "new" container is a no-op and
  deleting the "old" one would delete it), and a server, which is bound to its
  port (Nova refuses a second server on a port in use).
- `timeouts`: the operations whose timeout the resource honours (the Terraform
  resources' `Timeouts` in terraform-provider-openstack); the engine warns
  about others.
- `ignored_changes`: property changes the program deliberately does not apply
  (a server's user data: see govcloud.engine.program).

Input names: the plan writes the SDK's snake_case names (`port_range_min`),
the engine's state holds the provider's camelCase ones (`portRangeMin`);
`state_name` and `plan_name` translate between the two.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

NETWORK = "openstack:networking/network:Network"
SUBNET = "openstack:networking/subnet:Subnet"
ROUTER = "openstack:networking/router:Router"
ROUTER_INTERFACE = "openstack:networking/routerInterface:RouterInterface"
SECGROUP = "openstack:networking/secGroup:SecGroup"
SECGROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
PORT = "openstack:networking/port:Port"
FLOATING_IP = "openstack:networking/floatingIp:FloatingIp"
FLOATING_IP_ASSOCIATE = "openstack:networking/floatingIpAssociate:FloatingIpAssociate"
INSTANCE = "openstack:compute/instance:Instance"
SERVER_GROUP = "openstack:compute/serverGroup:ServerGroup"
KEYPAIR = "openstack:compute/keypair:Keypair"
VOLUME = "openstack:blockstorage/volume:Volume"
VOLUME_ATTACH = "openstack:compute/volumeAttach:VolumeAttach"
CONTAINER = "openstack:objectstorage/container:Container"

DEFAULT_TIMEOUT = "10m"
_UPPER = re.compile(r"(?<!^)(?=[A-Z])")
_CD = ("create", "delete")


@dataclass(frozen=True, slots=True)
class ResourceType:
    token: str
    stateful: bool = False
    delete_before_replace: bool = False
    timeouts: tuple[str, ...] = ()
    ignored_changes: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """The short name people read: `openstack:compute/instance:Instance` -> `Instance`."""
        return self.token.rsplit(":", 1)[-1]


RESOURCE_TYPES: MappingProxyType[str, ResourceType] = MappingProxyType({t.token: t for t in (
    ResourceType(NETWORK, timeouts=_CD),
    ResourceType(SUBNET, timeouts=_CD),
    ResourceType(ROUTER, timeouts=_CD),
    ResourceType(ROUTER_INTERFACE, delete_before_replace=True, timeouts=_CD),
    ResourceType(SECGROUP, timeouts=("delete",)),
    ResourceType(SECGROUP_RULE, delete_before_replace=True, timeouts=("delete",)),
    ResourceType(PORT, timeouts=_CD),
    ResourceType(FLOATING_IP, timeouts=_CD),
    ResourceType(FLOATING_IP_ASSOCIATE, delete_before_replace=True),
    ResourceType(INSTANCE, delete_before_replace=True, timeouts=("create", "update", "delete"),
                 ignored_changes=("user_data",)),
    ResourceType(SERVER_GROUP),
    ResourceType(KEYPAIR, delete_before_replace=True),
    ResourceType(VOLUME, stateful=True, timeouts=_CD),
    ResourceType(VOLUME_ATTACH, delete_before_replace=True, timeouts=_CD),
    ResourceType(CONTAINER, stateful=True, delete_before_replace=True),
)})

STATEFUL_TYPES = frozenset(t.token for t in RESOURCE_TYPES.values() if t.stateful)
# a server's image: changing it is shown as an update, but it rebuilds the server and empties its root disk
IMAGE_FIELDS = ("imageName", "imageId")


def resource_type(token: str) -> ResourceType:
    """The traits of a type token; an unknown type has none (not stateful, default options)."""
    return RESOURCE_TYPES.get(token) or ResourceType(token)


def state_name(plan_name: str) -> str:
    """`port_range_min` -> `portRangeMin` (the provider's name for a plan input in the engine's state)."""
    head, *rest = plan_name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def plan_name(state_name: str) -> str:
    """`portRangeMin` -> `port_range_min`."""
    return _UPPER.sub("_", state_name).lower()
