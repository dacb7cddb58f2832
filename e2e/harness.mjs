// Starts a real `leadq serve --demo` on a free loopback port with a fresh
// data directory, and a headless Chromium to drive it.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const root = resolve(import.meta.dirname, "..");
export const binary = process.env.LEADQ_BIN || join(root, "target", "debug", "leadq");
export const shots = process.env.LEADQ_E2E_SHOTS || join(root, "target", "e2e-screenshots");

/** A running server: { url, password, token, dir, stop() }. */
export async function startServer({ demoLeads = 400 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "leadq-e2e-"));
  const child = spawn(
    binary,
    ["serve", "--demo", "--demo-leads", String(demoLeads), "--data-dir", dir, "--bind", "127.0.0.1:0"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } },
  );
  let out = "", err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const started = Date.now();
  for (;;) {
    const listening = err.match(/listening on (http:\/\/[^\s]+)/);
    const password = out.match(/password: (\S+)/);
    const token = out.match(/admin token: (\S+)/);
    if (listening && password && token) {
      return {
        url: listening[1],
        password: password[1],
        token: token[1],
        dir,
        async stop() {
          child.kill("SIGTERM");
          await new Promise((r) => child.once("exit", r));
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`leadq serve exited early:\n${out}\n${err}`);
    if (Date.now() - started > 180_000) {
      child.kill("SIGKILL");
      throw new Error(`leadq serve did not start in time:\n${out}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startBrowser() {
  mkdirSync(shots, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** Signs in through the form and lands on the queue. */
export async function signIn(page, server, name) {
  await page.goto(`${server.url}/ui/login`);
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Password").fill(server.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${server.url}/ui`);
}

export async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}
