"""Re-check a saved history: ``python -m checker list-append run.jsonl --strict``.

Prints the result's summary and exits 0 when the history is valid, 1 when it is not (2 for
a malformed history; 3 when a linearizability check ran out of budget: "unknown"), so a history saved by a failing run can be examined and re-checked
after a fix to the checker.
"""

from __future__ import annotations

import argparse
import sys

from checker import bank, linearizable, list_append
from checker.history import HistoryError, read_jsonl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checker", description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=["list-append", "bank", "linearizable"])
    parser.add_argument("history", help="a JSON-lines history (checker.history.write_jsonl)")
    parser.add_argument("--strict", action="store_true",
                        help="list-append: real-time order too (strong snapshot isolation)")
    parser.add_argument("--process", action="store_true", help="list-append: per-client session order too")
    parser.add_argument("--total", type=int, help="bank: the sum every read must show")
    parser.add_argument("--negative-allowed", action="store_true", help="bank: overdrafts are allowed")
    parser.add_argument("--model", choices=["register", "cas-register", "sibling-register"],
                        default="cas-register", help="linearizable: the register model")
    parser.add_argument("--initial", type=int, help="linearizable: the registers' initial value (default nil)")
    parser.add_argument("--keyed", action="store_true",
                        help="linearizable: values are (key, value) tuples, one register per key")
    parser.add_argument("--time-limit", type=float, help="linearizable: seconds of search per key")
    parser.add_argument("--cases", type=int, default=3, help="how many cases of each anomaly to print")
    args = parser.parse_args(argv)
    try:
        ops = read_jsonl(args.history)
        if args.workload == "bank":
            if args.total is None:
                parser.error("bank needs --total")
            result = bank.check(ops, total=args.total, negative_allowed=args.negative_allowed)
        elif args.workload == "linearizable":
            models = {"register": linearizable.register, "cas-register": linearizable.cas_register,
                      "sibling-register": linearizable.sibling_register}
            checked = linearizable.check(ops, models[args.model](args.initial), keyed=args.keyed,
                                         time_limit_s=args.time_limit)
            print(checked.render(args.cases))
            return {True: 0, False: 1}.get(checked.valid, 3)
        else:
            result = list_append.check(ops, strict=args.strict, process=args.process)
    except HistoryError as exc:
        print(f"malformed history: {exc}", file=sys.stderr)
        return 2
    print(result.render(args.cases))
    return 0 if result.valid else 1


if __name__ == "__main__":
    sys.exit(main())
