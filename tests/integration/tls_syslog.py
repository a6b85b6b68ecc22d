#!/usr/bin/env python3
"""A syslog collector over TLS (RFC 5425) for the tests: CERT KEY PORTFILE.
Prints each octet-counted message ("LEN SP MSG", RFC 5425 4.3) on its own line,
"bad-frame" for anything else, "handshake-failed" when a client gives up."""
import socket, ssl, sys

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4)
srv.settimeout(300)
with open(sys.argv[3], "w") as f:
    f.write(str(srv.getsockname()[1]))
print("ready", flush=True)
while True:
    try:
        conn, _ = srv.accept()
    except socket.timeout:
        break
    conn.settimeout(20)
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError):
        print("handshake-failed", flush=True)
        conn.close()
        continue
    data = b""
    try:
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ssl.SSLError, OSError):
        pass
    while data:
        sp = data.find(b" ")
        if sp <= 0 or not data[:sp].isdigit() or len(data) < sp + 1 + int(data[:sp]):
            print("bad-frame", flush=True)
            break
        n = int(data[:sp])
        print(data[sp + 1:sp + 1 + n].decode(), flush=True)
        data = data[sp + 1 + n:]
    tls.close()
