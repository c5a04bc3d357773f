"""`dsql compare`: the same workloads through Dynamo, DynamoDB and DSQL, under the same faults.

    designs          the interface every design answers (outcomes as Jepsen's ok/fail/info,
                     the mechanisms each operation used), asyncio because asyncpg needs it
    dynamo_design    Dynamo through its Riak HTTP API (read-modify-write with vector clocks)
    dynamodb_design  DynamoDB through boto3 (single items, or single-shot transactions)
    dsql_design      DSQL through asyncpg (statements and interactive transactions)
    register, bank, appends
                     the workloads, each recording a history (checker.history)
    cluster          the cluster a comparison runs on and its faults (`dsql cluster` as a user runs it)
    phases           every design's clients at once through one schedule of faults
    scenarios        register, bank, list-append, host-loss, az: workload x fault schedule, checked
    copies           scaling and unread-keys: copies per key over time, Dynamo's ring vs replica groups
    analysis         a history's figures per phase (counts, latency, throughput, waits)
    results          the shape of results.json
    claims           each claim of the comparison judged from the results; the programming-model table
    tables, plots, report
                     what people look at: terminal tables, matplotlib PNGs, index.html
    run, options     `dsql compare` and its command line
"""
