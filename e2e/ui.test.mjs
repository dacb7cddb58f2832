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

/** The texts of one queue column, found by its header so column moves do not matter. */
async function queueColumn(page, header) {
  const headers = await page.locator("#queue thead th").allInnerTexts();
  const index = headers.findIndex((h) => h.trim() === header);
  assert.ok(index >= 0, `the queue has a ${header} column: ${headers}`);
  return page.locator(`#queue tbody tr[data-href] td:nth-child(${index + 1})`).allInnerTexts();
}

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
  const closed = await queueColumn(page, "Stage");
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
    ["predictive", "/ui/predictive"],
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

// ---------------------------------------------------------------- flows

import { writeFileSync } from "node:fs";
import { join } from "node:path";

const IMPORTED = "e2e.buyer@northwind-e2e.com";

test("a marketer imports a CSV with a bad row: the preview names it, the import runs, the reject report lists it", async () => {
  const page = await pageAs("marketer");
  const csv = join(server.dir, "leads.csv");
  writeFileSync(
    csv,
    [
      "email,first_name,last_name,job_title,company,industry,employees,country,lead_source,total_visits",
      `${IMPORTED},Erin,Buyer,CTO,Northwind E2E,Software,1500,United States,referral,30`,
      "not-an-email,Bad,Row,CEO,Broken Inc,Software,10,Germany,event,1",
      "second.e2e@northwind-e2e.com,Sam,Second,VP Engineering,Northwind E2E,Software,1500,United States,referral,3",
    ].join("\n") + "\n",
  );
  await page.goto(`${server.url}/ui/import`);
  await page.getByLabel("Lead file (CSV, JSON or NDJSON)").setInputFiles(csv);
  await page.getByRole("button", { name: "Preview" }).click();
  const preview = page.locator("table", { hasText: "not-an-email" });
  await preview.waitFor();
  assert.match(await preview.innerText(), /email/i, "the reject names the column");
  await shot(page, "10-import-preview");
  await page.getByRole("button", { name: "Import", exact: true }).click();
  const outcome = page.locator(".outcome");
  await outcome.waitFor({ timeout: 60_000 });
  assert.match(await outcome.innerText(), /2 accepted.*1 rejected/s);
  await shot(page, "11-import-done");
  const href = await page.getByRole("link", { name: "Download the reject report (CSV)" }).getAttribute("href");
  const report = await page.request.get(`${server.url}${href}`);
  assert.equal(report.status(), 200);
  assert.match(await report.text(), /not-an-email/);
});

