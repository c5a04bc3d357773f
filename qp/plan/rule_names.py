"""The names of the planner's rules, which `SET dsql.planner_rules_off` may name.

Kept apart from the rules themselves (qp/plan/rules.py) so that the settings
module can validate a name without importing the planner.
"""

from __future__ import annotations

# The rewrite rules of the logical plan, in the order they run.
REWRITE_RULE_NAMES = ("prune_outputs", "join_order", "pushdown")
# The choices of physical planning that can be switched off.
PHYSICAL_RULE_NAMES = ("access_paths", "hash_join", "index_join")
ALL_RULE_NAMES = frozenset(REWRITE_RULE_NAMES + PHYSICAL_RULE_NAMES)
