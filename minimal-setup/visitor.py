#!/usr/bin/env python3
"""The smoke test's visitor: Debian's Chromium, headless, driven through chromedriver (WebDriver
over HTTP, standard library only), opens a publication link the way a person clicking it in an
e-mail would, follows the landing page to the viewer, and checks what the viewer's own requests
got: the stand-in viewer pages (stand-ins/orthanc/stone-webviewer/ and volview/) list each request
they made with its answer.

  visitor.py --link URL --viewer URL_PREFIX --kind stone|volview [--refused PATH]...
             [--cookie secure|plain|none] [--insecure-tls]

--refused: a request the viewer page sends the way it sends its own (Stone: with the token, below
../dicom-web/; VolView: plain, below ../) that must be refused (another study's data).

Prints one `ok`/`FAIL` line per check, in smoke-test.sh's format; exits with the number of
failures. Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian: chromium, chromium-driver)."""
import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
COOKIE = "orthanc-share-token"
# What each request of a stand-in viewer must answer (its step -> content type).
STONE_STEPS = {
    0: "application/json",  # GET ../system
    1: "application/dicom+json",
    2: "application/dicom+json",
    3: "application/dicom+json",
    4: "image/jpeg",
    5: "application/dicom+json",
    6: "application/dicom+json",
    7: "image/jpeg",
    8: "multipart/related",
    9: "image/jpeg",
}
VOLVIEW_STEPS = {"archive": "application/zip"}
VIEWERS = {"stone": ("Stand-in Stone Web Viewer", STONE_STEPS),
           "volview": ("Stand-in VolView", VOLVIEW_STEPS)}
failures = 0


def ok(text):
    print(f"   ok   {text}", flush=True)


def fail(text):
    global failures
    failures += 1
    print(f"   FAIL {text}", flush=True)


def check(condition, text, detail=""):
    if condition:
        ok(text)
    else:
        fail(f"{text}{': ' + detail if detail else ''}")
    return condition


class Chromedriver:
    """chromedriver on a free loopback port (it says which), stopped on exit."""

    def __init__(self):
        self.process = subprocess.Popen([CHROMEDRIVER, "--port=0"], stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        found = []

        def read():
            for line in self.process.stdout:
                m = re.search(r"started successfully on port (\d+)", line)
                if m:
                    found.append(int(m.group(1)))

        threading.Thread(target=read, daemon=True).start()
        deadline = time.time() + 30
        while not found and time.time() < deadline and self.process.poll() is None:
            time.sleep(0.1)
        if not found:
            self.stop()
            raise SystemExit("visitor: chromedriver did not say which port it listens on")
        self.url = f"http://127.0.0.1:{found[0]}"

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def webdriver(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read())["value"]
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"WebDriver {method} {url.split('/session')[-1]}: {e.read()[:300]!r}") from e


class Browser:
    def __init__(self, driver, profile, insecure_tls):
        capabilities = {
            "browserName": "chrome",
            "acceptInsecureCerts": insecure_tls,
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", f"--user-data-dir={profile}"],
            },
        }
        answer = webdriver("POST", f"{driver.url}/session",
                           {"capabilities": {"alwaysMatch": capabilities}})
        self.base = f"{driver.url}/session/{answer['sessionId']}"
        webdriver("POST", f"{self.base}/timeouts", {"pageLoad": 60000, "script": 60000})

    def open(self, url):
        webdriver("POST", f"{self.base}/url", {"url": url})

    def url(self):
        return webdriver("GET", f"{self.base}/url")

    def run(self, script, *args):
        return webdriver("POST", f"{self.base}/execute/sync", {"script": script, "args": list(args)})

    def run_async(self, script, *args):
        return webdriver("POST", f"{self.base}/execute/async", {"script": script, "args": list(args)})

    def cookies(self):
        return webdriver("GET", f"{self.base}/cookie")

    def close(self):
        try:
            webdriver("DELETE", self.base)
        except Exception:  # the browser is going away anyway
            pass


def visit(browser, args):
    browser.open(args.link)
    landed = browser.url()
    if not check(landed.startswith(args.viewer), "the link, through the landing page, opens the viewer",
                 f"landed on {re.sub(r'token=[^&]*', 'token=…', landed)}"):
        return
    title, steps = VIEWERS[args.kind]
    heading = browser.run("var h = document.querySelector('h1'); return h ? h.textContent : '';")
    check(heading == title, f"the viewer page is {args.kind}'s (stand-in)", repr(heading))
    deadline = time.time() + 60
    while time.time() < deadline and browser.run("return document.body.getAttribute('data-done');") != "1":
        time.sleep(0.2)
    results = json.loads(browser.run("return document.getElementById('results').textContent;") or "[]")
    for step, kind in steps.items():
        made = [r for r in results if r.get("step") == step]
        bad = [r for r in made if not (r.get("ok") and r.get("type", "").startswith(kind))]
        shown = (made[0].get("path", "") + made[0].get("query", "")) if made else ""
        check(made and not bad, f"the viewer's request {step} ({kind}) succeeds: {shortened(shown)}",
              json.dumps(bad or "never made")[:400])
    if args.kind == "stone":
        studies = [r for r in results if r.get("step") == 1]
        check(studies and studies[0].get("items") == 1,
              "the study listing names exactly the shared study", json.dumps(studies)[:200])
    for path in args.refused:
        answer = browser.run_async(
            "var done = arguments[arguments.length - 1];"
            "window.standInFetch(arguments[0]).then(done, function (e) { done({error: String(e)}); });", path)
        refused = answer.get("status") in (401, 403) or (
            answer.get("redirected") and "reason=forbidden" in (answer.get("landed") or ""))
        check(refused, f"the viewer's request for another study is refused: {shortened(path)}",
              json.dumps(answer))
    cookies = [c for c in browser.cookies() if c.get("name") == COOKIE]
    if args.cookie == "none":
        check(not cookies, "no gate cookie on this path", json.dumps(cookies))
    elif check(len(cookies) == 1, "the gate's cookie is set for the viewer's next requests", json.dumps(cookies)):
        cookie = cookies[0]
        check(cookie.get("httpOnly") is True, "the cookie is HttpOnly")
        check(cookie.get("secure") is (args.cookie == "secure"),
              f"the cookie is {'Secure' if args.cookie == 'secure' else 'not Secure (plain-HTTP PUBLIC_URL)'}",
              json.dumps({k: cookie.get(k) for k in ("secure", "path", "sameSite")}))


def shortened(path):
    return path if len(path) <= 90 else path[:87] + "…"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--link", required=True)
    parser.add_argument("--viewer", required=True, help="where the viewer page is (URL prefix)")
    parser.add_argument("--kind", choices=sorted(VIEWERS), default="stone")
    parser.add_argument("--refused", action="append", default=[])
    parser.add_argument("--cookie", choices=["secure", "plain", "none"], default="plain")
    parser.add_argument("--insecure-tls", action="store_true",
                        help="accept the stack's self-signed certificate")
    args = parser.parse_args()
    for tool in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(tool):
            raise SystemExit(f"visitor: {tool} is missing (apt-get install chromium chromium-driver)")
    driver = Chromedriver()
    profile = tempfile.mkdtemp(prefix="visitor-profile-")
    browser = None
    try:
        browser = Browser(driver, profile, args.insecure_tls)
        visit(browser, args)
    except RuntimeError as e:
        fail(f"the browser: {e}")
    finally:
        if browser:
            browser.close()
        driver.stop()
        shutil.rmtree(profile, ignore_errors=True)
    sys.exit(min(failures, 100))


main()