test("a manager opens the imported lead, is refused SQL until BANT is answered, then qualifies it", async () => {
  const page = await pageAs("manager");
  await page.goto(`${server.url}/ui?stage=&q=${encodeURIComponent(IMPORTED)}`);
  const rows = page.locator("#queue tbody tr[data-href]");
  assert.equal(await rows.count(), 1, "search finds the imported lead");
  await rows.first().getByRole("link").click();
  await page.waitForURL(/\/ui\/leads\//);
  await shot(page, "12-lead");
  assert.match(await page.locator("body").innerText(), /Why it scored this way/);

  await page.getByRole("button", { name: "Accept (SAL)" }).click();
  await page.waitForLoadState("load");
  await page.getByRole("button", { name: "Qualify (SQL)" }).waitFor();

  // Qualifying with nothing answered: the guard refuses and says why.
  await page.getByRole("button", { name: "Qualify (SQL)" }).click();
  const refusal = page.locator("form", { has: page.getByRole("button", { name: "Qualify (SQL)" }) }).getByRole("alert");
  await refusal.filter({ hasText: /budget/i }).waitFor();
  await shot(page, "13-lead-guard-refused");

  await page.getByLabel("Answer for Budget").selectOption("confirmed");
  await page.getByLabel("Answer for Authority").selectOption("decision_maker");
  await page.getByLabel("Answer for Need").selectOption("critical");
  await page.getByLabel("Answer for Timeline").selectOption("within_3_months");
  await page.getByRole("button", { name: "Save answers" }).click();
  await page.waitForLoadState("load");
  await page.locator("text=/qualified/i").first().waitFor();
  await page.getByRole("button", { name: "Qualify (SQL)" }).click();
  await page.waitForLoadState("load");
  await page.locator("text=/Stage\\s*sql/i").first().waitFor();
  const resp = await page.request.get(`${server.url}/api/v1/leads?q=${encodeURIComponent(IMPORTED)}`);
  assert.equal((await resp.json()).leads[0].stage, "sql");
  await shot(page, "14-lead-qualified");
});

test("a marketer edits a model with an error, sees where, fixes it, backtests and publishes", async () => {
  const page = await pageAs("marketer");
  page.on("dialog", (d) => d.accept());
  await page.goto(`${server.url}/ui/models`);
  await page.getByRole("button", { name: /New draft from the published model/ }).click();
  await page.waitForURL(/\/ui\/models\/\d+$/);
  const source = page.getByLabel("Model source (TOML)");
  const good = await source.inputValue();
  assert.ok(good.includes("[mql]"), "the editor holds the model");
  const broken = good.replace("[mql]\nwhen = '", "[mql]\nwhen = '(((");
  assert.notEqual(broken, good);
  await source.fill(broken);
  await page.getByRole("button", { name: "Validate" }).click();
  const error = page.locator("#validate").getByRole("alert");
  await error.filter({ hasText: /line/i }).waitFor();
  await shot(page, "15-model-error");

  // The fix: a stricter MQL rule than the published one.
  await source.fill(good.replace("band <= 2)", "band <= 1)"));
  await page.getByRole("button", { name: "Validate" }).click();
  await page.locator("#validate .notice", { hasText: "The model is valid." }).waitFor();
  assert.equal((await error.innerText()).trim(), "");

  await page.getByRole("button", { name: /Backtest against the published model/ }).click();
  const result = page.locator("#backtest-result");
  await result.locator("table").first().waitFor({ timeout: 60_000 });
  const text = await result.innerText();
  assert.match(text, /AUC/);
  assert.match(text, /top 20%/i);
  await shot(page, "16-model-backtest");

  await page.getByLabel("Draft name").fill("stricter MQL");
  await page.getByRole("button", { name: "Save as new draft" }).click();
  await page.waitForURL(/\/ui\/models\/\d+$/);
  await page.getByRole("button", { name: "Publish this draft" }).click();
  await page.locator("[data-job-done]").waitFor({ state: "visible", timeout: 120_000 });
  await shot(page, "17-model-published");
  const models = await (await page.request.get(`${server.url}/api/v1/models`)).json();
  const list = Array.isArray(models) ? models : models.models;
  const published = list.filter((m) => m.status === "published");
  assert.equal(published.length, 1);
  assert.equal(published[0].name, "stricter MQL");
});

test("the dashboard draws its charts with titles and the numbers behind them", async () => {
  const page = await pageAs("manager");
  await page.goto(`${server.url}/ui/dashboard`);
  const charts = page.locator("svg");
  assert.ok((await charts.count()) >= 6, `charts drawn: ${await charts.count()}`);
  const unlabelled = await charts.evaluateAll((svgs) =>
    svgs.filter((s) => !s.getAttribute("aria-label") && !s.querySelector("title")).length,
  );
  assert.equal(unlabelled, 0, "every chart has a title or an aria-label");
  const body = await page.locator("main").innerText();
  for (const metric of [/conversion/i, /response time/i, /accuracy|AUC/i, /qualification/i, /cost per/i, /cycle/i]) {
    assert.match(body, metric);
  }
  await shot(page, "18-dashboard");
});

test("an admin adds a rep user in the admin page, who then signs in and sees only their own leads", async () => {
  const page = await pageAs("admin");
  await page.goto(`${server.url}/ui/admin`);
  const users = page.locator("#users");
  await users.getByLabel("User name").fill("emil");
  await users.getByLabel("Role").selectOption("rep");
  await users.getByLabel("Rep (for rep users)").selectOption("rep-emea");
  await users.getByLabel("Password (8+ characters)").fill(server.password);
  await users.getByRole("button", { name: "Add user" }).click();
  await page.waitForLoadState("load");
  await users.locator("text=emil").first().waitFor();
  await shot(page, "19-admin-user-added");

  const rep = await pageAs("emil");
  const owners = await queueColumn(rep, "Owner");
  assert.ok(owners.length > 0, "the rep has leads in the demo");
  assert.ok(owners.every((o) => o === "Emil (EMEA)"), `only Emil's leads: ${[...new Set(owners)]}`);
  assert.equal(await rep.getByRole("link", { name: "Admin" }).count(), 0, "a rep has no admin link");
  const resp = await rep.goto(`${server.url}/ui/admin`);
  assert.equal(resp.status(), 403);
});

test("a marketer trains a challenger on the Predictive page, follows its progress and promotes it", async () => {
  const page = await pageAs("marketer");
  await page.goto(`${server.url}/ui/predictive`);
  const models = page.locator("#models");
  // The demo trains the first champion from its own won and lost leads.
  assert.match(await models.innerText(), /v1\s+champion \(in use\)/);
  await shot(page, "20-predictive");

  await page.getByLabel("Learner").selectOption("logistic");
  await page.getByRole("button", { name: "Train a model" }).click();
  const trained = page.locator("#train-job [data-job-done]");
  await trained.waitFor({ state: "visible", timeout: 120_000 });
  assert.match(await trained.innerText(), /^Done/);
  await page.reload();
  assert.match(await models.innerText(), /v2\s+challenger \(shadow\)\s+logistic/);
  assert.match(await page.locator("main").innerText(), /Champion v1 ROC AUC/);

  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Promote v2 to champion" }).click();
  const promoted = page.locator("#promote-job [data-job-done]");
  await promoted.waitFor({ state: "visible", timeout: 120_000 });
  await page.reload();
  const text = await models.innerText();
  assert.match(text, /v2\s+champion \(in use\)/);
  assert.match(text, /v1\s+retired/);
  await shot(page, "21-predictive-promoted");

  // The lead page now shows the new champion's probability.
  const resp = await fetch(`${server.url}/api/v1/leads?open=true&sort=priority&limit=1`, {
    headers: { Authorization: `Bearer ${server.token}` },
  });
  const lead = (await resp.json()).leads[0].id;
  const prediction = await (
    await fetch(`${server.url}/api/v1/leads/${encodeURIComponent(lead)}/prediction`, {
      headers: { Authorization: `Bearer ${server.token}` },
    })
  ).json();
  assert.equal(prediction.champion_version, 2);
});

test("a rep adds a task on a lead page, sees it listed and marks it done", async () => {
  const page = await pageAs("nora");
  await page.goto(`${server.url}${await firstLeadHref(page)}`);
  const tasks = page.locator("section", { has: page.locator("#tasks-h") });
  await tasks.getByLabel("Task", { exact: true }).fill("Call back about pricing");
  await tasks.getByLabel("Kind").selectOption("call");
  await tasks.getByLabel("Due in business hours").fill("2");
  await tasks.getByRole("button", { name: "Add task" }).click();
  await page.waitForLoadState("load");
  const row = page.locator("#tasks tbody tr", { hasText: "Call back about pricing" });
  await row.waitFor();
  assert.equal(await row.getAttribute("data-status"), "open");
  assert.match(await row.innerText(), /call: Call back about pricing/);
  await shot(page, "17-lead-task-added");
  await row.getByRole("button", { name: "Done" }).click();
  await page.waitForLoadState("load");
  await page.locator('#tasks tbody tr[data-status="done"]', { hasText: "Call back about pricing" }).waitFor();
  // The API agrees: the rep's task is done and it was created for her.
  const resp = await page.request.get(`${server.url}/api/v1/tasks?status=done`);
  const done = (await resp.json()).tasks.filter((t) => t.title === "Call back about pricing");
  assert.equal(done.length, 1);
  assert.equal(done[0].owner, "rep-na");
  assert.equal(done[0].kind, "call");
});
