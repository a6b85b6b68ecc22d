#!/usr/bin/env python3
"""A small EPP client for the tests: TLS with a client certificate, RFC 5734 framing.

usage: epp_client.py PORT CA CERT KEY OUTDIR FRAME...

Connects to 127.0.0.1:PORT, prints "greeting" for the greeting, then sends each
FRAME (a file of XML) and prints one line per answer: the result code, then the
message and every extValue reason. Special frames:
  @oversize   a frame header announcing 2 GiB (the server must refuse and close)
  @hello      <hello/>
Each answer is also written to OUTDIR/NNN.xml for schema validation.
Exits 0 when the session ran (whatever the codes), 1 when the connection broke early.
"""
import re
import socket
import ssl
import struct
import sys


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def read_frame(sock):
    total = struct.unpack(">I", read_exactly(sock, 4))[0]
    return read_exactly(sock, total - 4)


def summary(xml):
    text = xml.decode("utf-8", "replace")
    if "<greeting>" in text:
        return "greeting"
    code = re.search(r'<result code="(\d+)">', text)
    msg = re.search(r"<msg>(.*?)</msg>", text, re.S)
    reasons = re.findall(r"<reason>(.*?)</reason>", text, re.S)
    line = "%s %s" % (code.group(1) if code else "?", msg.group(1) if msg else "")
    for r in reasons:
        line += " | " + r
    return line


def main():
    port, ca, cert, key, outdir = sys.argv[1:6]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    ctx.check_hostname = False
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port)), timeout=30))
    n = 0

    def answer():
        nonlocal n
        xml = read_frame(sock)
        with open("%s/%03d.xml" % (outdir, n), "wb") as f:
            f.write(xml)
        n += 1
        print(summary(xml), flush=True)

    try:
        answer()
        for frame in sys.argv[6:]:
            if frame == "@oversize":
                sock.sendall(struct.pack(">I", 0x7FFFFFFF) + b"<epp")
            else:
                if frame == "@hello":
                    data = b'<?xml version="1.0"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><hello/></epp>'
                else:
                    with open(frame, "rb") as f:
                        data = f.read()
                sock.sendall(struct.pack(">I", len(data) + 4) + data)
            answer()
    except (ConnectionError, ssl.SSLError, OSError) as e:
        print("closed: %s" % e, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
