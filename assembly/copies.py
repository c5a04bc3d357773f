"""How many up-to-date copies each shard has right now, sampled cheaply enough to do twice a second.

`dsql compare` plots, per design, the fewest up-to-date copies of any key over
time while a host is lost and replaced (`dsql cluster kill storage-N`, then
`dsql cluster drain storage-N`). For DSQL and DynamoDB that is, per shard,
the number of live storage nodes that hold it copied and caught up: the rule
of `dsql cluster status`'s "serving" column (`probe.shard_replicas`), so the
two never disagree. A node that does not answer (killed, paused, cut off)
counts for no shard, and neither does one still copying a shard or behind
the journal.

Why a module of its own rather than `dsql cluster status --json`: that
command spends about 1.2 s of CPU starting Python and importing the whole CLI
(measured on the 2-core test machine), and then asks every role; called every
0.5 s it would keep a core busy and perturb what it measures. `sample` asks
the storage nodes only, in parallel, from the calling process: about 15 ms
for four nodes on one machine. A sample waits at most `probe.STATUS_TIMEOUT_S`
for a node that neither answers nor refuses (a host cut off); a killed
process on a live host refuses at once. From a shell, or any language,
`python -m assembly.copies --dir DIR --every 0.5` prints one JSON line per
sample from one long-lived process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from assembly import probe
from assembly.config import ClusterSpec

# The shortest interval `--every` accepts: a sample of a healthy cluster takes
# some tens of ms, and asking much more often would only load the storage nodes.
EVERY_S_MIN = 0.05


@dataclass(frozen=True)
class CopiesSample:
    """One look at the cluster: per shard (by the key it begins at), its up-to-date copies."""

    at_s: float  # wall-clock time of the sample (time.time())
    copies: dict[bytes, int]
    unanswered: tuple[str, ...]  # storage nodes that did not answer (lost, paused or cut off)

    @property
    def lowest(self) -> int:
        """The fewest up-to-date copies any shard has (0 if no shard is known)."""
        return min(self.copies.values(), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "at_s": self.at_s,
            "lowest": self.lowest,
            "copies": {start.hex(): count for start, count in self.copies.items()},
            "unanswered": list(self.unanswered),
        }


def shard_copies(
    spec: ClusterSpec, rows: list[dict[str, Any]], lag_ms_max: float | None = None
) -> dict[bytes, int]:
    """Per shard of the newest shard map (keyed by the key it begins at), how many
    live storage nodes serve it: hold it copied and caught up. `rows` are
    `probe.status` rows (or `dsql cluster status --json`'s); rows of other
    roles are ignored, so the full status does as well as the storage-only one.

    `lag_ms_max`: also leave out nodes whose watermark is further behind than
    that. A node's "caught up" is set once, when it first reaches the journal's
    end; a node that answers this process but is cut off from the journal (a
    partition between hosts does not cut the machine's own namespace off)
    still says so while its watermark stops. The watermark moves on even with
    no writes (closed timestamps), so on a healthy cluster the lag stays in
    the tens of ms. None (the default) counts as `dsql cluster status` does."""
    if lag_ms_max is not None:
        rows = [row for row in rows if row["kind"] != "storage" or _within(row, lag_ms_max)]
    return {entry["start"]: len(entry["serving"]) for entry in probe.shard_replicas(spec, rows)}


def _within(row: dict[str, Any], lag_ms_max: float) -> bool:
    lag = row.get("watermark_lag_ms")
    return lag is not None and lag <= lag_ms_max


def sample(directory: str, lag_ms_max: float | None = None) -> CopiesSample:
    """Ask the storage nodes of the cluster in `directory` once (blocking; from
    asyncio, run it with `asyncio.to_thread`). The cluster's description is read
    again each time, so storage nodes added meanwhile are counted. `lag_ms_max`:
    as for `shard_copies`."""
    spec = ClusterSpec.load(directory)
    at_s = time.time()
    rows = probe.status(spec, kinds=("storage",))
    unanswered = tuple(row["name"] for row in rows if not row["answers"])
    return CopiesSample(at_s, shard_copies(spec, rows, lag_ms_max), unanswered)


def samples(directory: str, every_s: float, lag_ms_max: float | None = None) -> Iterator[CopiesSample]:
    """A sample every `every_s` seconds (or as soon as the last one is done, if it took longer)."""
    if every_s < EVERY_S_MIN:
        raise ValueError(f"--every {every_s}: at least {EVERY_S_MIN} s")
    next_s = time.monotonic()
    while True:
        yield sample(directory, lag_ms_max)
        next_s = max(next_s + every_s, time.monotonic())
        time.sleep(max(0.0, next_s - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m assembly.copies",
        description="Print, as one JSON line per sample, how many live storage nodes serve each shard "
        "(copied and caught up): {at_s, lowest, copies: {shard start key hex: n}, unanswered}.",
    )
    parser.add_argument("--dir", required=True, help="the cluster's directory (as for dsql cluster)")
    parser.add_argument("--every", type=float, default=None, metavar="S",
                        help="sample every S seconds until interrupted (default: once)")  # fmt: skip
    parser.add_argument("--samples", type=int, default=None, metavar="N", help="stop after N samples")
    parser.add_argument("--lag-ms-max", type=float, default=None, metavar="MS",
                        help="count no node whose watermark is more than MS behind (default: no bound, "
                        "as dsql cluster status)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        if args.every is not None:
            stream = samples(args.dir, args.every, args.lag_ms_max)
        else:
            stream = iter([sample(args.dir, args.lag_ms_max)])
        for n, one in enumerate(stream, start=1):
            print(json.dumps(one.to_json()), flush=True)
            if args.samples is not None and n >= args.samples:
                break
    except (ValueError, OSError) as exc:  # a bad interval, a directory with no cluster.toml
        print(f"python -m assembly.copies: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
