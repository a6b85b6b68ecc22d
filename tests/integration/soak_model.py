#!/usr/bin/env python3
"""The expected registry zone of tests/integration/serve_epp.sh: its delegations
before the soak, what the registry's own commands change during it, and the
comparison of a served zone with what the acknowledged commands imply.

  soak_model.py split ZONE ORIGIN OUT-A OUT-B
      ZONE (regsign-genzone text) as two zone files: the apex and, by delegation,
      two thirds of the delegations (the first and third of every three) in OUT-A,
      the other third in OUT-B (with their glue).
  soak_model.py domains EXPORT ORIGIN ZONE-B EPP-A EPP-B OPS
      from `domain export` text, as the EPP client's DOMAINS files (NAME then
      TAG ALG TYPE HEX per DS): the delegations of ZONE-B (split's OUT-B,
      registrar B's) to EPP-B, the others (registrar A's) by turns to EPP-A and
      to OPS, for the registry's commands.
  soak_model.py ops REGSIGN STATE ORIGIN REGISTRAR OPS SECONDS LOG FINAL [RATE]
      domain add (plain, with glue, followed by ds submit), domain remove, and a
      name server change (remove, then add with other name servers) through the
      CLI, for SECONDS, at most RATE a second (default 4): on the domains of OPS
      and those it creates. LOG: one line per command and its exit status; FINAL:
      each touched delegation's end state (NAME gone, or NAME NS ... GLUE ... DS ...).
      Last line on standard output: ok N failed N.
  soak_model.py compare EXPORT ORIGIN DUMP EPP-FINAL... --ops OPS-FINAL
      the delegations DUMP (dig AXFR lines or `domain export` text) holds (NS, DS,
      glue A/AAAA) against EXPORT changed by what the finals say; exit 0 when
      equal, else 1 and the differences. Prints what was compared.
"""
import ipaddress
import random
import subprocess
import sys
import time

DATA_TYPES = ("NS", "DS", "A", "AAAA")


def absname(owner, origin):
    owner = owner.lower()
    if owner == "@":
        return origin
    return owner if owner.endswith(".") else owner + "." + origin


def parse_rr(line, origin):
    """(owner, type, rdata) from zone or dig text, None for other lines."""
    line = line.split(";", 1)[0].strip()
    w = line.split()
    if len(w) < 5 or w[0].startswith("$"):
        return None
    owner = absname(w[0], origin)
    i = 1
    while i < len(w) and (w[i].isdigit() or w[i] in ("IN", "CH")):
        i += 1
    if i >= len(w):
        return None
    rtype, rd = w[i].upper(), w[i + 1:]
    if rtype == "NS":
        rdata = absname(rd[0], origin)
    elif rtype == "DS":
        rdata = " ".join(rd[:3] + ["".join(rd[3:]).upper()])
    elif rtype in ("A", "AAAA"):
        rdata = str(ipaddress.ip_address(rd[0]))
    else:
        rdata = " ".join(rd)
    return owner, rtype, rdata


def delegations(path, origin):
    """owner -> {type: set(rdata)} for NS, DS, A and AAAA below the apex."""
    out = {}
    with open(path) as f:
        for line in f:
            rr = parse_rr(line, origin)
            if rr is None or rr[0] == origin or rr[1] not in DATA_TYPES:
                continue
            out.setdefault(rr[0], {}).setdefault(rr[1], set()).add(rr[2])
    return out


def cut_of(owner, origin):
    """The delegation an owner below origin belongs to (its label under origin)."""
    rel = owner[: -len(origin)].rstrip(".")
    return rel.split(".")[-1] + "." + origin


def split(zone, origin, out_a, out_b):
    fa, fb = open(out_a, "w"), open(out_b, "w")
    order = {}
    with open(zone) as f:
        for line in f:
            w = line.split()
            if not w or w[0].startswith(";"):
                continue
            if w[0].startswith("$") or w[0] == "@":
                fa.write(line)
                fb.write(line)
                continue
            cut = cut_of(absname(w[0], origin), origin)
            k = order.setdefault(cut, len(order))
            (fb if k % 3 == 1 else fa).write(line)
    fa.close()
    fb.close()


def domains(export, origin, zone_b, epp_a, epp_b, ops):
    d = delegations(export, origin)
    cuts = sorted(o for o, t in d.items() if "NS" in t)
    of_b = set(cut_of(o, origin) for o, t in delegations(zone_b, origin).items() if "NS" in t)
    files = [open(p, "w") for p in (epp_a, epp_b, ops)]
    i = 0
    for c in cuts:
        ds = sorted(d[c].get("DS", ()))
        if c in of_b:
            f = files[1]
        else:
            f, i = files[0 if i % 2 == 0 else 2], i + 1
        f.write(c + "".join(" " + x for x in ds) + "\n")
    for f in files:
        f.close()


