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

/** Controls without an accessible name (label, aria-label(ledby), title or text). */
async function unnamedControls(page) {
  return page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll("input, select, textarea, button")) {
      if (el.type === "hidden" || el.closest("[hidden]")) continue;
      const style = getComputedStyle(el);
      if (style.display === "none" || style.visibility === "hidden") continue;
      const named =
        (el.labels && el.labels.length > 0) ||
        el.getAttribute("aria-label") ||
        el.getAttribute("aria-labelledby") ||
        el.getAttribute("title") ||
        (el.tagName === "BUTTON" && el.innerText.trim());
      if (!named) bad.push(el.outerHTML.slice(0, 120));
    }
    return bad;
  });
}

async function firstLeadHref(page) {
  await page.goto(`${server.url}/ui`);
  return page.locator("#queue tbody tr[data-href]").first().getAttribute("data-href");
}

test("every page renders for an admin at desktop and phone width with named controls", async () => {
  const desktop = await pageAs("admin");
  const lead = await firstLeadHref(desktop);
  const models = await (await fetch(`${server.url}/api/v1/models`, {
    headers: { Authorization: `Bearer ${server.token}` },
  })).json();
  const modelId = (Array.isArray(models) ? models : models.models)[0].id;
  const pages = [
    ["queue", "/ui"],
    ["lead", lead],
    ["import", "/ui/import"],
    ["models", "/ui/models"],
    ["model-editor", `/ui/models/${modelId}`],
    ["dashboard", "/ui/dashboard"],
    ["admin", "/ui/admin"],
  ];
  const phone = await pageAs("admin", { width: 390, height: 844 });
  for (const [name, path] of pages) {
    for (const [page, label] of [[desktop, "desktop"], [phone, "phone"]]) {
      const resp = await page.goto(`${server.url}${path}`);
      assert.equal(resp.status(), 200, `${path} answers 200`);
      assert.deepEqual(await unnamedControls(page), [], `${path}: every control has an accessible name`);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      const limit = label === "phone" ? 400 : 1290;
      assert.ok(width <= limit, `${path} at ${label} width does not scroll sideways: ${width}px`);
      await shot(page, `page-${name}-${label}`);
    }
  }
});
