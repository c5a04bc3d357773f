"""kv.dynamodb.http1, the DynamoDB endpoint's HTTP/1.1 reader and writer, without sockets
(bytes whole and one at a time), and the server around it over a real socket for what only a
connection shows: pipelining, 100 Continue, chunked bodies, refusals and keep-alive."""

from __future__ import annotations

import socket

import pytest

from kv.dynamodb import http1

pytest_plugins = ["dynamodb_servers"]

HEAD_MAX = 64 * 1024


def read_all(data: bytes, *, bytewise: bool = False) -> list[tuple[http1.Request, bytes]]:
    """Every complete request in `data` with its body, fed whole or a byte at a time."""
    reader = http1.RequestReader(HEAD_MAX)
    out: list[tuple[http1.Request, bytes]] = []
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    request: http1.Request | None = None
    body = b""
    for piece in [*pieces, b""]:
        reader.feed(piece)
        while True:
            if request is None:
                request = reader.next_request()
                if request is None:
                    break
                body = b""
            data_piece, done = reader.read_body()
            body += data_piece
            if not done:
                break
            out.append((request, body))
            request = None
        if reader.closed:
            break
    return out


@pytest.mark.parametrize("bytewise", [False, True])
def test_a_boto3_style_request(bytewise):
    raw = (
        b"POST / HTTP/1.1\r\nHost: localhost:8000\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n\r\n{}"
    )
    ((request, body),) = read_all(raw, bytewise=bytewise)
    assert (request.method, request.target, request.http_version, body) == ("POST", b"/", "1.1", b"{}")
    assert (b"x-amz-target", b"DynamoDB_20120810.GetItem") in request.headers
    assert request.keep_alive and not request.expect_continue and not request.chunked


@pytest.mark.parametrize("bytewise", [False, True])
def test_pipelined_chunked_and_bare_lf(bytewise):
    raw = (
        b"\r\nPOST /a?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
        b"GET / HTTP/1.1\nHost: h\n\n"
        b"POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"
    )
    requests = read_all(raw, bytewise=bytewise)
    assert [(r.method, r.target, body) for r, body in requests] == [
        ("POST", b"/a?x=1", b"abcde"),
        ("GET", b"/", b""),
        ("POST", b"/", b"hello"),
    ]
    assert requests[0][0].chunked and requests[0][0].keep_alive
    assert not requests[2][0].keep_alive and not requests[2][0].expect_continue  # HTTP/1.0: neither


def test_keep_alive_and_expect():
    ((closing, _),) = read_all(b"POST / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n")
    assert not closing.keep_alive
    ((waiting, _),) = read_all(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx")
    assert waiting.expect_continue


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400),  # no Host
        (b"POST /  HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"POST / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"POST / HTTX/1.1\r\nHost: h\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\n" + b"X: " + b"y" * HEAD_MAX + b"\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: h\r\n" + b"X: " + b"y" * HEAD_MAX, 431),  # no end in sight
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nshort", 400),  # cut short
        (b"POST / HTTP/1.1\r\nHost: h\r\n", 400),  # closed mid-head
    ],
)
def test_refusals(raw, status):
    with pytest.raises(http1.ProtocolError) as info:
        read_all(raw)
    assert info.value.status == status


def test_same_content_length_twice_is_one():
    ((request, body),) = read_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx")
    assert body == b"x"


def test_response_bytes():
    assert http1.response(413, [(b"content-length", b"2")], b"{}") == (
        b"HTTP/1.1 413 Request Entity Too Large\r\ncontent-length: 2\r\n\r\n{}"
    )
    assert http1.response(200, [(b"content-length", b"2")], b"{}", head_only=True).endswith(b"\r\n\r\n")
    assert http1.response(599, [], b"").startswith(b"HTTP/1.1 599 \r\n")


# -- over a socket --------------------------------------------------------------------------------------


def _exchange(server, data: bytes, *, read_until_close: bool = True, timeout_s: float = 10) -> bytes:
    with socket.create_connection((server.host, server.dynamodb_port), timeout=timeout_s) as sock:
        sock.sendall(data)
        if not read_until_close:
            return sock.recv(65536)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def _list_tables(connection: bytes = b"") -> bytes:
    return (
        b"POST / HTTP/1.1\r\nHost: h\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n" + connection + b"\r\n{}"
    )


def test_pipelined_requests_answered_in_order(ddb_server):
    answer = _exchange(ddb_server, _list_tables() + b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" + _list_tables(b"Connection: close\r\n"))
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 3
    first, second, third = answer.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert b'"TableNames"' in first and b"healthy" in second and b"connection: close" in third.lower()


def test_chunked_body_and_100_continue(ddb_server):
    with socket.create_connection((ddb_server.host, ddb_server.dynamodb_port), timeout=10) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: h\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
            b"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"1\r\n{\r\n1\r\n}\r\n0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b'"TableNames"' in answer


def test_unreadable_requests_are_refused_and_closed(ddb_server):
    for raw, status_line in (
        (b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 400 Bad Request\r\n"),
        (b"POST / HTTP/3.0\r\nHost: h\r\n\r\n", b"HTTP/1.1 505 HTTP Version Not Supported\r\n"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: br\r\n\r\n", b"HTTP/1.1 501 Not Implemented\r\n"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nX: " + b"y" * (80 * 1024) + b"\r\n\r\n", b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
    ):
        answer = _exchange(ddb_server, raw)
        assert answer.startswith(status_line), answer[:80]
        assert b"connection: close" in answer.lower()
    # The server is still there.
    assert _exchange(ddb_server, _list_tables(b"Connection: close\r\n")).startswith(b"HTTP/1.1 200 OK\r\n")


def test_http_1_0_gets_an_answer_and_a_close(ddb_server):
    answer = _exchange(ddb_server, _list_tables().replace(b"HTTP/1.1", b"HTTP/1.0"))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close" in answer.lower()
