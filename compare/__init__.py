"""`dsql compare`: the same workloads through Dynamo, DynamoDB and DSQL, under the same faults.

Issue 12 builds it in steps. Modules, as they come:

    designs   the three designs behind one small asynchronous interface (asyncio: asyncpg
              needs it), so a scenario is written once and run against each
    register  the register workload: clients reading and writing a few keys, recorded as a
              Jepsen-style history (checker.history) for the checkers
    cluster   the cluster a comparison runs on and its faults (`dsql cluster` as a user runs it)
    scenarios workload x fault schedule (register under a partition)
    run       `dsql compare`: every scenario on every design, checked, summarised, saved
    options   its command line
"""
