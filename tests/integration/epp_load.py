#!/usr/bin/env python3
"""Attackers and registrars for tests/integration/epp_attack.sh: TLS on loopback, RFC 5734 framing.

usage: epp_load.py MODE PORT CA ARGS...

  idle SECONDS N SRC...       N TCP connections that never start TLS, spread over the source addresses SRC
                              (8 each, the rest from the last); prints "idle N open M closed-by-server C"
  stall SECONDS M SRC         M connections that send half a TLS ClientHello and stop; prints, for each, the
                              seconds until the server closed it ("stall closed-after S" lines)
  login CERT KEY CLID PW SRC  one session: greeting, login as CLID, then logout; prints the login's (or
                              the refusal instead of the greeting) "CODE SECONDS | reason" ("closed SECONDS"
                              if the server closed without one)
  brute CERT KEY CLID SESSIONS PER SRC  SESSIONS sessions of PER wrong logins each, one after the other;
                              prints "CODE SECONDS" per answer
  burst K CERT KEY CLID SRC-PREFIX  K sessions (source SRC-PREFIX.1 .. .K) that connect, wait for each other,
                              then send a wrong login at the same instant; prints "burst CODE" per answer
  update CERT KEY CLID PW SRC DOMAIN DS  login, then a secDNS add of DS ("TAG ALG TYPE HEX"); prints the
                              update's "CODE | reason"
  info CERT KEY CLID PW SRC DOMAIN  login, then domain:info; prints each answer's "CODE | reason"
  load SECONDS N M K CERT KEY CLID PW DOMAIN BCERT BKEY BCLID
                              all at once for SECONDS: N idle connections (127.0.1.x, 8 each), M stalled
                              handshakes (127.0.2.x, reconnecting when cut), K brute-force sessions as BCLID
                              (127.0.3.x, reconnecting), and two registrars CLID (127.0.0.2, 127.0.0.3) that
                              connect, log in, ask domain:info ten times and log out, over and over. Prints the
                              registrars' latencies (every exchange, connecting included) and counts.
Exits 0 when it ran, 1 on bad arguments.
"""
import os
import re
import socket
import ssl
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from epp_client import DOM, SEC, command as epp_command, read_frame as read_raw_frame  # noqa: E402


def command(body, ext=None, trid="T-1"):
    return epp_command(body, ext, trid)


def login_frame(clid, pw):
    return command("<login><clID>%s</clID><pw>%s</pw><options><version>1.0</version><lang>en</lang></options>"
                   "<svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><svcExtension>"
                   "<extURI>urn:ietf:params:xml:ns:secDNS-1.1</extURI></svcExtension></svcs></login>" % (clid, pw))


def info_frame(domain):
    return command("<info><domain:info %s><domain:name>%s</domain:name></domain:info></info>" % (DOM, domain))


def update_frame(domain, ds):
    tag, alg, dt, digest = ds.split()
    return command("<update><domain:update %s><domain:name>%s</domain:name></domain:update></update>" % (DOM, domain),
                   "<secDNS:update %s><secDNS:add><secDNS:dsData><secDNS:keyTag>%s</secDNS:keyTag><secDNS:alg>%s"
                   "</secDNS:alg><secDNS:digestType>%s</secDNS:digestType><secDNS:digest>%s</secDNS:digest>"
                   "</secDNS:dsData></secDNS:add></secDNS:update>" % (SEC, tag, alg, dt, digest))


LOGOUT = command("<logout/>")


def read_frame(sock):
    return read_raw_frame(sock).decode("utf-8", "replace")


def exchange(sock, data):
    sock.sendall(struct.pack(">I", len(data) + 4) + data)
    return read_frame(sock)


def summary(xml):
    if "<greeting>" in xml:
        return "greeting"
    code = re.search(r'<result code="(\d+)">', xml)
    line = code.group(1) if code else "?"
    for r in re.findall(r"<reason>(.*?)</reason>", xml, re.S):
        line += " | " + r
    return line


class Tls:
    def __init__(self, ca, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ctx.load_verify_locations(ca)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.check_hostname = False

    def connect(self, port, src, timeout=60):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src, 0))
        try:
            return self.ctx.wrap_socket(raw)
        except Exception:
            raw.close()
            raise


