"""The top of the key space: which leading byte each API's keys begin with.

Shared by the topology (which splits the key space into ranges of
adjudicators and shards, and must know where each API's keys lie) and by
storage's key encoding (`storage/keys.py`, which builds keys under these
prefixes). It lives here, below both, so that neither imports the other.
The Dynamo API's sibling store will take the next prefix.
"""

NS_SYSTEM = b"\x01"  # the catalog, sequences, jobs, adjudicator leases
NS_SQL = b"\x02"  # SQL tables and indexes
NS_DYNAMODB = b"\x03"  # DynamoDB items and index entries
