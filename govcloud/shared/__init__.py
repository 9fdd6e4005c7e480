"""The shared setup: what many govcloud processes on many machines agree on through one PostgreSQL.

    db        the database named by govcloud.yaml (`database:`, or a postgres:// `backend:`), its schema
    locks     the stack lock that holds across machines: a row with who/where/since and a heartbeat
    index     the stack index (inputs digest, last operation, result, when, by whom); a local one without
              a database
    auditlog  the shared audit log: an append-only table
    jobs      the job queue (Procrastinate): one job per stack operation, the stack as the job's lock

Without a database configured nothing here connects anywhere: locks are the local flock
(govcloud/engine/locks.py), the index is JSON files in the state directory, the audit log a file.
psycopg and procrastinate load only when a database is configured.
"""