def ops(regsign, state, origin, registrar, ops_file, seconds, log, final, rate=4.0):
    rng = random.Random(origin + registrar)
    with open(ops_file) as f:
        spare = [line.split()[0] for line in f if line.strip()]
    rng.shuffle(spare)
    model = {}  # name -> None (gone) or (ns tuple, glue tuple, ds tuple)
    mine = []  # delegations this stream made and may change or remove
    counts = {"ok": 0, "failed": 0}
    out = open(log, "w", buffering=1)

    def run(*args):
        p = subprocess.run([regsign, "--state", state] + list(args), capture_output=True, text=True)
        out.write("%.3f %d %s\n" % (time.time(), p.returncode, " ".join(args)))
        if p.returncode != 0:
            counts["failed"] += 1
            out.write("# FAILED: %s\n" % (p.stdout + p.stderr).strip().replace("\n", " | "))
            return False
        counts["ok"] += 1
        return True

    def ds():
        return "%d 13 2 %064X" % (rng.randint(1, 65535), rng.getrandbits(256))

    def add(name):
        h = rng.randrange(10)
        if rng.random() < 0.25:
            ns = ("ns1." + name, "ns.hosting%d.example." % h)
            glue = ("ns1.%s/192.0.2.%d" % (name, rng.randrange(1, 255)),
                    "ns1.%s/2001:db8::%x" % (name, rng.randrange(1, 65535)))
        else:
            ns, glue = ("ns1.hosting%d.example." % h, "ns2.hosting%d.example." % h), ()
        args = ["domain", "add", name, "--zone", origin, "--registrar", registrar, "--ns", ",".join(ns)]
        if glue:
            args += ["--glue", ",".join(glue)]
        if not run(*args):
            return False
        model[name] = (ns, glue, ())
        if rng.random() < 0.5:
            d = ds()
            if run("ds", "submit", "--domain", name, "--ds", d):
                model[name] = (ns, glue, (d,))
        return True

    serial = 0
    end = time.time() + float(seconds)
    gap = 1.0 / float(rate)
    nxt = time.time()
    while time.time() < end:
        r = rng.random()
        if r < 0.45 or not (spare or mine):
            serial += 1
            name = "soak%d-%d.%s" % (serial, rng.randrange(1000), origin)
            if add(name):
                mine.append(name)
        elif r < 0.75:
            pool = spare if spare and (rng.random() < 0.5 or not mine) else mine
            name = pool.pop(rng.randrange(len(pool)))
            if run("domain", "remove", name):
                model[name] = None
            else:
                pool.append(name)
        else:
            pool = spare if spare and (rng.random() < 0.5 or not mine) else mine
            name = pool.pop(rng.randrange(len(pool)))
            if run("domain", "remove", name):
                model[name] = None
                add(name)
            mine.append(name)
        nxt += gap
        pause = nxt - time.time()
        if pause > 0:
            time.sleep(pause)
        else:
            nxt = time.time()
    with open(final, "w") as f:
        for name in sorted(model):
            m = model[name]
            if m is None:
                f.write("%s gone\n" % name)
            else:
                f.write("%s NS %s GLUE %s DS %s\n" % (name, ",".join(m[0]), ",".join(m[1]) or "-",
                                                      "|".join(d.replace(" ", "/") for d in m[2]) or "-"))
    print("ok %d failed %d touched %d" % (counts["ok"], counts["failed"], len(model)), flush=True)
    return 0 if counts["failed"] == 0 else 2


def compare(export, origin, dump, finals, ops_final):
    want = delegations(export, origin)
    skip = set()
    changed = set()
    for path in finals:
        with open(path) as f:
            for line in f:
                w = line.split()
                if not w:
                    continue
                if w[0] == "?":
                    skip.add(w[1])
                    continue
                name = w[0]
                ds = set(parse_rr("%s 0 IN DS %s" % (name, " ".join(w[i:i + 4])), origin)[2]
                         for i in range(1, len(w) - 3, 4))
                rrs = want.setdefault(name, {})
                if ds != rrs.get("DS", set()):
                    changed.add(name)
                if ds:
                    rrs["DS"] = ds
                else:
                    rrs.pop("DS", None)
    if ops_final:
        with open(ops_final) as f:
            for line in f:
                w = line.split()
                if not w:
                    continue
                name = w[0]
                changed.add(name)
                # The delegation goes with everything below it (its glue).
                for owner in [o for o in want if o == name or o.endswith("." + name)]:
                    del want[owner]
                if w[1] == "gone":
                    continue
                ns, glue, ds = w[2].split(","), w[4], w[6]
                want[name] = {"NS": set(ns)}
                if ds != "-":
                    want[name]["DS"] = set(parse_rr("%s 0 IN DS %s" % (name, d.replace("/", " ")), origin)[2]
                                           for d in ds.split("|"))
                for g in glue.split(",") if glue != "-" else ():
                    host, addr = g.split("/")
                    ip = ipaddress.ip_address(addr)
                    want.setdefault(host, {}).setdefault("A" if ip.version == 4 else "AAAA", set()).add(str(ip))
    have = delegations(dump, origin)
    diffs = []
    for owner in sorted(set(want) | set(have)):
        if any(owner == s or owner.endswith("." + s) for s in skip):
            continue
        for t in DATA_TYPES:
            a, b = want.get(owner, {}).get(t, set()), have.get(owner, {}).get(t, set())
            if a != b:
                diffs.append("%s %s: want %s, have %s" % (owner, t, sorted(a) or "none", sorted(b) or "none"))
    ds_names = sum(1 for o in want if "DS" in want[o])
    print("compared %d owners (%d delegations, %d with DS, %d changed by the soak)%s" % (
        len(set(want) | set(have)), sum(1 for o in want if "NS" in want[o]), ds_names, len(changed),
        ", %d of unknown state skipped" % len(skip) if skip else ""))
    for d in diffs[:20]:
        print(d)
    if len(diffs) > 20:
        print("... %d differences in all" % len(diffs))
    return 1 if diffs else 0


def main():
    a = sys.argv[1:]
    if a[0] == "split":
        split(a[1], a[2].lower(), a[3], a[4])
        return 0
    if a[0] == "domains":
        domains(a[1], a[2].lower(), a[3], a[4], a[5], a[6])
        return 0
    if a[0] == "ops":
        return ops(a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], *(float(x) for x in a[9:10]))
    if a[0] == "compare":
        rest = a[4:]
        ops_final = None
        if "--ops" in rest:
            i = rest.index("--ops")
            ops_final = rest[i + 1]
            rest = rest[:i] + rest[i + 2:]
        return compare(a[1], a[2].lower(), a[3], rest, ops_final)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
