// leadq web UI behaviours, keyed by data attributes so pages stay plain HTML.
//
//  form[data-api="/api/v1/..."]  sent to the JSON API with the session's CSRF
//      token. data-method (default POST). The body is JSON built from the
//      fields: a name like "answers.budget" nests; data-type on a field is
//      number | int | bool | json | list (comma separated); empty fields are
//      left out unless data-keep-empty. data-body="text:FIELD" sends one
//      field's text as the body (data-content-type), "file:FIELD" a chosen
//      file. data-query="a,b" moves those fields into the query string.
//      data-then: "reload" | "go:/ui/x/{id}" ({key} from the JSON answer) |
//      "none". Errors show in the form's [role=alert] with their field paths;
//      the form gets an "api:done" event with the answer as detail.
//  [data-job="ID"]  follows /api/v1/jobs/ID: fills its <progress> and
//      [data-job-text], then fires "job:done" with the job as detail.
//  tr[data-href]  rows of a list: j / k move, Enter opens; "/" focuses the
//      field marked data-hotkey="/".
"use strict";

const leadq = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  async function api(method, path, body, contentType) {
    const headers = { "X-CSRF-Token": csrf(), Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      if (typeof body === "string" || body instanceof Blob || body instanceof ArrayBuffer) {
        init.body = body;
        headers["Content-Type"] = contentType || "text/plain";
      } else {
        init.body = JSON.stringify(body);
        headers["Content-Type"] = "application/json";
      }
    }
    const resp = await fetch(path, init);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (!resp.ok) {
      const err = new Error((data && data.error && data.error.message) || `${resp.status} ${resp.statusText}`);
      err.status = resp.status;
      err.body = data;
      throw err;
    }
    return data;
  }

  function describe(err) {
    const lines = [err.message];
    const d = err.body && err.body.error && err.body.error.details;
    const walk = (v) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        if (v.path || v.field || v.message) {
          const where = v.path || v.field || "";
          const pos = v.line ? ` (line ${v.line}${v.column ? ", column " + v.column : ""})` : "";
          lines.push(`${where}${pos}: ${v.message || ""}`.trim());
        } else Object.values(v).forEach(walk);
      }
    };
    if (d && typeof d === "object" && Object.keys(d).length) walk(d);
    return lines.filter((l, i) => l && lines.indexOf(l) === i).join("\n");
  }

  function setPath(obj, path, value) {
    const keys = path.split(".");
    let o = obj;
    keys.slice(0, -1).forEach((k) => { o = o[k] = o[k] && typeof o[k] === "object" ? o[k] : {}; });
    o[keys[keys.length - 1]] = value;
  }

  function fieldValue(el) {
    const type = el.dataset.type;
    if (el.type === "checkbox") return el.checked;
    const raw = el.value;
    if (raw === "" && !("keepEmpty" in el.dataset)) return undefined;
    switch (type) {
      case "number": return raw === "" ? null : Number(raw);
      case "int": return raw === "" ? null : parseInt(raw, 10);
      case "bool": return raw === "true" || raw === "yes" || raw === "on";
      case "json": return raw === "" ? null : JSON.parse(raw);
      case "list": return raw.split(",").map((s) => s.trim()).filter(Boolean);
      default: return raw;
    }
  }

  function formJson(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.type === "submit" || el.type === "file") continue;
      if (el.type === "radio" && !el.checked) continue;
      if ("query" in el.dataset) continue;
      const v = fieldValue(el);
      if (v !== undefined) setPath(out, el.name, v);
    }
    return out;
  }

  function fill(template, data) {
    return template.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(data && data[k] != null ? data[k] : ""));
  }

  function alertOf(form) {
    let el = form.querySelector('[role="alert"]');
    if (!el) {
      el = document.createElement("p");
      el.setAttribute("role", "alert");
      form.appendChild(el);
    }
    return el;
  }

  async function submitApiForm(form, submitter) {
    const alert = alertOf(form);
    alert.textContent = "";
    const notice = form.querySelector(".notice");
    if (notice) notice.textContent = "";
    const method = (submitter && submitter.dataset.method) || form.dataset.method || "POST";
    let path = (submitter && submitter.dataset.api) || form.dataset.api;
    const query = (form.dataset.query || "").split(",").map((s) => s.trim()).filter(Boolean);
    const params = new URLSearchParams();
    for (const name of query) {
      const el = form.elements[name];
      if (el && el.value) params.set(name, el.value);
    }
    if ([...params].length) path += (path.includes("?") ? "&" : "?") + params.toString();
    let body;
    const spec = form.dataset.body || "";
    try {
      if (spec.startsWith("text:")) body = form.elements[spec.slice(5)].value;
      else if (spec.startsWith("file:")) {
        const input = form.elements[spec.slice(5)];
        if (!input.files.length) throw new Error("Choose a file first.");
        body = await input.files[0].arrayBuffer();
      } else if (spec !== "none" && method !== "GET" && method !== "DELETE") body = formJson(form);
    } catch (e) {
      alert.textContent = e.message;
      return;
    }
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const data = await api(method, path, body, form.dataset.contentType);
      form.dispatchEvent(new CustomEvent("api:done", { detail: data, bubbles: true }));
      const then = (submitter && submitter.dataset.then) || form.dataset.then || "reload";
      if (then === "reload") location.reload();
      else if (then.startsWith("go:")) location.assign(fill(then.slice(3), data));
      else if (notice && form.dataset.done) notice.textContent = form.dataset.done;
    } catch (e) {
      alert.textContent = describe(e);
      form.dispatchEvent(new CustomEvent("api:failed", { detail: e, bubbles: true }));
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  function followJob(el) {
    const id = el.dataset.job;
    if (!id || el.dataset.following) return;
    el.dataset.following = "1";
    const bar = el.querySelector("progress");
    const text = el.querySelector("[data-job-text]");
    const tick = async () => {
      let job;
      try { job = await api("GET", `/api/v1/jobs/${encodeURIComponent(id)}`); }
      catch (e) { if (text) text.textContent = describe(e); return; }
      const total = job.total || 0, done = job.done || 0;
      if (bar) { if (total > 0) { bar.max = total; bar.value = done; } else bar.removeAttribute("value"); }
      if (text) text.textContent = `${job.kind || "job"} ${job.status}: ${done}${total ? " of " + total : ""}`;
      if (job.status === "running" || job.status === "queued") setTimeout(tick, 400);
      else el.dispatchEvent(new CustomEvent("job:done", { detail: job, bubbles: true }));
    };
    tick();
  }

  function rows() { return [...document.querySelectorAll("tr[data-href]")]; }
  function move(delta) {
    const list = rows();
    if (!list.length) return;
    let i = list.findIndex((r) => r.classList.contains("current"));
    list.forEach((r) => r.classList.remove("current"));
    i = Math.max(0, Math.min(list.length - 1, i < 0 ? 0 : i + delta));
    list[i].classList.add("current");
    list[i].scrollIntoView({ block: "nearest" });
    list[i].querySelector("a")?.focus();
  }

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    submitApiForm(form, ev.submitter);
  });

  document.addEventListener("click", (ev) => {
    const row = ev.target.closest && ev.target.closest("tr[data-href]");
    if (row && !ev.target.closest("a, button, input, select, textarea, label")) location.assign(row.dataset.href);
  });

  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    const typing = t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "/") {
      const f = document.querySelector('[data-hotkey="/"]');
      if (f) { ev.preventDefault(); f.focus(); }
    } else if (ev.key === "j") move(1);
    else if (ev.key === "k") move(-1);
    else if (ev.key === "Enter") {
      const cur = document.querySelector("tr.current[data-href]");
      if (cur) { ev.preventDefault(); location.assign(cur.dataset.href); }
    }
  });

  const start = () => document.querySelectorAll("[data-job]").forEach(followJob);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  return { api, describe, followJob, formJson };
})();
window.leadq = leadq;
