"""`python -m govcloud.engine --worker`: the engine child process (run by govcloud itself)."""
import sys

from govcloud.engine.worker import main

if sys.argv[1:] == ["--worker"]:
    sys.exit(main())
print("usage: python -m govcloud.engine --worker  (run by govcloud itself)", file=sys.stderr)
sys.exit(2)