def tcp(port, src, timeout=60):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src, 0))


def held_until_closed(sock, end):
    """Wait until the server closes sock or end passes; the seconds it took, or None if still open."""
    start = time.time()
    while time.time() < end:
        sock.settimeout(max(0.05, min(0.5, end - time.time())))
        try:
            if sock.recv(4096) == b"":
                return time.time() - start
        except socket.timeout:
            continue
        except OSError:
            return time.time() - start
    return None


# Half a ClientHello: a record header announcing 512 octets, then 5 of them.
HALF_HELLO = b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc\x03"


def idle(port, seconds, n, srcs):
    socks = []
    for i in range(n):
        src = srcs[min(i // 8, len(srcs) - 1)]
        try:
            socks.append(tcp(port, src))
        except OSError:
            pass
    end = time.time() + seconds
    closed = [0]
    lock = threading.Lock()

    def watch(s):
        if held_until_closed(s, end) is not None:
            with lock:
                closed[0] += 1

    ts = [threading.Thread(target=watch, args=(s,)) for s in socks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("idle %d open %d closed-by-server %d" % (n, len(socks), closed[0]), flush=True)


def stall(port, seconds, m, src):
    end = time.time() + seconds
    out = []

    def one():
        try:
            s = tcp(port, src)
            s.sendall(HALF_HELLO)
            t = held_until_closed(s, end)
            out.append("stall closed-after %s" % ("%.1f" % t if t is not None else "never"))
        except OSError as e:
            out.append("stall refused %s" % e)

    ts = [threading.Thread(target=one) for _ in range(m)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("\n".join(out), flush=True)


def login(port, tls, clid, pw, src):
    start = time.time()
    try:
        s = tls.connect(port, src)
        xml = read_frame(s)
        if "<greeting>" in xml:  # else the server refused the session before it began
            xml = exchange(s, login_frame(clid, pw))
        took = time.time() - start
        code = summary(xml)
        if code.startswith("1000"):
            exchange(s, LOGOUT)
        s.close()
        print("%s %.1f" % (code.split(" | ")[0], took) + "".join(" | " + r for r in code.split(" | ")[1:]),
              flush=True)
    except (OSError, ssl.SSLError, ConnectionError):
        print("closed %.1f" % (time.time() - start), flush=True)


def brute(port, tls, clid, sessions, per, src):
    for _ in range(sessions):
        try:
            s = tls.connect(port, src)
            read_frame(s)
            for _ in range(per):
                t = time.time()
                xml = exchange(s, login_frame(clid, "wrong-pw-0"))
                print("%s %.1f" % (summary(xml).split(" | ")[0], time.time() - t), flush=True)
            s.close()
        except (OSError, ssl.SSLError, ConnectionError):
            print("closed", flush=True)


def burst(port, tls, k, clid, prefix):
    socks = []
    for i in range(k):
        try:
            s = tls.connect(port, "%s.%d" % (prefix, i + 1))
            read_frame(s)
            socks.append(s)
        except (OSError, ssl.SSLError, ConnectionError) as e:
            print("burst connect-failed %s" % e, flush=True)
    go = threading.Barrier(len(socks))
    out = []

    def one(s):
        go.wait()
        try:
            out.append(summary(exchange(s, login_frame(clid, "wrong-pw-0"))).split(" | ")[0])
        except (OSError, ssl.SSLError, ConnectionError):
            out.append("closed")

    ts = [threading.Thread(target=one, args=(s,)) for s in socks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for c in out:
        print("burst %s" % c, flush=True)


def session_then(port, tls, clid, pw, src, frames):
    s = tls.connect(port, src)
    print(summary(read_frame(s)), flush=True)
    print(summary(exchange(s, login_frame(clid, pw))), flush=True)
    for f in frames:
        print(summary(exchange(s, f)), flush=True)
    s.close()


def load(port, ca, args):
    seconds, n, m, k = float(args[0]), int(args[1]), int(args[2]), int(args[3])
    cert, key, clid, pw, domain, bcert, bkey, bclid = args[4:12]
    legit, attacker = Tls(ca, cert, key), Tls(ca, bcert, bkey)
    end = time.time() + seconds
    lock = threading.Lock()
    lat, bad, counts = [], [], {"idle-cut": 0, "stall-cut": 0, "brute-answers": 0, "brute-refused": 0,
                                "legit-sessions": 0}

    def count(what):
        with lock:
            counts[what] += 1

    def idler(i):
        src = "127.0.1.%d" % (1 + i // 8)
        while time.time() < end:
            try:
                s = tcp(port, src)
            except OSError:
                time.sleep(0.2)
                continue
            if held_until_closed(s, end) is not None:
                count("idle-cut")
            s.close()
            time.sleep(0.1)

    def staller(i):
        src = "127.0.2.%d" % (1 + i // 8)
        while time.time() < end:
            try:
                s = tcp(port, src)
                s.sendall(HALF_HELLO)
            except OSError:
                time.sleep(0.2)
                continue
            if held_until_closed(s, end) is not None:
                count("stall-cut")
            s.close()
            time.sleep(0.1)

    def bruter(i):
        src = "127.0.3.%d" % (1 + i)
        while time.time() < end:
            try:
                s = attacker.connect(port, src, timeout=30)
                read_frame(s)
                while time.time() < end:
                    summary_ = summary(exchange(s, login_frame(bclid, "wrong-pw-%d" % i)))
                    count("brute-answers")
            except (OSError, ssl.SSLError, ConnectionError, struct.error):
                count("brute-refused")
            time.sleep(0.2)

    def registrar(src):
        while time.time() < end:
            t0 = time.time()
            try:
                s = legit.connect(port, src, timeout=30)
                read_frame(s)
                t1 = time.time()
                samples = [t1 - t0]
                xml = exchange(s, login_frame(clid, pw))
                samples.append(time.time() - t1)
                if not summary(xml).startswith("1000"):
                    raise ConnectionError("login answered " + summary(xml))
                for _ in range(10):
                    t = time.time()
                    xml = exchange(s, info_frame(domain))
                    samples.append(time.time() - t)
                    if not summary(xml).startswith("1000"):
                        raise ConnectionError("info answered " + summary(xml))
                    time.sleep(0.05)
                exchange(s, LOGOUT)
                s.close()
                with lock:
                    lat.extend(samples)
                count("legit-sessions")
            except (OSError, ssl.SSLError, ConnectionError, struct.error) as e:
                with lock:
                    bad.append("%.1f %s" % (time.time() - t0, e))
                time.sleep(0.2)

    ts = [threading.Thread(target=idler, args=(i,)) for i in range(n)]
    ts += [threading.Thread(target=staller, args=(i,)) for i in range(m)]
    ts += [threading.Thread(target=bruter, args=(i,)) for i in range(k)]
    ts += [threading.Thread(target=registrar, args=(src,)) for src in ("127.0.0.2", "127.0.0.3")]
    for t in ts:
        t.daemon = True
        t.start()
    for t in ts:
        t.join(timeout=max(0.1, end + 40 - time.time()))
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("inf")

    print("legit samples %d p50 %.3f p99 %.3f max %.3f failures %d" % (len(lat), pct(0.5), pct(0.99),
                                                                      lat[-1] if lat else float("inf"), len(bad)))
    print(" ".join("%s %d" % kv for kv in counts.items()))
    for b in bad[:5]:
        print("failure: %s" % b)
    sys.stdout.flush()


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 1
    mode, port, ca, a = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    if mode == "idle":
        idle(port, float(a[0]), int(a[1]), a[2:])
    elif mode == "stall":
        stall(port, float(a[0]), int(a[1]), a[2])
    elif mode == "login":
        login(port, Tls(ca, a[0], a[1]), a[2], a[3], a[4])
    elif mode == "brute":
        brute(port, Tls(ca, a[0], a[1]), a[2], int(a[3]), int(a[4]), a[5])
    elif mode == "burst":
        burst(port, Tls(ca, a[1], a[2]), int(a[0]), a[3], a[4])
    elif mode == "update":
        session_then(port, Tls(ca, a[0], a[1]), a[2], a[3], a[4], [update_frame(a[5], a[6])])
    elif mode == "info":
        session_then(port, Tls(ca, a[0], a[1]), a[2], a[3], a[4], [info_frame(a[5])])
    elif mode == "load":
        load(port, ca, a)
    else:
        print(__doc__, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
