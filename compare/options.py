"""The command line of `dsql compare`, apart from `compare.run` so that `dsql` builds its parser
without importing the clients a comparison drives (asyncpg, boto3, httpx)."""

from __future__ import annotations

import argparse

SCENARIOS = ("register", "bank", "list-append", "host-loss", "az", "scaling", "unread-keys")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="short fault schedules (under 5 minutes in all)")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, metavar="NAME",
                        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=1, help="the workloads' random seed")
    parser.add_argument("--out", default="compare-out", help="where results.json, the histories, the plots and "
                                                             "index.html go")
    parser.add_argument("--cluster", default=None,
                        help="use the cluster running in this directory (`dsql cluster up --hosts 5 --storage-nodes 5 "
                             "--dir DIR`); scaling and unread-keys change it: they add a storage node, drain one, "
                             "wipe one's Dynamo disk and kill another for good")  # fmt: skip
    parser.add_argument("--report-only", action="store_true",
                        help="redraw OUT/index.html and the plots from OUT/results.json; run nothing")
