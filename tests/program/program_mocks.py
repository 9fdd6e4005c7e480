"""Running a plan's Pulumi program under Pulumi's mocks (shared by the program tests; not a test module).

The monitor records every RegisterResource request exactly as the engine would receive it (type, name,
inputs, provider, dependencies, protect, ignoreChanges, importId, ...). Pulumi's runtime keeps global state,
so each run resets it first: the tests run in one process, in any order.
"""
from __future__ import annotations

import pulumi
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await


class RecordingMonitor(pmocks.MockMonitor):
    def __init__(self, mocks):
        super().__init__(mocks)
        self.requests: dict[str, object] = {}  # name -> RegisterResourceRequest
        self.inputs: dict[str, dict] = {}
        self.urns: dict[str, str] = {}
        self.stack_outputs: dict | None = None

    def RegisterResource(self, request):
        resp = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.requests[request.name] = request
            self.inputs[request.name] = rpc.deserialize_properties(request.object)
            self.urns[request.name] = resp.urn
        return resp

    def RegisterResourceOutputs(self, request):
        if "pulumi:pulumi:Stack" in request.urn:
            self.stack_outputs = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


def run_under_mocks(mocks: pulumi.runtime.Mocks, plan, program) -> RecordingMonitor:
    """Run `program` (govcloud.program.build_program's) as the plan's stack under fresh mocks."""
    mon = RecordingMonitor(mocks)
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=plan.service.pulumi_project, stack=plan.service.stack, preview=False,
                             monitor=mon)
    settings.ROOT.set(None)  # set_mocks made a root stack; run_in_stack makes the program's own
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    _sync_await(run_in_stack(program))
    return mon
