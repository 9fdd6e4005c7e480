"""Nova scheduler filter for the one-host dev cloud (loaded by nova-scheduler
through [filter_scheduler] available_filters; PYTHONPATH=<root>/lib).

The dev cloud has a single (fake) compute host, so a real anti-affinity server
group could never place its second member (govcloud gives every server with
count > 1 such a group).  This class replaces Nova's ServerGroupAntiAffinityFilter
under the same name - the name must stay in enabled_filters, or nova-conductor
rejects anti-affinity groups outright - and lets every host pass.  Together with
[workarounds] disable_group_policy_check_upcall = true (the compute-side
re-check), anti-affinity groups are accepted and recorded but not enforced.
Affinity and the soft-* policies are Nova's own code, unchanged.
"""
from nova.scheduler import filters


class ServerGroupAntiAffinityFilter(filters.BaseHostFilter):
    RUN_ON_REBUILD = False

    def host_passes(self, host_state, spec_obj):
        return True
