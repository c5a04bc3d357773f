"""The command line of `dsql compare`, apart from `compare.run` so that `dsql` builds its parser
without importing the clients a comparison drives (asyncpg, boto3, httpx)."""

from __future__ import annotations

import argparse

SCENARIOS = ("register",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="short fault schedules (a few minutes in all)")
    parser.add_argument(
        "--scenario", action="append", help=f"run only this scenario ({', '.join(SCENARIOS)})"
    )
    parser.add_argument("--seed", type=int, default=1, help="the workload's random seed")
    parser.add_argument("--out", default="compare-out", help="where results.json and the histories go")
    parser.add_argument("--cluster", default=None, help="use the cluster running in this directory")
