"""Which embedded ordered key-value engine should hold a storage node's versions (issue 14)?

`python -m bench.storage_engines [--keys N]` measures LMDB (`lmdb`) and RocksDB
(`rocksdict`) doing what a storage node does, each in a fresh process so
that its memory is its own:

- load: N versioned rows (key + 8-byte τ, a ~100-byte value) written in
  batches of 1,000, each batch atomically with the journal position it
  applies (one write transaction / one write batch per batch);
- point reads: the newest version at or below τ of random keys (a cursor
  seek to key+τ, then a step back), 100,000 of them;
- range reads: 100 consecutive keys from a random start, 5,000 of them;
- range delete: one tenth of the keys dropped as a range (version GC);
- reopen: close and open again, then the first point read answered;
- memory: the process's peak RSS, and the bytes on disk.

The figures and the choice are written down in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time

BATCH = 1000
POINT_READS = 100_000
RANGE_READS = 5_000
RANGE_ROWS = 100
VALUE = b"v" * 100
POSITION_KEY = b"\x00applied"


def _key(i: int) -> bytes:
    return b"t\x00\x00\x01" + struct.pack(">Q", i * 7919 % 10_000_019)


def _version_key(key: bytes, tau: int) -> bytes:
    # τ inverted, so that the newest version of a key sorts first.
    return key + struct.pack(">Q", (1 << 64) - 1 - tau)


class Lmdb:
    def __init__(self, path: str) -> None:
        import lmdb

        self.env = lmdb.open(path, map_size=64 << 30, sync=True, metasync=True, readahead=False, max_dbs=0)

    def write_batch(self, items: list[tuple[bytes, bytes]], position: int) -> None:
        with self.env.begin(write=True) as txn:
            for k, v in items:
                txn.put(k, v)
            txn.put(POSITION_KEY, struct.pack(">Q", position))

    def get_as_of(self, key: bytes, tau: int) -> bytes | None:
        with self.env.begin() as txn:
            cursor = txn.cursor()
            if not cursor.set_range(_version_key(key, tau)):
                return None
            found = cursor.key()
            return cursor.value() if found[: len(key)] == key else None

    def scan(self, start: bytes, count: int) -> int:
        n = 0
        with self.env.begin() as txn:
            cursor = txn.cursor()
            if cursor.set_range(start):
                for _ in cursor:
                    n += 1
                    if n >= count:
                        break
        return n

    def delete_range(self, start: bytes, end: bytes) -> None:
        with self.env.begin(write=True) as txn:
            cursor = txn.cursor()
            if cursor.set_range(start):
                while cursor.key() < end:
                    if not cursor.delete():
                        break

    def close(self) -> None:
        self.env.close()


class Rocks:
    def __init__(self, path: str) -> None:
        from rocksdict import Options, Rdict

        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self.db = Rdict(path, options)

    def write_batch(self, items: list[tuple[bytes, bytes]], position: int) -> None:
        from rocksdict import WriteBatch, WriteOptions

        batch = WriteBatch(raw_mode=True)
        for k, v in items:
            batch.put(k, v)
        batch.put(POSITION_KEY, struct.pack(">Q", position))
        options = WriteOptions()
        options.sync = True
        self.db.write(batch, options)

    def get_as_of(self, key: bytes, tau: int) -> bytes | None:
        it = self.db.iter()
        it.seek(_version_key(key, tau))
        if not it.valid():
            return None
        found = it.key()
        return it.value() if found[: len(key)] == key else None

    def scan(self, start: bytes, count: int) -> int:
        it = self.db.iter()
        it.seek(start)
        n = 0
        while it.valid() and n < count:
            n += 1
            it.next()
        return n

    def delete_range(self, start: bytes, end: bytes) -> None:
        self.db.delete_range(start, end)

    def close(self) -> None:
        self.db.close()


ENGINES = {"lmdb": Lmdb, "rocksdb": Rocks}


def _disk_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def measure(name: str, keys: int, path: str) -> dict:
    engine = ENGINES[name](path)
    rng = random.Random(1)
    out: dict = {"engine": name, "keys": keys}
    t0 = time.perf_counter()
    for start in range(0, keys, BATCH):
        items = [(_version_key(_key(i), 100 + i), VALUE) for i in range(start, min(start + BATCH, keys))]
        items.sort()
        engine.write_batch(items, start + BATCH)
    out["load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(POINT_READS):
        i = rng.randrange(keys)
        assert engine.get_as_of(_key(i), 1 << 62) is not None
    out["point_reads_per_s"] = POINT_READS / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(RANGE_READS):
        engine.scan(_key(rng.randrange(keys)), RANGE_ROWS)
    out["range_reads_per_s"] = RANGE_READS / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    engine.delete_range(
        b"t\x00\x00\x01" + struct.pack(">Q", 0), b"t\x00\x00\x01" + struct.pack(">Q", 1_000_000)
    )
    out["range_delete_s"] = time.perf_counter() - t0
    engine.close()
    t0 = time.perf_counter()
    engine = ENGINES[name](path)
    engine.get_as_of(_key(keys - 1), 1 << 62)
    out["reopen_s"] = time.perf_counter() - t0
    engine.close()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["disk_mb"] = _disk_bytes(path) / 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=500_000)
    parser.add_argument("--engine", choices=sorted(ENGINES), help="run one engine in this process")
    args = parser.parse_args()
    if args.engine:
        path = tempfile.mkdtemp(prefix=f"dsql-{args.engine}-", dir=os.environ.get("DSQL_BENCH_DIR"))
        try:
            print(json.dumps(measure(args.engine, args.keys, path)))
        finally:
            shutil.rmtree(path, ignore_errors=True)
        return
    rows = []
    for name in sorted(ENGINES):
        done = subprocess.run(
            [sys.executable, "-m", "bench.storage_engines", "--engine", name, "--keys", str(args.keys)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    columns = [
        "load_s",
        "point_reads_per_s",
        "range_reads_per_s",
        "range_delete_s",
        "reopen_s",
        "peak_rss_mb",
        "disk_mb",
    ]
    print("| engine | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for row in rows:
        print(f"| {row['engine']} | " + " | ".join(f"{row[c]:,.2f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
