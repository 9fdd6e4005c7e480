"""Stage 1, load: files -> checked Manifest, Site, Agency.

`yamlsource` reads YAML safely and keeps every value's line and column;
`validation` turns pydantic errors into located Problems; `manifest` is the
v1 contract agencies write; `inventory` holds the ministry's sites and agency
registry; `blueprints` merges a service blueprint under a manifest.
"""
