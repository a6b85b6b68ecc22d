#!/usr/bin/env python3
"""A small EPP client for the tests: TLS with a client certificate, RFC 5734 framing.

usage: epp_client.py PORT CA CERT KEY OUTDIR FRAME...
       epp_client.py --stream PORT CA CERT KEY CLID PW DOMAINS SECONDS LOG FINAL [RATE [SEED [PER-SESSION]]]

Connects to 127.0.0.1:PORT, prints "greeting" for the greeting, then sends each
FRAME (a file of XML) and prints one line per answer: the result code, then the
message and every extValue reason. Special frames:
  @oversize   a frame header announcing 2 GiB (the server must refuse and close)
  @hello      <hello/>
Each answer is also written to OUTDIR/NNN.xml for schema validation.
Exits 0 when the session ran (whatever the codes), 1 when the connection broke early.

--stream: a soak client (tests/integration/serve_epp.sh). Logs in as CLID with
PW and sends secDNS updates for SECONDS, at most RATE commands a second (0: as
fast as answered; default 20), to the domains of DOMAINS (one line per
delegation: NAME, then its DS records as TAG ALG TYPE HEX groups), logging out
and in again every PER-SESSION commands (default 400). The mix: a DS added, one
removed, one replaced (rem and add in one command), rem all, domain:info (its
secDNS data must be what the client expects), and commands the server does not
serve (domain:create, domain:delete, a name server change: 2101 or 2102 and no
change). LOG gets one line per command: the time, CLID, the result code, the
command, the domain and what it should change in the zone (+DS/-DS RDATA,
"rem all", "none"). FINAL gets the DS records each domain should hold at the
end, in DOMAINS' form. The last line on standard output is the tally: acked N
expected-refusals N unexpected N mismatches N sessions N. Exits 0 when every
answer was the expected one, 2 when some were not, 1 when the connection broke
(the command then in flight is of unknown effect: its domain is marked so in
FINAL with a "?" line).
"""
import random
import re
import socket
import ssl
import struct
import sys
import time


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


EPP = '<?xml version="1.0" encoding="UTF-8"?>\n<epp xmlns="urn:ietf:params:xml:ns:epp-1.0">'
DOM = 'xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"'
SEC = 'xmlns:secDNS="urn:ietf:params:xml:ns:secDNS-1.1"'


def command(body, ext, trid):
    return (EPP + "<command>" + body + ("<extension>%s</extension>" % ext if ext else "")
            + "<clTRID>%s</clTRID></command></epp>" % trid).encode()


def ds_xml(ds):
    return ("<secDNS:dsData><secDNS:keyTag>%s</secDNS:keyTag><secDNS:alg>%s</secDNS:alg>"
            "<secDNS:digestType>%s</secDNS:digestType><secDNS:digest>%s</secDNS:digest></secDNS:dsData>" % ds)


