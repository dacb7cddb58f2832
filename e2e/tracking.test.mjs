// The website tracking snippet end to end: a small site on another
// loopback port (another origin) loads /t.js from a real leadq server, in
// headless Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { startServer, startBrowser } from "./harness.mjs";

let server, browser, site, siteUrl;

function pageHtml(title, body, attrs = "") {
  return `<!doctype html><html><head><title>${title}</title>
<script src="${server.url}/t.js" data-site="test" ${attrs} async></script></head>
<body><h1>${title}</h1>${body}</body></html>`;
}

const FORM = `<form data-leadq-form="contact">
  <label>Email <input name="email" type="email"></label>
  <label>Company <input name="company"></label>
  <label>Employees <input name="employees"></label>
  <label>Industry <input name="industry"></label>
  <label>Title <input name="title"></label>
  <label>Country <input name="country"></label>
  <label><input type="checkbox" name="consent"> Keep me informed</label>
  <button type="submit">Send</button>
</form>`;

before(async () => {
  server = await startServer({ demoLeads: 50 });
  browser = await startBrowser();
  site = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const pages = {
      "/": pageHtml("Home", "<p>Welcome</p>"),
      "/pricing": pageHtml("Pricing", "<p>Plans</p>"),
      "/contact": pageHtml("Contact", FORM),
      "/consent": pageHtml("Asks first", "<p>Cookie banner</p>", "data-require-consent"),
    };
    res.writeHead(pages[path] ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
    res.end(pages[path] || "not found");
  });
  await new Promise((r) => site.listen(0, "127.0.0.1", r));
  siteUrl = `http://127.0.0.1:${site.address().port}`;
  const r = await api("PUT", "/api/v1/settings", { tracking_origins: [siteUrl] });
  assert.equal(r.status, 200, await r.text());
});

after(async () => {
  await browser?.close();
  await server?.stop();
  site?.close();
});

function api(method, path, body) {
  return fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Polls `check` (which returns a value or null) until it returns a value. */
async function eventually(what, check, ms = 10_000) {
  const start = Date.now();
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() - start > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function visitorCookie(context) {
  const c = (await context.cookies(siteUrl)).find((c) => c.name === "leadq_vid");
  return c ? c.value : null;
}

async function visitor(vid) {
  const r = await api("GET", `/api/v1/visitors/${vid}`);
  return r.status === 200 ? r.json() : null;
}

/** A page that counts the requests it sends to the tracking endpoints. */
async function trackedPage(context) {
  const page = await context.newPage();
  page.sent = [];
  page.on("pageerror", (e) => assert.fail(`script error on ${page.url()}: ${e.message}`));
  page.on("request", (r) => {
    if (r.url().startsWith(`${server.url}/t/`)) page.sent.push(r.url());
  });
  return page;
}

test("page views and a custom event are recorded and a form submission turns them into the lead's scored events", async () => {
  const context = await browser.newContext();
  const page = await trackedPage(context);
  await page.goto(`${siteUrl}/`);
  const vid = await eventually("the visitor cookie", () => visitorCookie(context));
  assert.match(vid, /^[0-9a-f]{32}$/);
  const first = await eventually("the first page view", async () => {
    const v = await visitor(vid);
    return v && v.events.length >= 1 ? v : null;
  });
  assert.equal(first.events[0].type, "page_view");
  assert.equal(first.events[0].url, "/");
  assert.equal(first.events[0].properties.title, "Home");
  assert.equal(first.lead_id, null);

  await page.goto(`${siteUrl}/pricing`);
  await page.evaluate(() => window.leadq("track", "video played", { video: "demo" }));
  await eventually("the pricing view and the custom event", async () => {
    const v = await visitor(vid);
    return v && v.events.some((e) => e.url === "/pricing") && v.events.some((e) => e.type === "video_played");
  });
  assert.equal(await visitorCookie(context), vid, "the same visitor across pages");

  await page.goto(`${siteUrl}/contact`);
  await page.getByLabel("Email").fill("e2e.buyer@acme-corp.com");
  await page.getByLabel("Company").fill("Acme Corp");
  await page.getByLabel("Employees").fill("1500");
  await page.getByLabel("Industry").fill("software");
  await page.getByLabel("Title").fill("CEO");
  await page.getByLabel("Country").fill("US");
  await page.getByLabel("Keep me informed").check();
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator("[data-leadq-thanks]").waitFor();

  const linked = await eventually("the visitor linked to a lead", async () => {
    const v = await visitor(vid);
    return v && v.lead_id ? v : null;
  });
  assert.equal(linked.lead.email, "e2e.buyer@acme-corp.com");
  const events = (await (await api("GET", `/api/v1/leads/${linked.lead_id}/events`)).json()).events;
  const urls = events.filter((e) => e.type === "page_view").map((e) => e.properties.url);
  for (const u of ["/", "/pricing", "/contact"]) assert.ok(urls.includes(u), `the lead has the view of ${u}: ${urls}`);
  assert.ok(events.some((e) => e.type === "form_submit"));
  assert.ok(events.some((e) => e.type === "video_played"));
  const lead = await (await api("GET", `/api/v1/leads/${linked.lead_id}`)).json();
  assert.ok(lead.score.engagement > 0, `engagement ${lead.score.engagement}`);
  assert.ok(JSON.stringify(lead.score.reasons).includes("Pricing page"));
  const consent = await (await api("GET", `/api/v1/leads/${linked.lead_id}/consent`)).json();
  assert.equal(consent.channels.email.opt_in, true);
  await context.close();
});

test("a browser sending Do-Not-Track records nothing and gets no cookie", async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "doNotTrack", { get: () => "1" });
  });
  const page = await trackedPage(context);
  await page.goto(`${siteUrl}/`);
  await page.waitForFunction(() => typeof window.leadq === "function");
  await page.evaluate(() => window.leadq("track", "video played"));
  await page.waitForTimeout(500);
  assert.equal(await visitorCookie(context), null);
  assert.deepEqual(page.sent, []);
  await context.close();
});

test("with data-require-consent nothing is recorded before consent is given", async () => {
  const context = await browser.newContext();
  const page = await trackedPage(context);
  await page.goto(`${siteUrl}/consent`);
  await page.waitForFunction(() => typeof window.leadq === "function");
  await page.evaluate(() => window.leadq("track", "video played"));
  await page.waitForTimeout(500);
  assert.equal(await visitorCookie(context), null);
  assert.deepEqual(page.sent, []);

  await page.evaluate(() => window.leadq("consent", true));
  const vid = await eventually("the visitor cookie after consent", () => visitorCookie(context));
  const v = await eventually("the page view after consent", async () => {
    const v = await visitor(vid);
    return v && v.events.length >= 1 ? v : null;
  });
  assert.equal(v.events[0].url, "/consent");
  assert.equal(v.consent, true);

  // Withdrawing deletes the cookie and stops recording.
  await page.evaluate(() => window.leadq("consent", false));
  assert.equal(await visitorCookie(context), null);
  const withdrawn = await eventually("the withdrawal", async () => {
    const v = await visitor(vid);
    return v && v.consent === false ? v : null;
  });
  const before = withdrawn.events.length;
  await page.evaluate(() => window.leadq("track", "video played"));
  await page.waitForTimeout(500);
  assert.equal((await visitor(vid)).events.length, before);
  await context.close();
});
