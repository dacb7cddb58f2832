//! The import page: upload a lead file, preview how it maps and what the
//! cleaner rejects, then run the import as a job and follow its progress.
//!
//! Both buttons send the same form (the file as the body, the format, preset
//! and mapping as the query) to the API: "Preview" to
//! `POST /api/v1/imports/preview`, "Import" to `POST /api/v1/imports`. The
//! answers are drawn by a small script; `?job=ID` shows a job's outcome on
//! the server so a reload or a shared link keeps it.

use super::{blocking, encode, layout, when, Page, Viewer};
use crate::auth::Role;
use crate::AppState;
use axum::extract::{Query, State};
use leadq_store::JobRow;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use serde_json::Value as Json;

#[derive(Deserialize, Default)]
pub struct ImportQuery {
    job: Option<String>,
}

struct ImportData {
    model: Option<(String, i64)>,
    job: Option<JobRow>,
}

pub async fn page(State(state): State<AppState>, v: Viewer, Query(q): Query<ImportQuery>) -> Page {
    v.require(&[Role::Marketing])?;
    let job_id = q
        .job
        .map(|j| j.trim().to_string())
        .filter(|j| !j.is_empty());
    let data = blocking(&state, move |s| {
        let job = match job_id {
            None => None,
            Some(id) => match s.jobs.live(&id) {
                Some(j) => Some(j),
                None => s.store.job(&id)?,
            },
        };
        Ok(ImportData {
            model: s.model().map(|m| (m.row.name.clone(), m.version())),
            // Only import jobs belong on this page.
            job: job.filter(|j| j.kind == "import"),
        })
    })
    .await?;
    let body = html! {
        h1 { "Import leads" }
        @match &data.model {
            Some((name, version)) => p.muted { "Leads are cleaned and scored with “" (name) "” (version " (version) ")." },
            None => p.bad role="status" { "No scoring model is published yet: imports need one. Publish a model first." },
        }
        form.stack #import-form
            data-api="/api/v1/imports/preview" data-method="POST" data-body="file:file"
            data-query="format,preset,mapping" data-then="none" {
            label { "Lead file (CSV, JSON or NDJSON)"
                input type="file" name="file" required
                    accept=".csv,.tsv,.txt,.json,.ndjson,.jsonl,text/csv,application/json";
            }
            label { "Format"
                select name="format" {
                    option value="" { "Detect from the content" }
                    option value="csv" { "CSV (delimiter detected)" }
                    option value="json" { "JSON array of objects" }
                    option value="ndjson" { "NDJSON (one object a line)" }
                }
            }
            label { "Column preset"
                select name="preset" {
                    option value="" { "Server default (match by header names)" }
                    @for p in leadq_ingest::mapping::preset_names() {
                        option value=(p) { (p) }
                    }
                }
            }
            label { "Mapping (TOML, overrides the preset)"
                textarea name="mapping" rows="4" spellcheck="false"
                    placeholder="preset = \"hubspot\"\n[columns]\n\"E-mail\" = \"email\"\n\"Org\" = \"company\"" {}
            }
            div {
                button type="submit" { "Preview" }
                " "
                button type="submit" data-api="/api/v1/imports" data-then="none" { "Import" }
            }
            p role="alert" {}
            p.notice role="status" {}
        }
        section #job aria-live="polite" {
            @if let Some(j) = &data.job { (job_panel(j)) }
        }
        section #preview aria-live="polite" {}
        script { (PreEscaped(SCRIPT)) }
    };
    Ok(layout(&v, "Import", "import", body))
}

/// A job's progress (followed by app.js while it runs) and, once it has
/// ended, its outcome.
fn job_panel(j: &JobRow) -> Markup {
    let result: Json = j
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Json::Null);
    let n = |k: &str| result[k].as_u64().unwrap_or(0);
    html! {
        h2 { "Import " (j.id) }
        div data-job=(j.id) {
            progress max="1" value=[(j.status != "running").then_some("1")] aria-label="Import progress" {}
            " "
            span data-job-text { "import " (j.status) ": " (j.done) @if j.total > 0 { " of " (j.total) } }
        }
        @if j.status == "done" {
            (outcome(&j.id, n("created") + n("updated"), n("created"), n("updated"), n("rejected"), n("merged")))
            @if let Some(w) = result["warnings"].as_array().filter(|w| !w.is_empty()) {
                h3 { "Warnings" }
                ul { @for x in w { li { (x.as_str().unwrap_or_default()) } } }
            }
        } @else if j.status == "failed" {
            p.bad role="alert" { "The import failed: " (j.error.as_deref().unwrap_or("no reason was recorded")) }
        }
        @if let Some(at) = j.finished_at { p.muted { "Finished " (when(at)) } }
    }
}

