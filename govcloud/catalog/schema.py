"""docs/catalog.schema.json, generated from the catalog model (govcloud.catalog.model).

    .venv/bin/python -m govcloud.catalog.schema > docs/catalog.schema.json

A test checks that the committed file is what the model generates; every
build also writes it next to catalog.json.
"""
from __future__ import annotations

import json
import sys

from govcloud.catalog.model import catalog_json_schema


def main() -> None:
    sys.stdout.write(json.dumps(catalog_json_schema(), ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":  # pragma: no cover
    main()
