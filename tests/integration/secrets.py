#!/usr/bin/env python3
"""List the files under PATH (a directory or a file) holding any of the
secrets given in hex, raw or hex-encoded (either case): a leak check that
also finds binary copies."""
import os
import sys

root, secrets = sys.argv[1], [bytes.fromhex(h) for h in sys.argv[2:]]
needles = set()
for s in secrets:
    needles.update({s, s.hex().encode(), s.hex().upper().encode()})
paths = [root] if os.path.isfile(root) else [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
for path in paths:
    try:
        data = open(path, "rb").read()
    except OSError:
        continue
    if any(n in data for n in needles):
        print(path)
