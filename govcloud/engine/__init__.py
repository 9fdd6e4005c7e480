"""Stage 3, engine: drive the real Pulumi engine with the Automation API.

    command    the Pulumi CLI (found once through govcloud.engine.toolchain) and the engine's environment
    stack      where a stack lives (StackLocation), its state operations (PulumiCli: export/import/outputs/history)
    locks      govcloud's per-stack lock and the DIY backend's engine locks (stale ones cleared)
    runner     one operation in a child process -> OperationResult; Interrupts forwards Ctrl-C to it
    worker     the child: `python -m govcloud.engine --worker` runs the inline program
    recovery   repair what a killed run left (pending operations), adopting what reached the cloud
    program    ResourcePlan -> pulumi_openstack resources (the inline program)
    events     the engine's raw events -> typed ResourceChange / Diagnostic records (never raises)

Secrets: the passphrase secrets provider; the passphrase comes from
GOVCLOUD_PASSPHRASE or the file named by GOVCLOUD_PASSPHRASE_FILE, goes to the
engine as PULUMI_CONFIG_PASSPHRASE and is never printed or logged.

This package imports neither pulumi nor openstacksdk at import time: they load
inside the functions that need them (the CLI stays fast to start).
"""
