"""`python -m govcloud`: the CLI, as the `govcloud` console script runs it."""
from govcloud.cli import main

main()
