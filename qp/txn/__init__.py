"""Transactions in the query processor: a snapshot, buffered writes, and the commit."""
