"""Metering and chargeback: usage from the cloud's APIs, a local store, rating, reports.

    collect (openstack_source -> collect.Collector) -> store.UsageStore (SQLite, offline)
        -> rating.Rater (rate card, Decimal) -> report.build_report -> text | csv | json | html

Modules import nothing heavy at load time; openstacksdk is imported only when
a collection connects to a cloud. See docs/metering.md.
"""
