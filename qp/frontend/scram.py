"""SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, without I/O.

Owns the password verifier format PostgreSQL stores in `pg_authid.rolpassword`
(``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``, base64) and the
server's half of the exchange: `ScramExchange` takes the client-first message
and answers server-first, then checks the client-final message's proof and
answers server-final. It sits in `qp` (the catalog stores the verifiers) and
`pgwire` runs the exchange with it, so neither package imports the other back.
A verifier written by PostgreSQL works here and the
other way round, so `ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'` (what psql's
``\\password`` sends) and dumps from PostgreSQL carry over.

PostgreSQL's choices kept here, so clients see the same behaviour:
- the user name inside the SCRAM message is ignored (the startup packet's
  `user` is the one authenticated; libpq sends ``n=,``);
- the password is normalised with SASLprep, and used as given when that fails;
- a user without a usable verifier goes through the whole exchange with a
  salt derived from the name and a server secret (`mock`), so the answer does
  not tell whether the role exists;
- channel binding is ``tls-server-end-point`` (RFC 5929), offered as
  SCRAM-SHA-256-PLUS over TLS; a client that says it could bind (``y``) while
  the server offered binding is refused, as that means someone stripped the offer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from dataclasses import dataclass

from cryptography import x509

MECHANISM = "SCRAM-SHA-256"
MECHANISM_PLUS = "SCRAM-SHA-256-PLUS"
ITERATIONS_DEFAULT = 4096  # PostgreSQL's scram_iterations default
SALT_BYTES = 16
NONCE_BYTES = 18  # PostgreSQL's SCRAM_RAW_NONCE_LEN


class ScramError(Exception):
    """The exchange failed. `sqlstate` says how: 28P01 for a wrong password, 08P01 for a malformed message."""

    def __init__(self, sqlstate: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Verifier:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    def encode(self) -> str:
        b64 = _b64
        return (f"{MECHANISM}${self.iterations}:{b64(self.salt)}"
                f"${b64(self.stored_key)}:{b64(self.server_key)}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def saslprep(password: str) -> str:
    """RFC 4013 SASLprep; PostgreSQL uses the password unchanged when it is not valid for it."""
    if password.isascii():
        return password  # printable or not, ASCII maps to itself (PostgreSQL's fast path too)
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c)
    )
    normal = unicodedata.normalize("NFKC", mapped)
    if not normal:
        return password
    prohibited = (
        stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3, stringprep.in_table_c4,
        stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
        stringprep.in_table_c9, stringprep.in_table_a1,
    )  # fmt: skip
    if any(check(c) for c in normal for check in prohibited):
        return password
    if any(stringprep.in_table_d1(c) for c in normal):  # bidirectional rules (RFC 3454 §6)
        if any(stringprep.in_table_d2(c) for c in normal):
            return password
        if not (stringprep.in_table_d1(normal[0]) and stringprep.in_table_d1(normal[-1])):
            return password
    return normal


def make_verifier(password: str, *, iterations: int = ITERATIONS_DEFAULT, salt: bytes | None = None) -> str:
    """The verifier PostgreSQL would store for `password`."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return Verifier(
        iterations, salt, hashlib.sha256(client_key).digest(), _hmac(salted, b"Server Key")
    ).encode()


def parse_verifier(text: str) -> Verifier | None:
    """The parts of a stored verifier; None if `text` is not one."""
    try:
        mechanism, params, keys = text.split("$")
        iterations, salt = params.split(":")
        stored, server = keys.split(":")
        verifier = Verifier(
            int(iterations), base64.b64decode(salt, validate=True),
            base64.b64decode(stored, validate=True), base64.b64decode(server, validate=True),
        )  # fmt: skip
    except ValueError:
        return None
    if mechanism != MECHANISM or verifier.iterations < 1 or len(verifier.stored_key) != 32 \
            or len(verifier.server_key) != 32 or not verifier.salt:
        return None
    return verifier


def mock_verifier(user: str, secret: bytes) -> Verifier:
    """A stand-in for a user with no usable verifier: stable per name, matching no password."""
    salt = _hmac(secret, b"salt " + user.encode("utf-8"))[:SALT_BYTES]
    return Verifier(ITERATIONS_DEFAULT, salt, secrets.token_bytes(32), secrets.token_bytes(32))


def _malformed(detail: str) -> ScramError:
    return ScramError("08P01", "malformed SCRAM message", detail)


def _attributes(message: str, *names: str) -> tuple[list[str], list[str]]:
    """Split `a=...,b=...` and check the leading attribute names; (values, the rest as raw parts)."""
    parts = message.split(",")
    values = []
    for index, name in enumerate(names):
        if index >= len(parts) or not parts[index].startswith(name + "="):
            raise _malformed(f'Expected attribute "{name}".')
        values.append(parts[index][len(name) + 1:])
    return values, parts[len(names):]


