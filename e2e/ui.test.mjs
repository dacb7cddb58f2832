// The web UI end to end, in headless Chromium against a real server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, startBrowser, signIn, shot } from "./harness.mjs";

let server, browser;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function pageAs(name, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("pageerror", (e) => assert.fail(`script error on ${page.url()}: ${e.message}`));
  await signIn(page, server, name);
  return page;
}

test("a wrong password is refused on the sign-in page", async () => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.url}/ui/login`);
  await page.getByLabel("User name").fill("manager");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await assert.doesNotReject(page.getByRole("alert").waitFor());
  assert.match(await page.getByRole("alert").innerText(), /did not match/);
  await shot(page, "01-sign-in-refused");
});

test("a manager sees the queue ordered best priority first and moves with the keyboard", async () => {
  const page = await pageAs("manager");
  await shot(page, "02-queue");
  const rows = await page.locator("#queue tbody tr[data-href]").evaluateAll((trs) =>
    trs.map((tr) => decodeURIComponent(tr.dataset.href.split("/").pop())),
  );
  assert.ok(rows.length > 10, `the queue lists leads: ${rows.length}`);
  // The same order the API gives for open leads by priority (the model's
  // matrix order, then the weighted score).
  const resp = await fetch(`${server.url}/api/v1/leads?open=true&sort=priority&limit=${rows.length}`, {
    headers: { Authorization: `Bearer ${server.token}` },
  });
  const api = (await resp.json()).leads.map((l) => l.id);
  assert.deepEqual(rows, api);
  const closed = await page.locator("#queue tbody td:nth-child(4)").allInnerTexts();
  assert.ok(closed.every((s) => !["won", "lost", "disqualified"].includes(s)), "only open leads");
  await page.keyboard.press("j");
  await page.keyboard.press("j");
  await page.keyboard.press("Enter");
  await page.waitForURL(/\/ui\/leads\//);
});

test("the queue is usable at phone width", async () => {
  const page = await pageAs("nora", { width: 390, height: 844 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 400, `no sideways scrolling of the page: ${width}px`);
  assert.match(await page.locator("h1").innerText(), /My leads/);
  await shot(page, "03-queue-phone");
});
