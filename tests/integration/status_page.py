#!/usr/bin/env python3
"""Load a status page in headless Chromium at given window sizes and report what the DOM shows.

usage: status_page.py CHROMIUM PAGE OUTDIR WxH[:mobile]...

Speaks the DevTools protocol over --remote-debugging-pipe (fds 3 and 4, NUL-terminated JSON),
so nothing beyond the standard library is needed. For each size: a screenshot OUTDIR/shot-WxH.png
and one line "WxH key=value ..." of DOM facts (the page itself has no script: the queries are ours).
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

QUERY = r"""
(() => {
  const q = s => document.querySelectorAll(s).length;
  const keyRows = Array.from(document.querySelectorAll('table.keys tr.key')).map(r => r.id).join(',');
  const tlRows = Array.from(document.querySelectorAll('g.krow')).map(g => g.getAttribute('data-key')).join(',');
  return {
    title: document.title,
    zone_names: Array.from(document.querySelectorAll('section.zone h2')).map(h => h.textContent).join('|') || '-',
    key_rows: keyRows || '-',
    timeline_rows: tlRows || '-',
    now_lines: q('svg line.now'),
    max_lines: q('svg line.max-dnskeys'),
    count_paths: q('svg path.dnskey-count'),
    span_titles: q('svg rect title'),
    alarms_section: q('section#alarms'),
    alarm_rows: q('tr.alarm'),
    scripts: q('script'),
    external: q('[src],link[href]'),
    viewport_meta: q('meta[name=viewport]'),
    svg_width: document.querySelector('svg') ? document.querySelector('svg').getAttribute('width') : '-',
    scroll_width: document.documentElement.scrollWidth,
    inner_width: window.innerWidth,
    body_text_len: document.body.innerText.length,
  };
})()
"""


class Browser:
    def __init__(self, binary):
        self.tmp = tempfile.mkdtemp(prefix="chromium-")
        to_r, to_w = os.pipe()      # our commands -> chromium's fd 3
        from_r, from_w = os.pipe()  # chromium's fd 4 -> us
        def child_fds():
            # Through copies above 4, so neither end can be overwritten or left close-on-exec.
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)
        args = [binary, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--remote-debugging-pipe", "--user-data-dir=" + self.tmp, "--hide-scrollbars", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        self.proc = subprocess.Popen(args, preexec_fn=child_fds, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "log"), "wb") if os.environ.get("STATUS_PAGE_DEBUG") is None else None)
        os.close(to_r)
        os.close(from_w)
        self.w = os.fdopen(to_w, "wb")
        self.r = os.fdopen(from_r, "rb")
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _read(self):
        while b"\0" not in self.buf:
            chunk = self.r.read1(1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.w.write(json.dumps(msg).encode() + b"\0")
        self.w.flush()
        while True:
            m = self._read()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m["result"]
            self.events.append(m)

    def wait_event(self, name, session):
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == name and m.get("sessionId") == session:
                    del self.events[i]
                    return m
            self.events.append(self._read())

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        self.proc.wait(timeout=30)
        subprocess.run(["rm", "-rf", self.tmp])


def main():
    binary, page, outdir = sys.argv[1:4]
    url = "file://" + os.path.abspath(page)
    b = Browser(binary)
    try:
        for spec in sys.argv[4:]:
            size, _, mode = spec.partition(":")
            width, height = (int(x) for x in size.split("x"))
            target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            s = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            b.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                   "deviceScaleFactor": 1, "mobile": mode == "mobile"}, s)
            b.call("Page.enable", {}, s)
            b.call("Page.navigate", {"url": url}, s)
            b.wait_event("Page.loadEventFired", s)
            facts = b.call("Runtime.evaluate", {"expression": QUERY, "returnByValue": True}, s)["result"]["value"]
            shot = base64.b64decode(b.call("Page.captureScreenshot", {"format": "png"}, s)["data"])
            path = os.path.join(outdir, "shot-%dx%d.png" % (width, height))
            with open(path, "wb") as f:
                f.write(shot)
            # The PNG's own size (IHDR) and its length in octets.
            facts["png_width"] = int.from_bytes(shot[16:20], "big") if shot[:8] == b"\x89PNG\r\n\x1a\n" else 0
            facts["png_height"] = int.from_bytes(shot[20:24], "big") if facts["png_width"] else 0
            facts["png_bytes"] = len(shot)
            print("%dx%d %s" % (width, height, " ".join("%s=%s" % (k, str(v).replace(" ", "_"))
                                                          for k, v in facts.items())))
            b.call("Target.closeTarget", {"targetId": target})
    finally:
        b.close()


if __name__ == "__main__":
    main()
