"""`python -m govcloud.engine --worker`: the engine child process (run by govcloud itself)."""
import os
import sys

from govcloud.engine.worker import main

if sys.argv[1:] == ["--worker"]:
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # every result is on the pipe and in the log: skip the interpreter's tear-down of pulumi's and grpc's
    # modules and threads (0.1-0.2 s), which the parent waits for before it lets the stack's lock go
    os._exit(code)
print("usage: python -m govcloud.engine --worker  (run by govcloud itself)", file=sys.stderr)
sys.exit(2)
