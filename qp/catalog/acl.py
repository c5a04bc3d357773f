"""Owners, access control lists and role memberships: the pure model, as PostgreSQL's acl.c has it.

Every object a role can own (table, view, sequence, index through its table,
domain, schema, and the functions another module adds) is described by an
`ObjectPrivs` record kept beside its descriptor (`privs_key`): its kind, its
owner's oid and its ACL. An object with no such record was written before
owners existed, or by the bootstrap role: it is owned by `admin` and has
the default ACL. Keeping owners and ACLs in a record of their own, keyed by
object oid and kind, lets every kind of object (functions included) plug in
without changing its descriptor.

An ACL is a tuple of `AclItem`s, one per (grantee, grantor) pair, as
PostgreSQL's aclitem: the privileges the grantor gave the grantee and which of
them it may grant on. `None` means "the default for the kind" (acldefault):
everything for the owner, and for functions and types EXECUTE/USAGE for
PUBLIC. The first GRANT or REVOKE materializes the default, which is why
`relacl` is NULL until then, as in PostgreSQL.

Role memberships (GRANT role TO role) are `Membership` records; a member with
INHERIT holds the privileges of the roles it belongs to (`inherited_roles`).
Default privileges (ALTER DEFAULT PRIVILEGES) are `DefaultAcl` records.
Nothing here touches storage or a session: the DDL that writes records is
qp/ddl/grants.py (the statements) and qp/ddl/ownership.py (owners of new
objects); who may do what is qp/catalog/privcheck.py's; the checks made when a
statement is bound are qp/bind/privileges.py's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

PUBLIC_OID = 0  # the grantee PUBLIC, as PostgreSQL's ACL_ID_PUBLIC

# Privilege letters in the order PostgreSQL prints them (its bit order).
LETTER_ORDER = "arwdDxtXUCTc"
PRIVILEGE_LETTERS = {
    "INSERT": "a", "SELECT": "r", "UPDATE": "w", "DELETE": "d", "TRUNCATE": "D", "REFERENCES": "x",
    "TRIGGER": "t", "EXECUTE": "X", "USAGE": "U", "CREATE": "C", "TEMPORARY": "T", "TEMP": "T", "CONNECT": "c",
}  # fmt: skip
LETTER_NAMES = {v: k for k, v in PRIVILEGE_LETTERS.items() if k != "TEMP"}

# Object kinds: what ALL means for each, what PUBLIC holds by default, and the
# word PostgreSQL's messages use ("permission denied for table t").
KIND_ALL = {"table": "arwdDxt", "view": "arwdDxt", "sequence": "rwU", "schema": "UC", "function": "X",
            "domain": "U", "type": "U"}  # fmt: skip
KIND_PUBLIC_DEFAULT = {"function": "X", "domain": "U", "type": "U"}
KIND_WORD = {"table": "table", "view": "view", "sequence": "sequence", "schema": "schema", "function": "function",
             "domain": "type", "type": "type", "index": "index"}  # fmt: skip
# pg_default_acl.defaclobjtype letters for ALTER DEFAULT PRIVILEGES ... ON TABLES|SEQUENCES|...
DEFAULT_ACL_KINDS = {"OBJECT_TABLE": ("r", "table"), "OBJECT_SEQUENCE": ("S", "sequence"),
                     "OBJECT_FUNCTION": ("f", "function"), "OBJECT_TYPE": ("T", "type"),
                     "OBJECT_SCHEMA": ("n", "schema")}  # fmt: skip
DEFAULT_ACL_LETTER_OF_KIND = {"table": "r", "view": "r", "sequence": "S", "function": "f", "domain": "T",
                              "type": "T", "schema": "n"}  # fmt: skip


def ordered(letters: str | frozenset[str] | set[str]) -> str:
    return "".join(c for c in LETTER_ORDER if c in letters)


@dataclass(frozen=True)
class AclItem:
    grantee: int  # a role oid, or PUBLIC_OID
    grantor: int
    privileges: str  # letters, in LETTER_ORDER
    grant_options: str = ""  # the subset the grantee may grant on

    def text(self, name_of) -> str:
        """aclitem's text form: `alice=r*w/bob` (`=r/bob` for PUBLIC)."""
        grantee = "" if self.grantee == PUBLIC_OID else _quote_role(name_of(self.grantee))
        body = "".join(c + ("*" if c in self.grant_options else "") for c in self.privileges)
        return f"{grantee}={body}/{_quote_role(name_of(self.grantor))}"

    def to_record(self) -> list:
        return [self.grantee, self.grantor, self.privileges, self.grant_options]


def _quote_role(name: str) -> str:
    if name and all(c.isalnum() or c == "_" for c in name) and not name[0].isdigit() and name == name.lower():
        return name
    return '"' + name.replace('"', '""') + '"'