def stream(args):
    port, ca, cert, key, clid, pw, domains, seconds, log, final = args[:10]
    rate = float(args[10]) if len(args) > 10 else 20.0
    rng = random.Random(args[11] if len(args) > 11 else clid)
    per_session = int(args[12]) if len(args) > 12 else 400
    model = {}
    with open(domains) as f:
        for line in f:
            w = line.split()
            if w:
                model[w[0].rstrip(".").lower()] = set(
                    (w[i], w[i + 1], w[i + 2], w[i + 3].upper()) for i in range(1, len(w) - 3, 4))
    names = sorted(model)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    ctx.check_hostname = False
    out = open(log, "w", buffering=1)
    tally = {"acked": 0, "expected-refusals": 0, "unexpected": 0, "mismatches": 0, "sessions": 0}
    state = {"sock": None, "trid": 0, "in_session": 0}
    uncertain = set()

    def exchange(data):
        sock = state["sock"]
        sock.sendall(struct.pack(">I", len(data) + 4) + data)
        return read_frame(sock).decode("utf-8", "replace")

    def code_of(xml):
        m = re.search(r'<result code="(\d+)">', xml)
        return m.group(1) if m else "?"

    def trid():
        state["trid"] += 1
        return "%s-%d" % (clid, state["trid"])

    def record(code, what, name, effect, want):
        out.write("%.3f %s %s %s %s %s\n" % (time.time(), clid, code, what, name + ".", effect))
        if code not in want:
            tally["unexpected"] += 1
            out.write("# UNEXPECTED: %s %s answered %s, want %s\n" % (what, name, code, "/".join(want)))
            return False
        return True

    def login():
        sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port)), timeout=30))
        state["sock"] = sock
        read_frame(sock)  # the greeting
        xml = exchange(command(
            "<login><clID>%s</clID><pw>%s</pw><options><version>1.0</version><lang>en</lang></options>"
            "<svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><svcExtension>"
            "<extURI>urn:ietf:params:xml:ns:secDNS-1.1</extURI></svcExtension></svcs></login>" % (clid, pw),
            None, trid()))
        tally["sessions"] += 1
        state["in_session"] = 0
        return record(code_of(xml), "login", clid, "none", ("1000",))

    def logout():
        xml = exchange(command("<logout/>", None, trid()))
        state["sock"].close()
        state["sock"] = None
        return record(code_of(xml), "logout", clid, "none", ("1500",))

    def new_ds():
        alg = rng.choice(("13", "13", "8", "15"))
        dt, n = rng.choice((("2", 32), ("2", 32), ("4", 48)))
        return (str(rng.randint(1, 65535)), alg, dt, "%0*X" % (2 * n, rng.getrandbits(8 * n)))

    def update(name, sec):
        body = "<update><domain:update %s><domain:name>%s</domain:name></domain:update></update>" % (DOM, name)
        return command(body, "<secDNS:update %s>%s</secDNS:update>" % (SEC, sec), trid())

    def fmt(sign, ds):
        return "%sDS %s" % (sign, " ".join(ds))

    def one():
        name = rng.choice(names)
        have = model[name]
        r = rng.random()
        if r < 0.40 and len(have) < 4 or not have and r < 0.70:
            ds = new_ds()
            uncertain.add(name)
            xml = exchange(update(name, "<secDNS:add>%s</secDNS:add>" % ds_xml(ds)))
            uncertain.discard(name)
            ok = record(code_of(xml), "update", name, fmt("+", ds), ("1000",))
            if ok:
                have.add(ds)
        elif r < 0.65 and have:
            ds = rng.choice(sorted(have))
            uncertain.add(name)
            xml = exchange(update(name, "<secDNS:rem>%s</secDNS:rem>" % ds_xml(ds)))
            uncertain.discard(name)
            ok = record(code_of(xml), "update", name, fmt("-", ds), ("1000",))
            if ok:
                have.discard(ds)
        elif r < 0.82 and have:
            old, ds = rng.choice(sorted(have)), new_ds()
            uncertain.add(name)
            xml = exchange(update(name, "<secDNS:rem>%s</secDNS:rem><secDNS:add>%s</secDNS:add>"
                                  % (ds_xml(old), ds_xml(ds))))
            uncertain.discard(name)
            ok = record(code_of(xml), "update", name, fmt("-", old) + " " + fmt("+", ds), ("1000",))
            if ok:
                have.discard(old)
                have.add(ds)
        elif r < 0.87 and have:
            uncertain.add(name)
            xml = exchange(update(name, "<secDNS:rem><secDNS:all>true</secDNS:all></secDNS:rem>"))
            uncertain.discard(name)
            ok = record(code_of(xml), "update", name, "rem all", ("1000",))
            if ok:
                have.clear()
        elif r < 0.97:
            xml = exchange(command("<info><domain:info %s><domain:name>%s</domain:name></domain:info></info>"
                                   % (DOM, name), None, trid()))
            if record(code_of(xml), "info", name, "none", ("1000",)):
                got = set((a, b, c, d.upper()) for a, b, c, d in re.findall(
                    r"<secDNS:keyTag>(\d+)</secDNS:keyTag><secDNS:alg>(\d+)</secDNS:alg>"
                    r"<secDNS:digestType>(\d+)</secDNS:digestType><secDNS:digest>([0-9A-Fa-f]+)</secDNS:digest>",
                    xml))
                if got != have:
                    tally["mismatches"] += 1
                    out.write("# MISMATCH: info %s shows %s, want %s\n" % (name, sorted(got), sorted(have)))
            return False
        else:
            # What the server does not serve: refused, and nothing changes.
            k = rng.randrange(3)
            if k == 0:
                body = ("<create><domain:create %s><domain:name>x%d-%s</domain:name><domain:authInfo>"
                        "<domain:pw>abc-123-def</domain:pw></domain:authInfo></domain:create></create>"
                        % (DOM, rng.randrange(10 ** 6), name))
                what, want = "create", ("2101",)
            elif k == 1:
                body = "<delete><domain:delete %s><domain:name>%s</domain:name></domain:delete></delete>" % (DOM, name)
                what, want = "delete", ("2101",)
            else:
                body = ("<update><domain:update %s><domain:name>%s</domain:name><domain:add><domain:ns>"
                        "<domain:hostObj>ns9.example.net</domain:hostObj></domain:ns></domain:add>"
                        "</domain:update></update>" % (DOM, name))
                what, want = "ns-change", ("2102",)
            xml = exchange(command(body, None, trid()))
            if record(code_of(xml), what, name, "none (refused)", want):
                tally["expected-refusals"] += 1
            return False
        return ok

    rc = 0
    end = time.time() + float(seconds)
    gap = 1.0 / rate if rate > 0 else 0.0
    nxt = time.time()
    try:
        if not login():
            rc = 2
            end = 0
        while time.time() < end:
            if state["in_session"] >= per_session:
                if not logout() or not login():
                    rc = 2
                    break
            if one():
                tally["acked"] += 1
            state["in_session"] += 1
            nxt += gap
            pause = nxt - time.time()
            if pause > 0:
                time.sleep(pause)
            else:
                nxt = time.time()
        if state["sock"] is not None:
            logout()
    except (ConnectionError, ssl.SSLError, OSError, struct.error) as e:
        out.write("# closed: %s\n" % e)
        print("closed: %s" % e, flush=True)
        rc = 1
    with open(final, "w") as f:
        for name in names:
            f.write("%s.%s\n" % (name, "".join(" %s %s %s %s" % ds for ds in sorted(model[name]))))
        for name in sorted(uncertain):
            f.write("? %s.\n" % name)
    if tally["unexpected"] or tally["mismatches"]:
        rc = rc or 2
    print(" ".join("%s %d" % kv for kv in tally.items()), flush=True)
    return rc


def main():
    if sys.argv[1:2] == ["--stream"]:
        return stream(sys.argv[2:])
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
