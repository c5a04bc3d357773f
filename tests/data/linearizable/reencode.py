"""Re-encode published linearizability test vectors as checker.history JSON lines.

Run from the repository root with the two upstream repositories checked out:

    python tests/data/linearizable/reencode.py PORCUPINE_DIR KNOSSOS_DIR

Porcupine's ``test_data/jepsen/etcd_NNN.log`` are Jepsen log lines (``INFO jepsen.util -
PROCESS :TYPE :F VALUE``); Knossos's ``data/cas-register/{good,bad}/*.edn`` are EDN vectors
of operation maps. Both become one JSON line per event, with ``index`` its position in the file (the
histories have no usable times: their order is their real-time order) and these encodings:

- ``:read nil`` invocations carry ``None``; ``nil`` reads return ``None`` (never written);
- ``:cas [a b]`` carries ``(a, b)``; an etcd ``:fail :cas`` is a cas whose comparison failed
  (etcd answered "compare failed"), recorded ``ok`` with value ``False`` exactly as
  Porcupine's test model reads it; Knossos's ``:fail`` cas stays ``fail`` (did not happen);
- ``:info`` completions (timeouts) keep the invocation's value;
- an etcd ``:fail :read :timed-out`` stays a ``fail`` read (it observed nothing);
- a Knossos ``:ok :read nil`` becomes an ``info`` read: Knossos's ``cas-register`` model
  accepts a nil read in any state (``model.clj``: ``(or (nil? (:value op)) ...)``), and an
  ``info`` read constrains nothing in ours, so the constraint is the same (none). Etcd's nil
  reads are real (the key did not exist yet) and stay ``ok`` reads of ``None``.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from checker.history import Op, OpType, write_jsonl  # noqa: E402

HERE = Path(__file__).resolve().parent
ETCD_LINE = re.compile(r"^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s+(.*?)\s*$")
ETCD_FILES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 18, 25, 31, 38]
KNOSSOS_FILES = ["bad/bad-analysis", "bad/immediate-failure", "bad/rethink-fail-minimal",
                 "bad/cas-failure", "bad/rethink-fail-smaller", "good/cas-register-bug",
                 "good/memstress3-33", "good/memstress3-35", "good/memstress3-99"]


def parse_value(text: str):
    text = text.strip()
    if text in ("nil", ":timed-out"):
        return None
    if text.startswith("["):
        return tuple(int(x) for x in text.strip("[]").split())
    return int(text)


def etcd(path: Path) -> list[Op]:
    ops: list[Op] = []
    open_value: dict[int, object] = {}
    for line in path.read_text().splitlines():
        m = ETCD_LINE.match(line)
        if not m:
            continue
        process, kind, f, value = int(m[1]), m[2], m[3], parse_value(m[4])
        if kind == "invoke":
            open_value[process] = value
        else:
            invoked = open_value.pop(process)
            if kind == "info" or (kind == "fail" and f == "read"):
                value = invoked
            elif kind == "fail" and f == "cas":
                kind, value = "ok", False
        ops.append(Op(process, OpType(kind), f, value, 0, len(ops)))
    return ops


EDN_OP = re.compile(r"\{([^{}]*)\}")
EDN_FIELD = re.compile(r":(\w+)\s+(\[[^\]]*\]|:[\w-]+|[-\w]+)")


def knossos(path: Path) -> list[Op]:
    ops: list[Op] = []
    text = "\n".join(line.split(";")[0] for line in path.read_text().splitlines())
    for position, body in enumerate(EDN_OP.findall(text)):
        fields = dict(EDN_FIELD.findall(body))
        if fields.get("process", ":nemesis") == ":nemesis":  # fault injection, not an operation
            continue
        kind, f, value = fields["type"].lstrip(":"), fields["f"].lstrip(":"), fields.get("value", "nil")
        if kind == "ok" and f == "read" and value == "nil":
            kind = "info"  # Knossos's cas-register lets a nil read match any value
        # ``index`` keeps the position in the file, nemesis events included, as Knossos counts.
        ops.append(Op(int(fields["process"]), OpType(kind), f, parse_value(value), 0, position))
    return ops


def main(porcupine: str, knossos_dir: str) -> None:
    for n in ETCD_FILES:
        write_jsonl(etcd(Path(porcupine, f"test_data/jepsen/etcd_{n:03d}.log")),
                    HERE / f"porcupine-etcd_{n:03d}.jsonl")
    for name in KNOSSOS_FILES:
        write_jsonl(knossos(Path(knossos_dir, f"data/cas-register/{name}.edn")),
                    HERE / f"knossos-{name.replace('/', '-')}.jsonl")


if __name__ == "__main__":
    main(*sys.argv[1:])