def sorted_acl(acl: tuple[AclItem, ...]) -> tuple[AclItem, ...]:
    """PostgreSQL's aclitemsort: by grantee (PUBLIC first), then grantor. Default
    privileges are kept sorted, and compared sorted with the defaults."""
    return tuple(sorted(acl, key=lambda item: (item.grantee, item.grantor)))


def default_acl(kind: str, owner: int) -> tuple[AclItem, ...]:
    """acldefault(kind, owner): what an object's NULL ACL means."""
    items = []
    public = KIND_PUBLIC_DEFAULT.get(kind)
    if public:
        items.append(AclItem(PUBLIC_OID, owner, public))
    items.append(AclItem(owner, owner, KIND_ALL[kind]))
    return tuple(items)


def acl_from_record(record: list | None) -> tuple[AclItem, ...] | None:
    if record is None:
        return None
    return tuple(AclItem(g, r, p, o) for g, r, p, o in record)


def acl_record(acl: tuple[AclItem, ...] | None) -> list | None:
    return None if acl is None else [item.to_record() for item in acl]


@dataclass(frozen=True)
class ObjectPrivs:
    """An object's owner and ACL (None: the kind's default)."""

    oid: int
    kind: str  # a key of KIND_ALL
    owner: int
    acl: tuple[AclItem, ...] | None = None

    @property
    def effective_acl(self) -> tuple[AclItem, ...]:
        return self.acl if self.acl is not None else default_acl(self.kind, self.owner)

    def to_record(self) -> dict:
        return {"kind": "privs", "oid": self.oid, "objkind": self.kind, "owner": self.owner,
                "acl": acl_record(self.acl)}  # fmt: skip

    @staticmethod
    def from_record(record: dict) -> ObjectPrivs:
        return ObjectPrivs(
            record["oid"], record["objkind"], record["owner"], acl_from_record(record.get("acl"))
        )


@dataclass(frozen=True)
class Membership:
    """`member` is a member of `role` (pg_auth_members)."""

    role: int
    member: int
    grantor: int
    admin: bool = False
    inherit: bool = True
    set: bool = True

    def to_record(self) -> dict:
        return {"kind": "membership", "role": self.role, "member": self.member, "grantor": self.grantor,
                "admin": self.admin, "inherit": self.inherit, "set": self.set}  # fmt: skip

    @staticmethod
    def from_record(record: dict) -> Membership:
        return Membership(record["role"], record["member"], record["grantor"], record.get("admin", False),
                          record.get("inherit", True), record.get("set", True))  # fmt: skip


@dataclass(frozen=True)
class DefaultAcl:
    """ALTER DEFAULT PRIVILEGES: the ACL objects of `objtype` that `role` creates
    (in schema `namespace`, 0 for any) start with (pg_default_acl)."""

    oid: int
    role: int
    namespace: int
    objtype: str  # r S f T n
    acl: tuple[AclItem, ...]

    def to_record(self) -> dict:
        return {"kind": "default_acl", "oid": self.oid, "role": self.role, "namespace": self.namespace,
                "objtype": self.objtype, "acl": acl_record(self.acl)}  # fmt: skip

    @staticmethod
    def from_record(record: dict) -> DefaultAcl:
        return DefaultAcl(record["oid"], record["role"], record["namespace"], record["objtype"],
                          acl_from_record(record["acl"]) or ())  # fmt: skip


RECORD_KINDS = frozenset({"privs", "membership", "default_acl"})


def privs_key(relation_key: bytes) -> bytes:
    """Where an object's ObjectPrivs is kept: beside its descriptor (`relation_key`)."""
    return relation_key + b"/privs"


def membership_key(role_relation_key: bytes, member: int) -> bytes:
    return role_relation_key + b"/member/" + struct.pack(">I", member)


@dataclass
class PrivilegeState:
    """The catalog's owners, ACLs, memberships and default ACLs (one per snapshot)."""

    objects: dict[int, ObjectPrivs]
    memberships: list[Membership]
    default_acls: list[DefaultAcl]

    def add_record(self, record: dict) -> None:
        kind = record["kind"]
        if kind == "privs":
            privs = ObjectPrivs.from_record(record)
            self.objects[privs.oid] = privs
        elif kind == "membership":
            self.memberships.append(Membership.from_record(record))
        else:
            self.default_acls.append(DefaultAcl.from_record(record))

    def of(self, oid: int, kind: str, default_owner: int) -> ObjectPrivs:
        found = self.objects.get(oid)
        if found is not None:
            return found if found.kind == kind else replace(found, kind=kind)
        return ObjectPrivs(oid, kind, default_owner)

    def inherited_roles(self, role: int) -> frozenset[int]:
        """`role` and every role whose privileges it holds (through INHERIT memberships)."""
        return self._closure(role, inherit_only=True)

    def member_of(self, role: int) -> frozenset[int]:
        """`role` and every role it is a member of, directly or not (is_member_of_role)."""
        return self._closure(role, inherit_only=False)

    def _closure(self, role: int, *, inherit_only: bool) -> frozenset[int]:
        seen = {role}
        todo = [role]
        while todo:
            current = todo.pop()
            for m in self.memberships:
                if m.member == current and m.role not in seen and (m.inherit or not inherit_only):
                    seen.add(m.role)
                    todo.append(m.role)
        return frozenset(seen)

    def admin_of(self, role: int, target: int) -> bool:
        """Whether `role` (or a role it belongs to) holds ADMIN OPTION on `target`."""
        roles = self.member_of(role)
        return any(m.role == target and m.member in roles and m.admin for m in self.memberships)


