#!/usr/bin/env python3
"""Opens a page in headless Chromium over the DevTools protocol and prints, as
JSON: the console errors and uncaught exceptions, how many elements match each
CSS selector, what clicking a link did (the location hash, where its target
landed), and keeps a screenshot.

  browser_check.py --page report.html --count bars='#region-P rect.bar' \
      --click '#region-P a.drill' --screenshot report.png
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # Debian: python3-websocket


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == my_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method, timeout=30):
        deadline = time.time() + timeout
        for e in self.events:
            if e.get("method") == method:
                return e
        while time.time() < deadline:
            message = json.loads(self.ws.recv())
            self.events.append(message)
            if message.get("method") == method:
                return message
        raise TimeoutError(method)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self):
        out = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                out.append(params.get("exceptionDetails", {}).get("text", "exception"))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append(params["entry"].get("text", ""))
        return out


def launch(chromium, profile):
    command = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--no-default-browser-check", "--disable-extensions", "--remote-debugging-port=0",
               f"--user-data-dir={profile}", "about:blank"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.exists(port_file):
            with open(port_file) as f:
                lines = f.read().split()
            if len(lines) >= 2:
                return process, int(lines[0])
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}")
        time.sleep(0.1)
    process.kill()
    raise TimeoutError("chromium did not open its DevTools port")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--page", required=True)
    parser.add_argument("--count", action="append", default=[], help="NAME=CSS selector")
    parser.add_argument("--click", help="CSS selector of a link to click")
    parser.add_argument("--screenshot")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()

    profile = tempfile.mkdtemp(prefix="aw-chromium-")
    process, port = launch(args.chromium, profile)
    try:
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
        page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        for domain in ("Runtime", "Log", "Page"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=1280, height=1600, deviceScaleFactor=1, mobile=False)
        page.call("Page.navigate", url="file://" + os.path.abspath(args.page))
        page.wait_for("Page.loadEventFired")
        result = {
            "title": page.evaluate("document.title"),
            "counts": {},
        }
        for spec in args.count:
            name, selector = spec.split("=", 1)
            result["counts"][name] = page.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length")
        if args.click:
            result["click"] = page.evaluate(f"""(() => {{
                const a = document.querySelector({json.dumps(args.click)});
                if (!a) return {{found: false}};
                const href = a.getAttribute('href');
                a.click();
                return {{found: true, href: href, text: a.textContent}};
            }})()""")
            time.sleep(0.3)
            result["click"].update(page.evaluate("""(() => {
                const target = location.hash ? document.querySelector(location.hash) : null;
                const box = target ? target.getBoundingClientRect() : null;
                return {hash: location.hash, target_top: box ? box.top : null,
                        target_title: target ? target.querySelector('h2').textContent : null,
                        scrolled: window.scrollY};
            })()"""))
        if args.screenshot:
            shot = page.call("Page.captureScreenshot", format="png")
            with open(args.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        time.sleep(0.2)  # late console messages
        page.call("Runtime.evaluate", expression="0")
        result["errors"] = page.errors()
        print(json.dumps(result, ensure_ascii=False))
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
