"""Fault injection on the dev cloud: the proxy, the invariants, the scenarios (test tools, not the product)."""
