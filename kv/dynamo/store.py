"""STAND-IN (uncommitted): memory-only DynamoStore with the helper's API."""

from __future__ import annotations

import hashlib

from kv.dynamo import merkle


def merkle_key(bucket: bytes, key: bytes) -> bytes:
    return len(bucket).to_bytes(2, "big") + bucket + key


def split_merkle_key(mk: bytes) -> tuple[bytes, bytes]:
    n = int.from_bytes(mk[:2], "big")
    return mk[2 : 2 + n], mk[2 + n :]


class DynamoStore:
    def __init__(self, disk, **kw):
        self.disk = disk
        self._objects: dict[tuple[bytes, bytes], tuple[int, bytes]] = disk.__dict__.setdefault('_standin', {})
        self._trees: dict[int, merkle.MerkleTree] = {}
        for (b, k), (p, o) in self._objects.items():
            self.tree(p).insert(merkle_key(b, k), hashlib.blake2b(o, digest_size=16).digest())
        self._meta = None

    async def load(self):
        pass

    def get(self, bucket, key):
        e = self._objects.get((bucket, key))
        return None if e is None else e[1]

    def partition_of_key(self, bucket, key):
        e = self._objects.get((bucket, key))
        return None if e is None else e[0]

    async def put(self, partition, bucket, key, obj, *, sync):
        self._objects[(bucket, key)] = (partition, obj)
        self.tree(partition).insert(merkle_key(bucket, key), hashlib.blake2b(obj, digest_size=16).digest())

    async def put_many(self, items, *, sync):
        for p, b, k, o in items:
            await self.put(p, b, k, o, sync=False)

    async def remove(self, keys, *, sync):
        for b, k in keys:
            e = self._objects.pop((b, k), None)
            if e:
                self.tree(e[0]).delete(merkle_key(b, k))

    def partitions(self):
        return {p for p, _ in self._objects.values()}

    def keys_in(self, partition):
        return [bk for bk, (p, _) in self._objects.items() if p == partition]

    def bucket_keys(self, bucket):
        return [k for (b, k) in self._objects if b == bucket]

    def buckets(self):
        return sorted({b for (b, _) in self._objects})

    def tree(self, partition):
        t = self._trees.get(partition)
        if t is None:
            t = self._trees[partition] = merkle.MerkleTree()
        return t

    async def compact(self):
        pass

    def stats(self):
        return {"keys": len(self._objects)}

    async def save_meta(self, data):
        self._meta = data

    async def load_meta(self):
        return self._meta