class ScramExchange:
    """One SCRAM-SHA-256 exchange, server side.

    `verifier` None means the user cannot log in with a password; the exchange
    then runs against `mock_verifier` and fails at the proof.
    `channel_binding` is the tls-server-end-point data when the connection is
    TLS (and SCRAM-SHA-256-PLUS was offered), else None.
    """

    def __init__(self, user: str, verifier: Verifier | None, *, mock_secret: bytes,
                 channel_binding: bytes | None = None, server_nonce: str | None = None) -> None:
        self.user = user
        self._real = verifier is not None
        self.verifier = verifier if verifier is not None else mock_verifier(user, mock_secret)
        self.channel_binding = channel_binding
        self._client_first_bare = ""
        self._server_first = ""
        self._gs2_header = ""
        self._nonce = ""
        self._binding_used = False
        # Fixed only to replay published test vectors; otherwise fresh per exchange.
        self._server_nonce = server_nonce or _b64(secrets.token_bytes(NONCE_BYTES))

    def mechanisms(self) -> tuple[str, ...]:
        """What to offer in AuthenticationSASL (the stronger first, as PostgreSQL does)."""
        return (MECHANISM_PLUS, MECHANISM) if self.channel_binding is not None else (MECHANISM,)

    def client_first(self, mechanism: str, data: bytes | None) -> bytes:
        """Check the SASLInitialResponse; the server-first message to send."""
        if mechanism not in self.mechanisms():
            raise ScramError("08P01", "client selected an invalid SASL authentication mechanism")
        if data is None:
            raise _malformed("The message is empty.")
        text = _decode(data)
        flag, _, rest = text.partition(",")
        if flag == "n":
            binding = False
        elif flag == "y":
            if self.channel_binding is not None:
                # We offered PLUS and the client says it could have used it: the offer was stripped.
                raise ScramError("28000", "SCRAM channel binding negotiation error",
                                 "The client supports SCRAM channel binding but thinks the server does not. "
                                 "However, this server does support channel binding.")
            binding = False
        elif flag.startswith("p="):
            if self.channel_binding is None:
                raise ScramError("08P01", "malformed SCRAM message",
                                 "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not "
                                 "include channel binding data.")
            if flag[2:] != "tls-server-end-point":
                raise ScramError("08P01", "unsupported SCRAM channel-binding type", f'"{flag[2:]}"')
            binding = True
        else:
            raise _malformed(f'Unexpected channel-binding flag "{flag[:10]}".')
        if binding != (mechanism == MECHANISM_PLUS):
            raise _malformed("The channel-binding flag does not match the selected mechanism.")
        authzid, _, bare = rest.partition(",")
        if authzid:
            raise ScramError("0A000", "client uses authorization identity, but it is not supported")
        if bare.startswith("m="):
            raise _malformed("Mandatory extensions are not supported.")
        (_username, nonce), _ = _attributes(bare, "n", "r")
        if not nonce or not nonce.isprintable() or "," in nonce:
            raise _malformed("The client nonce is invalid.")
        self._gs2_header = f"{flag},{authzid},"
        self._binding_used = binding
        self._client_first_bare = bare
        self._nonce = nonce + self._server_nonce
        self._server_first = f"r={self._nonce},s={_b64(self.verifier.salt)},i={self.verifier.iterations}"
        return self._server_first.encode("ascii")

    def client_final(self, data: bytes) -> bytes:
        """Check the client's proof; the server-final message (raises ScramError 28P01 on a wrong password)."""
        text = _decode(data)
        (binding_b64, nonce), rest = _attributes(text, "c", "r")
        if not rest or not rest[-1].startswith("p="):
            raise _malformed("Could not find proof in client-final-message.")
        try:
            binding = base64.b64decode(binding_b64, validate=True)
            proof = base64.b64decode(rest[-1][2:], validate=True)
        except ValueError:
            raise _malformed("Invalid base64 in client-final-message.") from None
        expected_binding = self._gs2_header.encode("ascii")
        if self._binding_used:
            expected_binding += self.channel_binding or b""
        if not hmac.compare_digest(binding, expected_binding):
            raise ScramError("08P01", "SCRAM channel binding check failed")
        if nonce != self._nonce:
            raise _malformed("Nonce does not match.")
        if len(proof) != 32:
            raise _malformed("Malformed proof in client-final-message.")
        without_proof = text[: text.rindex(",p=")]
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        signature = _hmac(self.verifier.stored_key, auth_message)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not self._real or not hmac.compare_digest(hashlib.sha256(client_key).digest(), self.verifier.stored_key):
            raise ScramError("28P01", f'password authentication failed for user "{self.user}"')
        return f"v={_b64(_hmac(self.verifier.server_key, auth_message))}".encode("ascii")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("The message is not valid UTF-8.") from None


def tls_server_end_point(certificate_der: bytes) -> bytes:
    """RFC 5929 channel binding data: the certificate's hash, with MD5 and SHA-1 raised to SHA-256."""

    algorithm = x509.load_der_x509_certificate(certificate_der).signature_hash_algorithm
    name = algorithm.name if algorithm is not None else "sha256"
    if name in ("md5", "sha1"):
        name = "sha256"
    return hashlib.new(name, certificate_der).digest()
