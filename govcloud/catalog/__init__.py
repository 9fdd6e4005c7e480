"""The national services catalog ("the national window"), built from what is deployed.

    build(out_dir, workspace, ...) -> BuildResult   static site + catalog.json + DCAT-AP RDF
    check(out_dir | None, ...) -> CheckReport       SHACL (DCAT-AP 3.0.1), URLs, optional probe

The catalog model (model.py) is read from the config repo's manifests
(`publish` sections, loaded and policy-checked by govcloud.policy.check_paths)
and from each stack's state (status.py: a `StatusSource`). Only `prod`
services that are deployed are listed as available; every other published
service is listed as planned, never as live. Importing this package is
cheap: Jinja2, rdflib and pyshacl load inside the functions that need them.
"""
