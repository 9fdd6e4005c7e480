"""The library's workflows (deploy, destroy, refresh, diff) and the audit log they write.

The CLI and any other caller (a queue worker, a test) call these functions;
they take typed arguments and callbacks and return typed results, and every
refusal is a typed exception whose exit code is mapped once, in the CLI.
"""
