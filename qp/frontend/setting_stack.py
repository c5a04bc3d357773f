"""Transactional settings: what SET, SET LOCAL and set_config() undo, and when.

PostgreSQL treats a setting change as part of the transaction that made it
(guc.c's `push_old_value` and `AtEOXact_GUC`), and clients can tell:

- `SET` inside a transaction that rolls back (or a block that fails and is
  rolled back) is undone; if the transaction commits, it stays.
- `SET LOCAL` (and `set_config(name, value, true)`) lasts until the end of
  the transaction, commit or not; a `SET` after it at the same level wins.
- Savepoints nest: `ROLLBACK TO SAVEPOINT` undoes the changes made since the
  savepoint, `RELEASE` hands them to the enclosing level.

An implicit transaction (a query string outside BEGIN, or an extended-protocol
batch up to Sync) is a transaction too: `SET a = 1; SELECT 1/0` as one query
string leaves `a` as it was.

`SettingStack` keeps, per setting changed in the open transaction, one entry
per nesting level (1 is the transaction, 2+ its savepoints) with the value
to restore. It holds no session, no trio, no I/O: the session tells it what
changed at which level and when a level ends, and applies what it returns.
The common path (no SET inside transactions) is an empty dict.

The transaction's own characteristics (transaction_isolation,
transaction_read_only, transaction_deferrable) are not undone to an older
value: every transaction starts from the session's defaults
(default_transaction_*) as they are when it starts, which is what
PostgreSQL's StartTransaction does. So when the transaction ends (and when
the session opens) the stack sets each one to its default; changed inside a
transaction (SET TRANSACTION, BEGIN ... READ ONLY), they last until its end.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from qp.frontend.settings import TRANSACTION_DEFAULTS


class Action(enum.Enum):
    """What a level did to a setting (guc.c's GucStackState, without SAVE)."""

    SET = "set"  # SET: kept by a commit
    LOCAL = "local"  # SET LOCAL: undone by any end of the transaction
    SET_LOCAL = "set_local"  # SET, then SET LOCAL: a commit restores the SET's value (`masked`)


@dataclass
class _Entry:
    level: int
    action: Action
    prior: str | None  # the value before this level touched it (None: the setting did not exist)
    masked: str | None = None  # SET_LOCAL: the SET's value, which the commit keeps


class SettingStack:
    """Pending undo information for the settings a transaction changed."""

    __slots__ = ("settings", "_stacks")

    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = settings  # the live values; changed in place
        self._stacks: dict[str, list[_Entry]] = {}
        self._start_characteristics()  # startup options may have set the defaults

    def _start_characteristics(self) -> set[str]:
        """What the next transaction starts with: each characteristic from its default."""
        changed = set()
        for name, default in TRANSACTION_DEFAULTS.items():
            value = self.settings.get(default)
            if value is not None and self.settings.get(name) != value:
                self.settings[name] = value
                changed.add(name)
        return changed

    def __bool__(self) -> bool:
        return bool(self._stacks)

    def change(self, name: str, value: str, level: int, *, local: bool) -> None:
        """Set `name` to `value` at nesting `level` (>= 1), remembering how to undo it."""
        assert level >= 1, level
        stack = self._stacks.setdefault(name, [])
        current = self.settings.get(name)
        top = stack[-1] if stack else None
        if top is not None and top.level >= level:
            # This level already saved the value from before it (guc.c's push_old_value).
            if not local:
                top.action, top.masked = Action.SET, None  # SET overrides any earlier action here
            elif top.action is Action.SET:
                top.action, top.masked = Action.SET_LOCAL, current  # remember the SET's value
        else:
            stack.append(_Entry(level, Action.LOCAL if local else Action.SET, current))
        self.settings[name] = value

    def end(self, level: int, commit: bool) -> set[str]:
        """End nesting `level` (a savepoint's, or 1 for the transaction); the names whose value changed.

        Levels end one at a time, innermost first, as subtransactions do.
        """
        assert level >= 1, level
        changed: set[str] = set()
        for name in list(self._stacks):
            stack = self._stacks[name]
            while stack and stack[-1].level >= level:
                entry = stack[-1]
                prev = stack[-2] if len(stack) > 1 else None
                restore: tuple[bool, str | None] = (False, None)
                if not commit:
                    restore = (True, entry.prior)
                elif entry.level == 1:  # the transaction commits
                    if entry.action is Action.SET_LOCAL:
                        restore = (True, entry.masked)
                    elif entry.action is Action.LOCAL:
                        restore = (True, entry.prior)
                elif prev is None or prev.level < entry.level - 1:
                    entry.level -= 1  # nothing saved at the enclosing level: this entry becomes its
                    continue
                else:
                    _merge_down(entry, prev)
                if restore[0]:
                    value = restore[1]
                    if self.settings.get(name) != value:
                        changed.add(name)
                    if value is None:
                        self.settings.pop(name, None)
                    else:
                        self.settings[name] = value
                stack.pop()
            if not stack:
                del self._stacks[name]
        if level == 1:
            changed |= self._start_characteristics()
        return changed


def _merge_down(entry: _Entry, prev: _Entry) -> None:
    """A savepoint's entry folds into the enclosing level's (guc.c, subtransaction commit)."""
    if entry.action is Action.SET:
        prev.action, prev.masked = Action.SET, None  # the enclosing level now has SET
    elif entry.action is Action.LOCAL:
        if prev.action is Action.SET:
            prev.action, prev.masked = Action.SET_LOCAL, entry.prior  # the LOCAL migrates down
    else:  # SET_LOCAL
        prev.action, prev.masked = Action.SET_LOCAL, entry.masked
