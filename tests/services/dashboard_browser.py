#!/usr/bin/env python3
"""Drives Debian's chromium headless over the DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages ended by NUL on fds 3 and 4; no npm
package, no port) against `recbandit serve --demo`'s dashboard.

Usage: dashboard_browser.py <chromium> <http base URL> <token> <screenshot dir>

For every page: loads it, fails on any console error, uncaught exception,
failed request or unexpected HTTP status, checks the demo's figures in the
DOM, and saves a full-page PNG screenshot as <dir>/<page>.png.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time

CHROMIUM, BASE, TOKEN, SHOTS = sys.argv[1:5]
TIMEOUT = 20  # seconds for one command or one page load


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="recbandit-chromium-")
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        # The shell puts the pipe ends on fds 3 and 4, where chromium reads
        # commands and writes answers.
        moves = "3<&%d 4>&%d" % (to_child_r, from_child_w)
        for fd in (to_child_r, from_child_w):
            if fd not in (3, 4):
                moves += " %d>&-" % fd
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", 'exec "$0" "$@" ' + moves,
             CHROMIUM, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
             "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--mute-audio",
             "--hide-scrollbars", "--user-data-dir=" + self.profile, "about:blank"],
            pass_fds=(to_child_r, from_child_w),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(domain + ".enable", session=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            if time.time() > deadline:
                raise AssertionError("chromium did not answer in %d s" % TIMEOUT)
            chunk = os.read(self.from_child, 1 << 16)
            if not chunk:
                raise AssertionError("chromium closed its pipe (exit %s)" % self.proc.poll())
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, session=False):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        deadline = time.time() + TIMEOUT
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise AssertionError("%s failed: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def wait_event(self, method, deadline):
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == method:
                    del self.events[i]
                    return e
            self.events.append(self._read_message(deadline))

    def load(self, url):
        """Returns (HTTP status of the document, problems seen while loading)."""
        self.events = []
        self.send("Page.navigate", {"url": url}, session=True)
        deadline = time.time() + TIMEOUT
        self.wait_event("Page.loadEventFired", deadline)
        # Let late console messages and network events arrive.
        self.send("Runtime.evaluate", {"expression": "1"}, session=True)
        status, problems = None, []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Network.responseReceived" and p.get("type") == "Document":
                status = p["response"]["status"]
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                problems.append("console.%s: %s" % (p["type"], p.get("args")))
            elif e["method"] == "Runtime.exceptionThrown":
                problems.append("exception: %s" % p.get("exceptionDetails", {}).get("text"))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                problems.append("console error: %s" % p["entry"].get("text"))
            elif e["method"] == "Network.loadingFailed":
                problems.append("request failed: %s" % p.get("errorText"))
        return status, problems

    def js(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                      session=True)
        if "exceptionDetails" in r:
            raise AssertionError("evaluating %s: %s" % (expression, r["exceptionDetails"]))
        return r["result"].get("value")

    def screenshot(self, name):
        self.send("Emulation.clearDeviceMetricsOverride", session=True)
        height = min(int(self.js("document.documentElement.scrollHeight")), 6000)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=True)
        png = self.send("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        path = os.path.join(SHOTS, name + ".png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))
        print("screenshot %s (%d x %d)" % (path, 1280, height))

    def close(self):
        try:
            self.send("Browser.close")
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["rm", "-rf", self.profile], check=False)


def expect_page(b, path, name, status=200):
    got, problems = b.load(BASE + path)
    # A 4xx/5xx document is reported once by chromium as a failed resource.
    problems = [p for p in problems
                if not (status >= 400 and "status of %d" % status in p)]
    assert got == status, "%s: HTTP %s, want %s" % (path, got, status)
    assert not problems, "%s: %s" % (path, problems)
    assert b.js("document.querySelectorAll('script').length") == 0, path
    title = b.js("document.title")
    print("%s: HTTP %d, %r, no console error or failed request" % (path, got, title))
    if name:
        b.screenshot(name)


def texts(b, selector):
    return b.js("Array.from(document.querySelectorAll(%s)).map(e => e.textContent.trim())"
                % json.dumps(selector))


def pmf_sums(b):
    return b.js("Array.from(document.querySelectorAll('table.pmf')).map(t => "
                "[t.dataset.variant, Array.from(t.querySelectorAll('td.p'))"
                ".map(td => parseFloat(td.textContent))])")


def path_points(b, selector):
    """Points of each SVG path matched (M/L commands)."""
    return b.js("Array.from(document.querySelectorAll(%s)).map(p => "
                "(p.getAttribute('d').match(/[ML]/g) || []).length)" % json.dumps(selector))


def main():
    b = Browser()
    try:
        # Without the token: 401, the page says how to give it.
        expect_page(b, "/dashboard", "", status=401)
        assert "bearer token" in b.js("document.body.textContent"), "401 page"
        # ?token= stores it in a cookie and redirects to the page without it.
        expect_page(b, "/dashboard?token=" + TOKEN, "")
        assert b.js("location.search") == "", b.js("location.href")
        assert b.js("document.cookie") == "", "the token cookie must be HttpOnly"

        expect_page(b, "/", "overview")
        links = texts(b, "main a")
        for name in ("demo", "demo_layout", "demo_banner", "demo_home", "html_test"):
            assert name in links, (name, links)

        expect_page(b, "/dashboard/models", "models")
        rows = b.js("Array.from(document.querySelectorAll('tr.version')).map(r => "
                    "[r.dataset.model, r.dataset.version, !!r.querySelector('.active')])")
        assert ["demo", "1", True] in rows, rows
        ndcg = texts(b, "#versions tr.version td:nth-child(12)")
        print("models: versions %s, ndcg@k %s" % (rows, ndcg))

        expect_page(b, "/dashboard/experiments/demo_banner", "experiment")
        variants = b.js("Array.from(document.querySelectorAll('#variants tr.variant')).map(r => "
                        "[r.dataset.variant, r.querySelector('.share').textContent])")
        assert variants == [["thompson", "75.0%"], ["epsilon_greedy", "25.0%"]], variants
        pmfs = pmf_sums(b)
        assert [v for v, _ in pmfs] == ["thompson", "epsilon_greedy", "shadow:ucb1:c=1"], pmfs
        for variant, pmf in pmfs:
            assert len(pmf) == 3 and abs(sum(pmf) - 1) < 1e-5, (variant, pmf)
            assert all(0 <= p <= 1 for p in pmf), (variant, pmf)
        reward_rows = texts(b, "#reward-table tr td:nth-child(2)")
        assert sum(int(n) for n in reward_rows) == 800, reward_rows
        lines = path_points(b, "#reward-chart path.line")
        assert len(lines) == 2 and all(n >= 2 for n in lines), lines
        assert b.js("document.querySelectorAll('#reward-chart polygon.band').length") == 2
        ope = texts(b, "#ope p")
        assert any(t.startswith("800 logged decisions") for t in ope), ope
        estimators = texts(b, "#ope table.ope td:first-child")
        assert estimators[:4] == ["ips", "snips", "dm", "dr"], estimators
        print("experiment demo_banner: variants %s; pmfs %s; reward decisions %s; "
              "chart points %s; OPE %s" % (variants, pmfs, reward_rows, lines, ope))

        expect_page(b, "/dashboard/experiments/demo_layout", "experiment_empty")
        assert b.js("!!document.querySelector('#no-decisions')"), "demo_layout has no decisions"

        expect_page(b, "/dashboard/deployments/demo_home", "deployment")
        phase = b.js("document.querySelector('#rollout-phase').textContent")
        shares = b.js("Array.from(document.querySelectorAll('#variants tr.variant')).map(r => "
                      "[r.dataset.variant, r.querySelector('.share').textContent])")
        assert phase in ("IN_PROGRESS", "PROMOTED", "ROLLED_BACK"), phase
        if phase == "IN_PROGRESS":
            assert shares == [["stable", "75.0%"], ["explore", "25.0%"]], shares
        served = texts(b, "#evidence tr td:nth-child(3)")
        slates = texts(b, "#reward-table tr td:nth-child(2)")
        assert sum(int(n) for n in slates) == 400, slates
        assert sum(int(n) for n in served) == 400, served
        print("deployment demo_home: rollout %s, shares %s, served %s" % (phase, shares, served))

        expect_page(b, "/dashboard/simulations", "simulations")
        curves = path_points(b, "section.simulation svg path")
        policies = texts(b, "section.simulation table.final td:first-child")
        assert len(curves) == 3 and all(n >= 50 for n in curves), curves
        assert policies == ["epsilon_greedy:epsilon=0.1", "ucb1:c=1", "thompson"], policies
        print("simulations: policies %s, points per curve %s" % (policies, curves))

        # A description (free text) with markup is shown as text.
        expect_page(b, "/dashboard/experiments/html_test", "escaping")
        description = b.js("document.querySelector('#description').textContent")
        assert description == "<script>alert(1)</script><b id=\"pwn\">x</b> & 'quotes'", \
            description
        assert b.js("document.querySelector('#pwn')") is None
        print("escaping: description shown as text: %r" % description)

        # Unknown pages and bad parameters: error pages, still no console error.
        expect_page(b, "/dashboard/nope", "not_found", status=404)
        expect_page(b, "/dashboard/experiments/demo_banner?buckets=0", "", status=400)
        assert "buckets must be an integer in [1, 100]" in b.js("document.body.textContent")
    finally:
        b.close()
    print("browser checks passed")


if __name__ == "__main__":
    main()
