"""The query processor's front end: what a client session holds and how its statements arrive.

Sessions (state, portals, prepared statements), settings and their transactional stack,
savepoints, cursors, COPY, result encoding, SCRAM and the process-level server that owns
sessions and the catalog cache. `qp.api` is the seam pgwire calls; the stages below this
one (parse, bind, plan, exec, ddl, txn) never import from here.
"""
