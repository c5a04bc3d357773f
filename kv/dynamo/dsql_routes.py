"""The bodies of the Riak front end's `/dsql/...` routes: dsql's observation hooks, not Riak's API.

Riak offers no way to ask how many copies of each key exist, nor to switch
active anti-entropy cluster-wide over HTTP (riak-admin does the latter per
node). `dsql compare` needs both to show the paper's durability claim
(keys nobody reads stay short of N copies unless anti-entropy runs), so the
front end serves, beside Riak's routes (kv/dynamo/http.py routes them):

    GET /dsql/copies/B   ?keys=true|false (default true)
        200 {"bucket", "n_val", "ring_version", "nodes", "unreachable",
             "truncated", "held": {node: copies}, "undecodable",
             "totals": {"keys", "min_up_to_date", "mean_up_to_date",
                        "below_n_val", "min_up_to_date_primaries",
                        "below_n_val_primaries", "stale_copies",
                        "hinted_copies", "multiple_versions"},
             "keys": [{"key", "primaries", "up_to_date",
                       "up_to_date_primaries", "stale", "hinted",
                       "versions", "deleted"}, ...]}
        (kv/dynamo/copies.py defines each count)
    GET /dsql/aae
        200 {"enabled": {node: bool}, "interval_s": {node: seconds, 0 = the
             node's configured interval}, "version": {node: int},
             "unreachable": [node, ...]}
    PUT /dsql/aae        body {"enabled": true|false, "interval_s": seconds (optional)}
        200 as GET, after every reachable member took the setting (the
        others take it from gossip); 400 for any other body, nothing sent.

This module parses and renders; it holds no state and does no I/O but the
service calls it is handed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kv.dynamo.interface import AAE_INTERVAL_S_MAX, AaeSetting, InvalidRequest
from kv.dynamo.service import DynamoService

AAE_BODY_FIELDS = ("enabled", "interval_s")


async def copies_json(service: DynamoService, bucket: bytes, query: Mapping[str, str]) -> bytes:
    with_keys = query.get("keys", "true")
    if with_keys not in ("true", "false"):
        raise InvalidRequest("keys query parameter must be true or false")
    report = await service.copies(bucket)
    return _json(report.to_json(with_keys=with_keys == "true"))


def parse_aae_body(raw: bytes) -> tuple[bool, float]:
    """(enabled, interval_s) from a PUT /dsql/aae body; InvalidRequest (400) for anything else."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("enabled"), bool):
        raise InvalidRequest('the body must be a JSON object {"enabled": true|false, "interval_s": seconds}')
    unknown = sorted(set(document) - set(AAE_BODY_FIELDS))
    if unknown:
        raise InvalidRequest(f"unknown fields {unknown}: only {list(AAE_BODY_FIELDS)}")
    interval = document.get("interval_s", 0)
    if interval is None:
        interval = 0
    if (
        isinstance(interval, bool)
        or not isinstance(interval, (int, float))
        or not 0 <= interval <= AAE_INTERVAL_S_MAX
    ):
        raise InvalidRequest(
            f"interval_s must be a number of seconds from 0 to {AAE_INTERVAL_S_MAX:g} (0: configured)"
        )
    return document["enabled"], float(interval)


def aae_json(settings: Mapping[str, AaeSetting], unreachable: list[str]) -> bytes:
    nodes = sorted(settings)
    return _json({
        "enabled": {node: settings[node].enabled for node in nodes},
        "interval_s": {node: settings[node].interval_s for node in nodes},
        "version": {node: settings[node].version for node in nodes},
        "unreachable": list(unreachable),
    })  # fmt: skip


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
