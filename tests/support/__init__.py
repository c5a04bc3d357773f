"""Helpers shared by dsql's integration tests.

The test suite drives two servers over the PostgreSQL wire protocol: dsql (the
server under test) and a real PostgreSQL started by the tests as a reference.
This package holds what the tests need to do that and nothing else:

- ``servers``: start, stop, kill and restart both servers as subprocesses.
- ``pgsession``: a thin libpq session (psycopg's ``pq`` layer) that returns the
  exact text the server sent, never blocks longer than a timeout, and reports
  errors by SQLSTATE.
- ``sqlscript``: split SQL scripts into statements, read their annotations, run
  them and compare the results of two servers (the differential suite).
- ``slt``: a sqllogictest runner.
- ``wire``: a raw-socket PostgreSQL frontend for sending malformed messages.
- ``bank``: the bank workload (concurrent transfers, a checking reader, a ledger).
- ``names``: unique table names so tests can share one server.
- ``report``: lines printed in pytest's terminal summary (pass rates, counts).
"""
