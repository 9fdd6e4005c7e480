"""Shared test helpers."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture
def write(tmp_path):
    """write('name.yaml', text) -> path of a dedented file under tmp_path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


VALID = """
apiVersion: govcloud/v1
kind: Service
metadata:
  name: patient-portal
  agency: moh
  environment: prod
  owner: it-ops@moh.gov.example
  costCenter: MOH-IT-042
  classification: internal
spec:
  site: thr1
  network:
    cidr: 10.42.0.0/24
    ingress:
      - {name: https, port: 443, protocol: tcp, from: 0.0.0.0/0}
  servers:
    - name: web
      size: medium
      image: ubuntu-22.04
      count: 2
      role: web
      publicIp: true
      volumes:
        - {name: data, sizeGb: 50, type: standard}
  buckets:
    - {name: documents, public: false, quotaGb: 100}
"""