fn outcome(
    id: &str,
    accepted: u64,
    created: u64,
    updated: u64,
    rejected: u64,
    merged: u64,
) -> Markup {
    html! {
        p.outcome {
            strong { (accepted) " accepted" } " (" (created) " created, " (updated) " updated, "
            (merged) " merged as duplicates), " strong { (rejected) " rejected" } "."
        }
        p { a href={"/api/v1/jobs/" (encode(id)) "/rejects"} download={"rejects-" (id) ".csv"} { "Download the reject report (CSV)" } }
    }
}

/// Draws the preview and starts following an import job. Kept small: the
/// form itself is sent by app.js; this only turns the API's JSON into
/// tables with DOM calls (never HTML strings, so file content stays text).
const SCRIPT: &str = r#"
(() => {
  const form = document.getElementById("import-form");
  const out = document.getElementById("preview");
  const jobBox = document.getElementById("job");
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const k of kids) e.append(k instanceof Node ? k : String(k ?? ""));
    return e;
  };
  const show = (v) => v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  const table = (caption, head, rows) => el("div", { class: "table-wrap" },
    el("table", {}, el("caption", {}, caption),
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, show(c))))))));
  function preview(p) {
    const c = p.counts;
    out.replaceChildren(
      el("h2", {}, "Preview"),
      el("p", { class: "summary" }, `${c.records} records: ${c.accepted} would be accepted, ${c.rejected} rejected` +
        (c.duplicates ? `, ${c.duplicates} repeat an earlier row's id or email and would be merged` : "") +
        `. Format ${p.format}` + (p.delimiter ? ` (delimiter “${p.delimiter === "\t" ? "tab" : p.delimiter}”)` : "") +
        `; ${c.mapped_columns} columns mapped, ${c.unmapped_columns} unmapped.`),
    );
    if (p.warnings.length) out.append(el("h3", {}, "Warnings"), el("ul", {}, ...p.warnings.map((w) => el("li", {}, w))));
    out.append(table("How the columns map", ["Column", "Lead field"],
      p.columns.map((col) => [col.column, col.maps_to || "unmapped (kept as a field only)"])));
    if (p.rejects.length) out.append(table(`Rejected rows (${c.rejected})`, ["Row", "Line", "Column", "Value", "Reason"],
      p.rejects.map((r) => [r.row, r.line, r.column, r.value, r.reason])));
    else out.append(el("p", {}, "No row is rejected."));
    const keys = [];
    p.rows.forEach((r) => Object.keys(r.lead).forEach((k) => { if (!keys.includes(k)) keys.push(k); }));
    if (p.rows.length) out.append(table(`First ${p.rows.length} cleaned rows`, ["Row", ...keys],
      p.rows.map((r) => [r.row, ...keys.map((k) => r.lead[k])])));
  }
  function follow(job) {
    const link = el("a", { href: `/api/v1/jobs/${encodeURIComponent(job.id)}/rejects`, download: `rejects-${job.id}.csv` }, "Download the reject report (CSV)");
    const box = el("div", { "data-job": job.id }, el("progress", { "aria-label": "Import progress" }), " ", el("span", { "data-job-text": "" }, "import starting"));
    jobBox.replaceChildren(el("h2", {}, `Import ${job.id}`), box);
    history.replaceState(null, "", `/ui/import?job=${encodeURIComponent(job.id)}`);
    box.addEventListener("job:done", (ev) => {
      const j = ev.detail, r = j.result || {};
      if (j.status !== "done") { jobBox.append(el("p", { class: "bad", role: "alert" }, `The import failed: ${j.error || "no reason was recorded"}`)); return; }
      const accepted = (r.created || 0) + (r.updated || 0);
      jobBox.append(el("p", { class: "outcome" }, el("strong", {}, `${accepted} accepted`),
        ` (${r.created || 0} created, ${r.updated || 0} updated, ${r.merged || 0} merged as duplicates), `,
        el("strong", {}, `${r.rejected || 0} rejected`), "."), el("p", {}, link));
    });
    window.leadq.followJob(box);
  }
  form.addEventListener("api:done", (ev) => {
    const d = ev.detail || {};
    if (d.columns) preview(d);
    else if (d.kind === "import" && d.id) { out.replaceChildren(); follow(d); }
  });
})();
"#;
