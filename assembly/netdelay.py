"""Delay packets without netem: hold each one queued by NFQUEUE, then accept it.

`assembly/hosts.py` delays a host's outgoing packets with `tc qdisc netem`, but some kernels
(VM kernels, this project's CI among them) are built without sch_netem. There an iptables
rule in the host's namespace (`-o eth0 -j NFQUEUE --queue-bypass`; nftables' own `queue`
is often missing from the same kernels, iptables' NFQUEUE target rarely) sends each packet
to this program, run inside the namespace as `python netdelay.py QUEUE DELAY_MS JITTER_MS`,
which speaks nfnetlink_queue over a raw netlink socket (standard library only: no
libnetfilter_queue to build) and gives the kernel its verdict, accept, once the packet has
waited `DELAY_MS` ± `JITTER_MS` since it arrived. A packet never leaves early, which is the
guarantee netem gives and the tests rely on.

It prints `ready` once the queue is bound, so the rule is added only when something listens
(`--queue-bypass` lets packets through unheld should it die), and on SIGTERM it lets every
packet it holds go rather than lose it.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterator

# From linux/netlink.h, linux/netfilter/nfnetlink.h and linux/netfilter/nfnetlink_queue.h.
_NETLINK_NETFILTER = 12
_SOL_NETLINK = 270
_NETLINK_NO_ENOBUFS = 5
_SO_RCVBUFFORCE = 33
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 0x1
_NLM_F_ACK = 0x4
_NFNL_SUBSYS_QUEUE = 3
_NFQNL_MSG_PACKET = 0
_NFQNL_MSG_VERDICT = 1
_NFQNL_MSG_CONFIG = 2
_NFQA_PACKET_HDR = 1
_NFQA_VERDICT_HDR = 2
_NFQA_CFG_CMD = 1
_NFQA_CFG_PARAMS = 2
_NFQA_CFG_QUEUE_MAXLEN = 3
_NFQNL_CFG_CMD_BIND = 1
_NFQNL_COPY_META = 1  # the verdict needs only the packet id, not its bytes
_NF_ACCEPT = 1
_NFQUEUE_LENGTH_MAX = 8192  # packets held at once; past it the kernel drops, as netem's limit does
_NETLINK_RECEIVE_BYTES = 1 << 18


def _nlattr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _nfqueue_message(kind: int, queue: int, attributes: list[bytes], flags: int) -> bytes:
    body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack(">H", queue) + b"".join(attributes)
    return struct.pack("=IHHII", 16 + len(body), (_NFNL_SUBSYS_QUEUE << 8) | kind, flags, 0, 0) + body


def _nfqueue_configure(sock: socket.socket, queue: int, attribute: bytes) -> None:
    sock.send(_nfqueue_message(_NFQNL_MSG_CONFIG, queue, [attribute], _NLM_F_REQUEST | _NLM_F_ACK))
    reply = sock.recv(_NETLINK_RECEIVE_BYTES)
    _, kind = struct.unpack_from("=IH", reply)
    if kind == _NLMSG_ERROR:
        (error,) = struct.unpack_from("=i", reply, 16)
        if error:
            raise OSError(-error, f"nfqueue configuration: {os.strerror(-error)}")


def _packet_ids(data: bytes) -> Iterator[int]:
    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if kind == (_NFNL_SUBSYS_QUEUE << 8) | _NFQNL_MSG_PACKET:
            attribute = offset + 20  # past nlmsghdr (16) and nfgenmsg (4)
            while attribute + 4 <= offset + length:
                attribute_length, attribute_kind = struct.unpack_from("=HH", data, attribute)
                if attribute_length < 4:
                    break
                if attribute_kind & 0x3FFF == _NFQA_PACKET_HDR:
                    yield struct.unpack_from(">I", data, attribute + 4)[0]
                    break
                attribute += (attribute_length + 3) & ~3
        offset += (length + 3) & ~3


def run(queue: int, delay_ms: float, jitter_ms: float) -> None:
    """Accept each packet of `queue` once `delay_ms` ± `jitter_ms` have passed since it arrived."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
    sock.bind((0, 0))
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 8 << 20)
    sock.setsockopt(_SOL_NETLINK, _NETLINK_NO_ENOBUFS, 1)
    _nfqueue_configure(sock, queue, _nlattr(_NFQA_CFG_CMD, struct.pack("=BxH", _NFQNL_CFG_CMD_BIND, 0)))
    _nfqueue_configure(sock, queue, _nlattr(_NFQA_CFG_PARAMS, struct.pack(">IB", 0, _NFQNL_COPY_META)))
    _nfqueue_configure(sock, queue, _nlattr(_NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", _NFQUEUE_LENGTH_MAX)))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the parent stops reading; never write to a closed pipe
    held: list[tuple[float, int]] = []  # (release time, packet id), earliest first

    def accept(packet_id: int) -> None:
        verdict = _nlattr(_NFQA_VERDICT_HDR, struct.pack(">II", _NF_ACCEPT, packet_id))
        sock.send(_nfqueue_message(_NFQNL_MSG_VERDICT, queue, [verdict], _NLM_F_REQUEST))

    try:
        while True:
            timeout = max(0.0, held[0][0] - time.monotonic()) if held else None
            if select.select([sock], [], [], timeout)[0]:
                while True:
                    try:
                        data = sock.recv(_NETLINK_RECEIVE_BYTES, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        break
                    arrived = time.monotonic()
                    for packet_id in _packet_ids(data):
                        hold_ms = max(0.0, random.uniform(delay_ms - jitter_ms, delay_ms + jitter_ms))
                        heapq.heappush(held, (arrived + hold_ms / 1000, packet_id))
            now = time.monotonic()
            while held and held[0][0] <= now:
                accept(heapq.heappop(held)[1])
    finally:
        for _, packet_id in held:  # stopping: let what is held go rather than lose it
            with contextlib.suppress(OSError):
                accept(packet_id)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: netdelay.py QUEUE DELAY_MS JITTER_MS", file=sys.stderr)
        return 2
    run(int(argv[0]), float(argv[1]), float(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
