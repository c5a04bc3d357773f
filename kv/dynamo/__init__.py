"""Dynamo (DeCandia et al., SOSP 2007) as the paper describes it, served the
way Riak KV serves it (its HTTP API and its bucket properties), on dsql's own
storage nodes, so the same hosts can be driven as DSQL, as DynamoDB and as
Dynamo and their differences shown. The first five pieces are sans I/O (time
and membership come in as arguments) so the coordinator, the storage-node
side and the simulator all stand on the same code. Modules:

    ring    consistent hashing with Q equal partitions (strategy 3): claim,
            preference lists, fallbacks with hints, handoff plans, gossip encoding
    vclock  vector clocks with Riak's pruning rules, the X-Riak-Vclock header
    objects stored objects with siblings: put, delete, reconcile (siblings or
            last-write-wins), read-repair plans, storage encoding
    merkle  per-partition Merkle trees, the exchange that finds the keys two
            replicas disagree on, and the token bucket that rate-limits it
    quorum  when one read or write is done: Riak's r/pr/notfound_ok/basic_quorum,
            w/dw/pw, coordinator failover, read-repair targets
    interface  the seams: node messages, bucket properties, request options, errors
    store   a node's own copies: a Bitcask-style log on a Disk (group commit,
            compaction), per-partition Merkle trees, the node's metadata slot
    store_log  the log's files and framed records
    node    a Dynamo node (beside each storage node): reads, writes, gossip,
            handoff, anti-entropy
    service the coordinator a front end runs over the nodes
    http, server  Riak KV's HTTP API (ASGI on hypercorn)
    client  a Python client (sync and async) with sibling resolution
"""
