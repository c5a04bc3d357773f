"""HTTP content codings on the DynamoDB endpoint: compressed requests and responses.

Requests may come gzip- or deflate-compressed (`Content-Encoding`), as the
SDKs' request compression sends them. What DynamoDB does, as observed and
recorded by the Alternator suite (scylladb test/alternator/
test_compressed_request.py, run against DynamoDB): a body that does not
decompress (corrupt, truncated, empty) gets a 500 InternalServerError, an
unknown coding also a 500, and a gzip body may be several gzip members one
after the other (RFC 1952 allows it). "deflate" is the zlib format (RFC
9110) or, as some clients send it, raw deflate data. Junk after a valid member, which
DynamoDB silently ignores (that suite records it as a DynamoDB bug), is
refused here like any other corrupt body.

Responses are compressed when the client asks (`Accept-Encoding`) and the
body is at least 4 KB, DynamoDB's threshold (test_compressed_response.py).
The choice follows what DynamoDB was observed to do with odd headers: gzip
and deflate only; the highest q-value wins (q above 1 counts as 1, below 0
as 0, an unparsable one as 1); at equal q a coding named
explicitly beats one reached through `*`, and an earlier one beats a later
one; `*` stands for gzip first, then deflate; `identity` is ignored. The
`x-amz-crc32` header is then the CRC of the compressed bytes, which is what
DynamoDB sends and what SDKs that ask for compression check.
"""

from __future__ import annotations

import re
import zlib

from kv.dynamodb.errors import DynamoError

RESPONSE_COMPRESSION_BYTES_MIN = 4096  # DynamoDB compresses responses from 4 KB on
SUPPORTED = ("gzip", "deflate")  # in the order `*` prefers them
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class PayloadTooLarge(Exception):
    """The decompressed body is past the request size limit."""


def _undecodable(encoding: str) -> DynamoError:
    # DynamoDB answers with a 500 (a client will retry it, in vain: that is DynamoDB's choice).
    return DynamoError("InternalServerError", f"Unable to decode the request body as {encoding}", status=500)


def decode_request(raw: bytes, encoding: str, body_bytes_max: int) -> bytes:
    """The request body `raw` sent with Content-Encoding `encoding`, decompressed."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in SUPPORTED:
        raise DynamoError("InternalServerError", f"Unsupported Content-Encoding: {encoding}", status=500)
    if encoding == "deflate" and raw[:1] and (raw[0] & 0x0F != 8 or int.from_bytes(raw[:2], "big") % 31):
        # Not a zlib header: some clients send "deflate" as raw RFC 1951 data.
        return _decode_stream(raw, _RAW_DEFLATE_WBITS, encoding, body_bytes_max)
    return _decode_stream(raw, _GZIP_WBITS if encoding == "gzip" else _ZLIB_WBITS, encoding, body_bytes_max)


def _decode_stream(raw: bytes, wbits: int, encoding: str, body_bytes_max: int) -> bytes:
    out: list[bytes] = []
    size = 0
    rest = raw
    while True:  # one gzip member (or the one zlib stream) per turn
        decoder = zlib.decompressobj(wbits=wbits)
        try:
            chunk = decoder.decompress(rest, body_bytes_max + 1 - size)
        except zlib.error:
            raise _undecodable(encoding) from None
        size += len(chunk)
        out.append(chunk)
        if size > body_bytes_max or decoder.unconsumed_tail:
            raise PayloadTooLarge()
        if not decoder.eof:
            raise _undecodable(encoding)  # truncated, or empty
        rest = decoder.unused_data
        if not rest or wbits != _GZIP_WBITS:
            break
    if rest:
        raise _undecodable(encoding)  # junk after the zlib stream
    return b"".join(out)


def _quality(params: list[str]) -> float:
    """The q-value among a coding's parameters (the first q= counts; 1 if none).
    An unparsable q counts as 1 and a negative one as 0, as DynamoDB was seen to
    treat them."""
    for param in params:
        name, sep, value = param.partition("=")
        if not sep:
            continue
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 1.0
            return min(max(q, 0.0), 1.0) if q == q else 1.0  # NaN counts as unparsable
    return 1.0


def choose_response_coding(accept_encoding: str | None) -> str | None:
    """The coding (gzip, deflate) to compress a response with, or None."""
    if not accept_encoding:
        return None
    explicit: dict[str, tuple[float, int]] = {}
    star: float | None = None
    for position, element in enumerate(accept_encoding.split(",")):
        parts = element.split(";")
        coding = parts[0].strip().lower()
        if not coding:
            continue
        if not _TOKEN.fullmatch(coding):
            continue  # e.g. '"gzip"', 'gzip br', 'gzip:q=1': ignored
        q = _quality(parts[1:])
        if coding == "*":
            star = q if star is None else max(star, q)
        elif coding in SUPPORTED:
            # Named twice: the best q counts, at the first position.
            best, first = explicit.get(coding, (q, position))
            explicit[coding] = (max(best, q), first)
    # Rank: higher q, then named explicitly, then named earlier (`*` in SUPPORTED order).
    candidates = []
    for order, coding in enumerate(SUPPORTED):
        if coding in explicit:
            q, position = explicit[coding]
            candidates.append((q, 1, -position, coding))
        elif star is not None:
            candidates.append((star, 0, -order, coding))
    candidates = [c for c in candidates if c[0] > 0]
    if not candidates:
        return None
    return max(candidates)[3]


def encode_response(body: bytes, coding: str | None) -> tuple[bytes, str | None]:
    """The bytes to send for `body` and the Content-Encoding they have (None: as is)."""
    if coding is None or len(body) < RESPONSE_COMPRESSION_BYTES_MIN:
        return body, None
    if coding == "gzip":
        compressor = zlib.compressobj(6, zlib.DEFLATED, _GZIP_WBITS)
    else:
        compressor = zlib.compressobj(6, zlib.DEFLATED, _ZLIB_WBITS)
    return compressor.compress(body) + compressor.flush(), coding
