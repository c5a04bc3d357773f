"""PostgreSQL's query-tuning settings (enable_seqscan, random_page_cost, ...).

dsql's planner reads none of them: it has its own rules, and a plan is chosen
the same whatever they say. They exist so that tools and scripts that set
them (ORMs, migration tools, pg_dump scripts, tuning advice) keep working:
each is validated, stored and shown exactly as PostgreSQL 16 does (type,
range, units, SHOW's form and pg_settings' base unit), never refused with
42704. `jit` and `geqo` live with the other settings in settings.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qp.errors import SqlError

_REAL_MAX = 1.79769e308  # DBL_MAX as PostgreSQL prints it (%g)
_INT_MAX = 2147483647
# Memory settings count 8 kB blocks (PostgreSQL's BLCKSZ); MAX_KILOBYTES / 8 bounds the parallel sizes.
_BLOCK_KB = 8
_PARALLEL_SIZE_MAX = 715827882


@dataclass(frozen=True)
class PlannerSetting:
    default: str  # as SHOW prints it
    vartype: str  # bool | integer | real | enum | memory (an integer of 8kB blocks)
    category: str
    minimum: float = 0
    maximum: float = 0
    choices: tuple[str, ...] = ()


_METHOD = "Query Tuning / Planner Method Configuration"
_COST = "Query Tuning / Planner Cost Constants"
_GEQO = "Query Tuning / Genetic Query Optimizer"
_OTHER = "Query Tuning / Other Planner Options"


def _on(default: str = "on") -> PlannerSetting:
    return PlannerSetting(default, "bool", _METHOD)


def _cost(default: str, minimum: float = 0, maximum: float = _REAL_MAX) -> PlannerSetting:
    return PlannerSetting(default, "real", _COST, minimum, maximum)


PLANNER_SETTINGS: dict[str, PlannerSetting] = {
    **{
        name: _on()
        for name in (
            "enable_async_append",
            "enable_bitmapscan",
            "enable_gathermerge",
            "enable_hashagg",
            "enable_hashjoin",
            "enable_incremental_sort",
            "enable_indexonlyscan",
            "enable_indexscan",
            "enable_material",
            "enable_memoize",
            "enable_mergejoin",
            "enable_nestloop",
            "enable_parallel_append",
            "enable_parallel_hash",
            "enable_partition_pruning",
            "enable_presorted_aggregate",
            "enable_seqscan",
            "enable_sort",
            "enable_tidscan",
        )
    },
    "enable_partitionwise_aggregate": _on("off"),
    "enable_partitionwise_join": _on("off"),
    "seq_page_cost": _cost("1"),
    "random_page_cost": _cost("4"),
    "cpu_tuple_cost": _cost("0.01"),
    "cpu_index_tuple_cost": _cost("0.005"),
    "cpu_operator_cost": _cost("0.0025"),
    "parallel_setup_cost": _cost("1000"),
    "parallel_tuple_cost": _cost("0.1"),
    "jit_above_cost": _cost("100000", -1),
    "jit_inline_above_cost": _cost("500000", -1),
    "jit_optimize_above_cost": _cost("500000", -1),
    "effective_cache_size": PlannerSetting("4GB", "memory", _COST, 1, _INT_MAX),
    "min_parallel_table_scan_size": PlannerSetting("8MB", "memory", _COST, 0, _PARALLEL_SIZE_MAX),
    "min_parallel_index_scan_size": PlannerSetting("512kB", "memory", _COST, 0, _PARALLEL_SIZE_MAX),
    "effective_io_concurrency": PlannerSetting(
        "1", "integer", "Resource Usage / Asynchronous Behavior", 0, 1000
    ),
    "max_parallel_workers_per_gather": PlannerSetting(
        "2", "integer", "Resource Usage / Asynchronous Behavior", 0, 1024
    ),
    "geqo_threshold": PlannerSetting("12", "integer", _GEQO, 2, _INT_MAX),
    "geqo_effort": PlannerSetting("5", "integer", _GEQO, 1, 10),
    "geqo_pool_size": PlannerSetting("0", "integer", _GEQO, 0, _INT_MAX),
    "geqo_generations": PlannerSetting("0", "integer", _GEQO, 0, _INT_MAX),
    "geqo_selection_bias": PlannerSetting("2", "real", _GEQO, 1.5, 2),
    "geqo_seed": PlannerSetting("0", "real", _GEQO, 0, 1),
    "default_statistics_target": PlannerSetting("100", "integer", _OTHER, 1, 10000),
    "from_collapse_limit": PlannerSetting("8", "integer", _OTHER, 1, _INT_MAX),
    "join_collapse_limit": PlannerSetting("8", "integer", _OTHER, 1, _INT_MAX),
    "cursor_tuple_fraction": PlannerSetting("0.1", "real", _OTHER, 0, 1),
    "recursive_worktable_factor": PlannerSetting("10", "real", _OTHER, 0.001, 1e6),
    "constraint_exclusion": PlannerSetting("partition", "enum", _OTHER, choices=("partition", "on", "off")),
    "plan_cache_mode": PlannerSetting(
        "auto", "enum", _OTHER, choices=("auto", "force_generic_plan", "force_custom_plan")
    ),
}

PLANNER_DEFAULTS = {name: setting.default for name, setting in PLANNER_SETTINGS.items()}

_BOOLS = {
    "on": "on",
    "true": "on",
    "yes": "on",
    "1": "on",
    "t": "on",
    "y": "on",
    "off": "off",
    "false": "off",
    "no": "off",
    "0": "off",
    "f": "off",
    "n": "off",
}
_MEMORY_UNITS_KB = {"kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}


def _g(value: float) -> str:
    """%g, as PostgreSQL prints real settings and their bounds."""
    return f"{value:g}"


def _invalid(name: str, value: str, hint: str | None = None) -> SqlError:
    return SqlError("22023", f'invalid value for parameter "{name}": "{value}"', hint=hint)


def _out_of_range(name: str, shown: str, setting: PlannerSetting, fmt) -> SqlError:
    return SqlError(
        "22023",
        f'{shown} is outside the valid range for parameter "{name}" '
        f"({fmt(setting.minimum)} .. {fmt(setting.maximum)})",
    )


def normalize_planner(name: str, value: str) -> str:
    """A new value of planner setting `name`, validated as PostgreSQL does; returned as SHOW prints it."""
    setting = PLANNER_SETTINGS[name]
    text = value.strip()
    if setting.vartype == "bool":
        if text.lower() not in _BOOLS:
            raise SqlError("22023", f'parameter "{name}" requires a Boolean value')
        return _BOOLS[text.lower()]
    if setting.vartype == "enum":
        if text.lower() not in setting.choices:
            raise _invalid(name, value, f"Available values: {', '.join(setting.choices)}.")
        return text.lower()
    if setting.vartype == "real":
        try:
            number = float(text)
        except ValueError:
            raise _invalid(name, value) from None
        if math.isnan(number) or not setting.minimum <= number <= setting.maximum:
            raise _out_of_range(name, _g(number), setting, _g)
        return _g(number)
    if setting.vartype == "integer":
        try:
            number = int(text)
        except ValueError:
            raise _invalid(name, value) from None
        if not setting.minimum <= number <= setting.maximum:
            raise _out_of_range(name, str(number), setting, lambda v: str(int(v)))
        return str(number)
    return show_memory(_memory_blocks(name, text, value, setting))


def _memory_blocks(name: str, text: str, value: str, setting: PlannerSetting) -> int:
    number = text.rstrip("kMGTB")
    unit = text[len(number) :]
    number = number.strip()
    if unit and unit not in _MEMORY_UNITS_KB:
        raise _invalid(name, value, 'Valid units for this parameter are "B", "kB", "MB", "GB", and "TB".')
    try:
        amount = float(number)
    except ValueError:
        raise _invalid(name, value) from None
    blocks = round(amount * _MEMORY_UNITS_KB[unit] / _BLOCK_KB) if unit else round(amount)
    if not setting.minimum <= blocks <= setting.maximum:
        raise _out_of_range(name, str(blocks), setting, lambda v: str(int(v)))
    return blocks


def show_memory(blocks: int) -> str:
    """SHOW's form of a size in 8 kB blocks: the largest unit that divides it."""
    kilobytes = blocks * _BLOCK_KB
    if kilobytes == 0:
        return "0"
    for unit, size in (("TB", 1024**3), ("GB", 1024**2), ("MB", 1024)):
        if kilobytes % size == 0:
            return f"{kilobytes // size}{unit}"
    return f"{kilobytes}kB"


def planner_facts(name: str) -> tuple[str, str, str | None] | None:
    """pg_settings' (category, vartype, unit) of a planner setting."""
    setting = PLANNER_SETTINGS.get(name)
    if setting is None:
        return None
    if setting.vartype == "memory":
        return setting.category, "integer", "8kB"
    return setting.category, setting.vartype, None


def planner_setting_value(name: str, shown: str) -> str:
    """pg_settings.setting: a memory setting in its base unit (8 kB blocks)."""
    setting = PLANNER_SETTINGS.get(name)
    if setting is None or setting.vartype != "memory":
        return shown
    return str(_memory_blocks(name, shown, shown, setting))
