"""Verifying AWS Signature Version 4 on DynamoDB requests.

The server recomputes what the client signed (botocore's `SigV4Auth`):

    canonical request = METHOD \\n URI \\n QUERY \\n HEADERS \\n\\n SIGNED-HEADERS \\n sha256(body)
    string to sign    = AWS4-HMAC-SHA256 \\n X-Amz-Date \\n scope \\n sha256(canonical request)
    signing key       = HMAC chain of "AWS4"+secret over date, region, service, "aws4_request"

with the secret of the request's access key from a configured credentials
map, and compares signatures in constant time. Header values are taken as
received, trimmed and with inner runs of spaces collapsed; names are
lower-cased. The body hashed is the raw body (before any Content-Encoding
is undone), which is what the client signed. A request dated more than 15
minutes from our clock is refused, as AWS refuses it.

Verification is off by default (as in DynamoDB Local); `dsql serve
--dynamodb-auth enforce` turns it on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

from kv.dynamodb.errors import DynamoError

ALGORITHM = "AWS4-HMAC-SHA256"
CLOCK_SKEW_MAX_S = 15 * 60
_SPACES = re.compile(r"\s+")
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def _error(type_name: str, message: str) -> DynamoError:
    return DynamoError(type_name, message, status=400)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _parse_authorization(value: str) -> dict[str, str]:
    if not value.startswith(ALGORITHM + " "):
        raise _error("IncompleteSignatureException", f"Authorization header requires existence of {ALGORITHM}")
    fields: dict[str, str] = {}
    # Alternator found clients that omit the space after the commas.
    for part in value[len(ALGORITHM) + 1 :].split(","):
        name, sep, content = part.strip().partition("=")
        if sep:
            fields[name] = content
    for required in ("Credential", "SignedHeaders", "Signature"):
        if required not in fields:
            raise _error(
                "IncompleteSignatureException",
                f"Authorization header requires '{required}' parameter. Authorization={value}",
            )
    return fields


def _canonical_query(query_string: str) -> str:
    pairs = parse_qsl(query_string, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


class SigV4Verifier:
    def __init__(
        self, credentials: dict[str, str], *, now: Callable[[], float] = time.time, service: str = "dynamodb"
    ) -> None:
        self.credentials = dict(credentials)
        self.now = now
        self.service = service

    def verify(self, method: str, path: str, query_string: str, headers: dict[str, list[str]], body: bytes) -> str:
        """Check the request's signature; returns the access key id. `headers` are lower-cased names."""
        authorization = headers.get("authorization")
        if not authorization:
            raise _error("MissingAuthenticationTokenException", "Request is missing Authentication Token")
        fields = _parse_authorization(authorization[0])
        credential = fields["Credential"].split("/")
        if len(credential) != 5 or credential[4] != "aws4_request":
            raise _error(
                "IncompleteSignatureException",
                f"Credential should be scoped to a valid region, not '{fields['Credential']}'.",
            )
        access_key, date, region, service, _ = credential
        secret = self.credentials.get(access_key)
        if secret is None:
            raise _error("UnrecognizedClientException", "The security token included in the request is invalid.")
        amz_date = (headers.get("x-amz-date") or [""])[0]
        try:
            signed_at = datetime.strptime(amz_date, _DATE_FORMAT).replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise _error(
                "IncompleteSignatureException", "Authorization header requires a valid X-Amz-Date header"
            ) from None
        now = self.now()
        if signed_at < now - CLOCK_SKEW_MAX_S:
            raise _error(
                "InvalidSignatureException",
                f"Signature expired: {amz_date} is now earlier than {_format(now - CLOCK_SKEW_MAX_S)} "
                f"({_format(now)} - 15 min.)",
            )
        if signed_at > now + CLOCK_SKEW_MAX_S:
            raise _error(
                "InvalidSignatureException",
                f"Signature not yet current: {amz_date} is still later than {_format(now + CLOCK_SKEW_MAX_S)} "
                f"({_format(now)} + 15 min.)",
            )
        if not amz_date.startswith(date):
            raise _error("InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP")
        signed_headers = fields["SignedHeaders"].lower().split(";")
        canonical_headers = ""
        for name in signed_headers:
            values = headers.get(name)
            if values is None:
                raise _error("InvalidSignatureException", f"Signed header {name} is missing from the request")
            canonical_headers += name + ":" + ",".join(_SPACES.sub(" ", v.strip()) for v in values) + "\n"
        payload_hash = (headers.get("x-amz-content-sha256") or [hashlib.sha256(body).hexdigest()])[0]
        canonical_request = "\n".join(
            [
                method,
                quote(path or "/", safe="/~"),
                _canonical_query(query_string),
                canonical_headers,
                ";".join(signed_headers),
                payload_hash,
            ]
        )
        scope = f"{date}/{region}/{service}/aws4_request"
        string_to_sign = "\n".join(
            [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
        )
        expected = hmac.new(
            signing_key(secret, date, region, service), string_to_sign.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, fields["Signature"]):
            raise _error(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method. Consult the service documentation for details.",
            )
        return access_key


def _format(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(_DATE_FORMAT)


def parse_credentials(text: str) -> dict[str, str]:
    """`AKID:SECRET[,AKID:SECRET...]` (the --dynamodb-credentials flag)."""
    out = {}
    for pair in text.split(","):
        pair = pair.strip()
        if not pair:
            continue
        access_key, sep, secret = pair.partition(":")
        if not sep or not access_key or not secret:
            raise ValueError(f"credentials must be AKID:SECRET pairs, got {pair!r}")
        out[access_key] = secret
    return out