def privileges_held(acl: tuple[AclItem, ...], roles: frozenset[int]) -> tuple[set[str], set[str]]:
    """The privileges and grant options the roles (with PUBLIC) hold in `acl`."""
    privs: set[str] = set()
    options: set[str] = set()
    for item in acl:
        if item.grantee == PUBLIC_OID or item.grantee in roles:
            privs.update(item.privileges)
            if item.grantee != PUBLIC_OID:
                options.update(item.grant_options)
    return privs, options


def grant(
    acl: tuple[AclItem, ...], grantee: int, grantor: int, letters: str, with_option: bool
) -> tuple[AclItem, ...]:
    """Add privileges (and their grant options) to the (grantee, grantor) item."""
    out = list(acl)
    for i, item in enumerate(out):
        if item.grantee == grantee and item.grantor == grantor:
            options = ordered(set(item.grant_options) | (set(letters) if with_option else set()))
            out[i] = AclItem(grantee, grantor, ordered(set(item.privileges) | set(letters)), options)
            return tuple(out)
    out.append(AclItem(grantee, grantor, ordered(letters), ordered(letters) if with_option else ""))
    return tuple(out)


def revoke(acl: tuple[AclItem, ...], grantee: int, grantor: int, letters: str,
           options_only: bool) -> tuple[tuple[AclItem, ...], str]:  # fmt: skip
    """Remove privileges (or only their grant options) from the (grantee, grantor)
    item; returns the ACL and the grant options the grantee lost."""
    out: list[AclItem] = []
    lost = ""
    for item in acl:
        if item.grantee == grantee and item.grantor == grantor:
            lost = ordered(set(item.grant_options) & set(letters))
            options = ordered(set(item.grant_options) - set(letters))
            privileges = item.privileges if options_only else ordered(set(item.privileges) - set(letters))
            if privileges:
                out.append(AclItem(grantee, grantor, privileges, options))
            continue
        out.append(item)
    return tuple(out), lost


def dependent_grants(acl: tuple[AclItem, ...], grantor: int, letters: str) -> list[AclItem]:
    """Items granted by `grantor` that use the given grant options (revoked with CASCADE)."""
    return [item for item in acl if item.grantor == grantor and item.grantee != grantor
            and set(item.privileges) & set(letters)]  # fmt: skip


def revoke_cascade(acl: tuple[AclItem, ...], grantee: int, lost: str, owner: int,
                   cascade: bool) -> tuple[AclItem, ...]:  # fmt: skip
    """PostgreSQL's recursive_revoke: once `grantee` no longer holds grant options
    `lost` (from anyone), what it granted with them goes too, and so on down.
    Without CASCADE, dependent grants are an error (2BP01)."""
    if not lost or grantee == owner:
        return acl
    still = set()
    for item in acl:
        if item.grantee == grantee:
            still |= set(item.grant_options)
    gone = ordered(set(lost) - still)
    if not gone:
        return acl
    dependents = dependent_grants(acl, grantee, gone)
    if not dependents:
        return acl
    if not cascade:
        # Raised by the caller as SqlError("2BP01", "dependent privileges exist").
        raise DependentPrivileges()
    for item in dependents:
        acl, lost_below = revoke(acl, item.grantee, grantee, gone, options_only=False)
        acl = revoke_cascade(acl, item.grantee, lost_below, owner, cascade)
    return acl


class DependentPrivileges(Exception):
    """A REVOKE without CASCADE would leave grants made with a revoked grant option."""


def change_owner(acl: tuple[AclItem, ...] | None, old: int, new: int) -> tuple[AclItem, ...] | None:
    """aclnewowner: the old owner's items (as grantee and as grantor) become the new owner's."""
    if acl is None:
        return None
    out: tuple[AclItem, ...] = ()
    for item in acl:
        grantee = new if item.grantee == old else item.grantee
        grantor = new if item.grantor == old else item.grantor
        out = grant(out, grantee, grantor, item.privileges, False)
        if item.grant_options:
            out = grant(out, grantee, grantor, item.grant_options, True)
    return out
