// SPDX-License-Identifier: MIT
// check_status.js: sluiced's status page in headless Chromium, through chromedriver (plain
// WebDriver over HTTP, no package): with JavaScript off, the server's first view; with it on,
// the page refreshes itself, its totals and rates move after messages are sent, every pool
// is shown, and the browser logs no error. tests/daemon/test_status.c runs it:
//   node check_status.js --url http://127.0.0.1:9140/status --listen 5140 --pools 2 \
//        --screenshot out.png [--chromium /usr/bin/chromium] [--chromedriver /usr/bin/chromedriver]
// Exit 0: every check passed; 1: one failed (stderr says which).
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
const WAIT_MS = 30000;

function args() {
  const a = { chromium: "/usr/bin/chromium", chromedriver: "/usr/bin/chromedriver" };
  const v = process.argv.slice(2);
  for (let i = 0; i + 1 < v.length; i += 2) a[v[i].replace(/^--/, "")] = v[i + 1];
  for (const k of ["url", "listen", "pools", "screenshot"])
    if (!a[k]) throw new Error("missing --" + k);
  return a;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

// Calls fn until it returns a truthy value (which is returned) or WAIT_MS passes; what
// names the condition in the error.
async function until(what, fn) {
  const end = Date.now() + WAIT_MS;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error("waited " + WAIT_MS + " ms for " + what + (last ? ": " + last.message : ""));
    await new Promise((r) => setTimeout(r, 100));
  }
}

class Driver {
  constructor(port) {
    this.base = "http://127.0.0.1:" + port;
  }
  async call(method, p, body) {
    const r = await fetch(this.base + p, {
      method,
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const j = await r.json();
    if (!r.ok) throw new Error(method + " " + p + ": " + JSON.stringify(j.value));
    return j.value;
  }
  async session(chromium, js) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-status-chromium-"));
    const prefs = js ? {} : { "profile.managed_default_content_settings.javascript": 2 };
    const v = await this.call("POST", "/session", {
      capabilities: {
        alwaysMatch: {
          browserName: "chrome",
          "goog:chromeOptions": {
            binary: chromium,
            args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   "--user-data-dir=" + dir, "--window-size=1200,1600"],
            prefs,
          },
          "goog:loggingPrefs": { browser: "ALL" },
        },
      },
    });
    return { id: v.sessionId, dir };
  }
  async close(s) {
    await this.call("DELETE", "/session/" + s.id);
    fs.rmSync(s.dir, { recursive: true, force: true });
  }
  go(s, url) {
    return this.call("POST", "/session/" + s.id + "/url", { url });
  }
  async all(s, css) {
    const v = await this.call("POST", "/session/" + s.id + "/elements",
                              { using: "css selector", value: css });
    return v.map((e) => e[ELEMENT]);
  }
  text(s, el) {
    return this.call("GET", "/session/" + s.id + "/element/" + el + "/text");
  }
  async textOf(s, css) {
    const e = await this.all(s, css);
    if (e.length === 0) throw new Error("no " + css);
    return this.text(s, e[0]);
  }
  log(s) {
    return this.call("POST", "/session/" + s.id + "/se/log", { type: "browser" });
  }
  screenshot(s) {
    return this.call("GET", "/session/" + s.id + "/screenshot");
  }
}

function sendLines(port, n) {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, "127.0.0.1", () => {
      let b = "";
      for (let i = 0; i < n; i++) b += "status-check " + i + "\n";
      c.end(b, resolve);
    });
    c.on("error", reject);
  });
}

// With JavaScript off: the first view as the server wrote it.
async function checkFirstView(d, s, a) {
  await d.go(s, a.url);
  const note = await d.textOf(s, "#updated");
  if (!/need JavaScript/.test(note)) throw new Error("JavaScript ran with it off: " + note);
  const pools = await d.all(s, "#pools tbody tr");
  if (pools.length !== Number(a.pools))
    throw new Error("first view: " + pools.length + " pools shown, not " + a.pools);
  const l = await d.textOf(s, "#listeners tbody tr");
  if (l.indexOf(":" + a.listen) < 0) throw new Error("first view: listener not shown: " + l);
  if (!/\d/.test(await d.textOf(s, "#uptime"))) throw new Error("first view: no uptime");
}

async function checkLive(d, s, a) {
  await d.go(s, a.url);
  await until("the script's first update", async () =>
    /^updated/.test(await d.textOf(s, "#updated")));
  const before = Number((await d.textOf(s, "#totals tbody tr td")).trim());
  const n = 500;
  await sendLines(Number(a.listen), n);
  await until("the received total to grow by " + n, async () =>
    Number((await d.textOf(s, "#totals tbody tr td")).trim()) >= before + n);
  await until("a non-zero receive rate", async () =>
    /in [1-9]/.test(await d.textOf(s, "#rates")));
  const rows = await d.all(s, "#pools tbody tr");
  if (rows.length !== Number(a.pools))
    throw new Error(rows.length + " pools shown, not " + a.pools);
  if ((await d.all(s, "#pools tbody svg.spark")).length !== 2 * Number(a.pools))
    throw new Error("the pools' charts are missing");
  if ((await d.all(s, "#flags tbody tr")).length === 0) throw new Error("no flags shown");
  if ((await d.all(s, "#workers tbody tr")).length === 0) throw new Error("no workers shown");
  fs.writeFileSync(a.screenshot, Buffer.from(await d.screenshot(s), "base64"));
  const bad = (await d.log(s)).filter((e) => e.level === "SEVERE" || e.level === "WARNING");
  if (bad.length) throw new Error("the browser logged: " + JSON.stringify(bad));
}

async function main() {
  const a = args();
  const port = await freePort();
  const cd = spawn(a.chromedriver, ["--port=" + port], { stdio: ["ignore", "ignore", "inherit"] });
  const d = new Driver(port);
  let failed = null;

  try {
    await until("chromedriver", async () => (await d.call("GET", "/status")).ready);
    for (const js of [false, true]) {
      const s = await d.session(a.chromium, js);
      try {
        await (js ? checkLive(d, s, a) : checkFirstView(d, s, a));
      } finally {
        await d.close(s);
      }
    }
  } catch (e) {
    failed = e;
  } finally {
    cd.kill("SIGTERM");
  }
  if (failed) {
    process.stderr.write("check_status: " + failed.message + "\n");
    process.exit(1);
  }
  process.stdout.write("check_status: ok\n");
}

main();
