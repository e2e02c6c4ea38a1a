#!/usr/bin/env python3
"""Readiness probe for a Kafka-protocol broker, over the Kafka protocol itself (no client library).

    kafka-probe.py HOST:PORT [BROKERS]

Exits 0 when HOST:PORT answers ApiVersions v0 with error code 0 and a Metadata v1 request
(all topics) with a broker list of at least BROKERS entries (default 1) that includes the
broker it asked. Exits 1 otherwise, printing why on stderr. Each attempt is bounded by 3 s.
"""

import socket
import struct
import sys

CORRELATION = 0x6B61666B
CLIENT_ID = b"kafkit-probe"


def request(sock, api_key, version, body):
    header = struct.pack(">hhih", api_key, version, CORRELATION, len(CLIENT_ID)) + CLIENT_ID
    frame = header + body
    sock.sendall(struct.pack(">i", len(frame)) + frame)
    (size,) = struct.unpack(">i", read(sock, 4))
    if not 4 <= size <= 64 << 20:
        raise ValueError(f"implausible response size {size}")
    resp = read(sock, size)
    (correlation,) = struct.unpack(">i", resp[:4])
    if correlation != CORRELATION:
        raise ValueError(f"correlation id {correlation} is not ours")
    return resp[4:]


def read(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError("truncated response")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        value = self.data[self.pos : self.pos + n]
        self.pos += n
        return value.decode()


def main():
    host, _, port = sys.argv[1].rpartition(":")
    want = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    try:
        with socket.create_connection((host, int(port)), timeout=3) as sock:
            sock.settimeout(3)
            versions = Reader(request(sock, 18, 0, b""))
            error = versions.take(">h")
            if error != 0:
                raise ValueError(f"ApiVersions error code {error}")
            # Metadata v1: topics = null (all topics).
            md = Reader(request(sock, 3, 1, struct.pack(">i", -1)))
            brokers = []
            for _ in range(md.take(">i")):
                node = md.take(">i")
                bhost = md.string()
                bport = md.take(">i")
                md.string()  # rack
                brokers.append((node, bhost, bport))
    except (OSError, EOFError, ValueError, struct.error) as e:
        print(f"kafka-probe: {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    asked = any(bport == int(port) for _, _, bport in brokers)
    if len(brokers) < want or not asked:
        print(f"kafka-probe: {sys.argv[1]}: metadata lists {brokers}, waiting for {want}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
