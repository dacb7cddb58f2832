//! The model list, the model editor (validate, save as a draft, backtest,
//! publish) and the diff between two model versions.
//!
//! Every action goes through the JSON API, so its role checks and error
//! messages are the API's own; the pages only hide controls a viewer
//! cannot use.

use super::{blocking, layout, when, Page, Viewer, WebError};
use crate::auth::Role;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use leadq_store::ModelRow;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

const VIEWERS: &[Role] = &[Role::Marketing, Role::Manager];
/// Who may write models (validate, save, publish); the API enforces the same.
const EDITORS: &[Role] = &[Role::Marketing];

/// `v3 · name` for a published or retired version, `draft #12 · name` for a draft.
fn label(m: &ModelRow) -> String {
    match m.version {
        Some(v) => format!("v{v} · {}", m.name),
        None => format!("draft #{} · {}", m.id, m.name),
    }
}

fn status_text(m: &ModelRow) -> &'static str {
    match m.status.as_str() {
        "published" => "published (in use)",
        "retired" => "retired",
        "draft" => "draft",
        _ => "unknown",
    }
}

fn href(m: &ModelRow) -> String {
    format!("/ui/models/{}", m.id)
}

fn diff_href(from: i64, to: i64) -> String {
    format!("/ui/models/diff?from={from}&to={to}")
}

/// Newest first: the order people look for versions in.
fn newest_first(mut models: Vec<ModelRow>) -> Vec<ModelRow> {
    models.sort_by_key(|m| std::cmp::Reverse(m.id));
    models
}

/// A `<select>` of every model, with `selected` chosen.
fn model_select(name: &str, models: &[ModelRow], selected: Option<i64>) -> Markup {
    html! {
        select name=(name) required {
            @for m in models {
                option value=(m.id) selected[selected == Some(m.id)] { (label(m)) " (" (m.status) ")" }
            }
        }
    }
}

fn diff_form(models: &[ModelRow], from: Option<i64>, to: Option<i64>) -> Markup {
    html! {
        form.inline method="get" action="/ui/models/diff" aria-label="Compare two models" {
            label { "From" (model_select("from", models, from)) }
            label { "To" (model_select("to", models, to)) }
            button type="submit" { "Show diff" }
        }
    }
}

// ------------------------------------------------------------------ list

pub async fn list(State(state): State<AppState>, v: Viewer) -> Page {
    v.require(VIEWERS)?;
    let models = newest_first(blocking(&state, |s| Ok(s.store.list_models()?)).await?);
    let published = models.iter().find(|m| m.status == "published");
    let can_edit = v.is(EDITORS);
    let body = html! {
        h1 { "Scoring models" }
        p.muted { "Drafts can be edited, backtested against stored outcomes and published; publishing re-scores every lead." }
        @if can_edit {
            section.panel aria-labelledby="new-draft" {
                h2 #new-draft { "New draft" }
                @if let Some(p) = published {
                    form.inline data-api="/api/v1/models" data-then="go:/ui/models/{id}" {
                        input type="hidden" name="source" value=(p.source);
                        label { "Name" input name="name" required value=(format!("{} (draft)", p.name)); }
                        button type="submit" { "New draft from the published model (v" (p.version.unwrap_or(0)) ")" }
                        p role="alert" {}
                    }
                } @else {
                    p { "No model is published yet. Paste a model file to store it as the first draft." }
                    form.stack data-api="/api/v1/models" data-then="go:/ui/models/{id}" {
                        label { "Name" input name="name" required; }
                        label { "Model source (TOML)" textarea.code name="source" rows="16" spellcheck="false" required {} }
                        button type="submit" { "Save as a draft" }
                        p role="alert" {}
                    }
                }
            }
        }
        h2 { "Versions and drafts" }
        @if models.is_empty() {
            p { "No models yet." }
        } @else {
            div.table-wrap {
                table {
                    caption.sr { "Scoring models, newest first" }
                    thead { tr {
                        th scope="col" { "Model" }
                        th scope="col" { "Status" }
                        th scope="col" class="num" { "Version" }
                        th scope="col" { "Name" }
                        th scope="col" { "Created by" }
                        th scope="col" { "Created" }
                        th scope="col" { "Published" }
                    } }
                    tbody {
                        @for m in &models {
                            tr data-href=(href(m)) {
                                td { a href=(href(m)) { "Open " (label(m)) } }
                                td { (status_text(m)) }
                                td.num { (m.version.map_or("—".to_string(), |v| v.to_string())) }
                                td { (m.name) }
                                td { (m.created_by) }
                                td { (when(m.created_at)) }
                                td { (m.published_at.map_or("—".to_string(), when)) }
                            }
                        }
                    }
                }
            }
            @if models.len() > 1 {
                h2 { "Compare two models" }
                (diff_form(&models, models.get(1).map(|m| m.id), models.first().map(|m| m.id)))
            }
        }
    };
    Ok(layout(&v, "Models", "models", body))
}

// ------------------------------------------------------------------ editor

/// Page behaviour: copies the editor's text into each action form, moves the
/// caret to the line of a reported error, renders backtest answers as
/// tables and follows the re-score job after publishing. Text from the API
/// is inserted with `textContent`, never as HTML.
const EDITOR_JS: &str = r#"
(() => {
  const src = document.getElementById("source");
  if (!src) return;
  const pos = document.getElementById("caret");
  const showPos = () => {
    if (!pos) return;
    const before = src.value.slice(0, src.selectionStart);
    const line = before.split("\n").length;
    const col = before.length - before.lastIndexOf("\n");
    pos.textContent = `Line ${line}, column ${col}. `;
  };
  ["keyup", "click", "select", "focus"].forEach((e) => src.addEventListener(e, showPos));
  // Runs before app.js reads the form (capture phase).
  document.addEventListener("submit", (ev) => {
    ev.target.querySelectorAll && ev.target.querySelectorAll("input[data-copy-source]").forEach((i) => { i.value = src.value; });
  }, true);
  const goTo = (line, column) => {
    const lines = src.value.split("\n");
    const l = Math.max(1, Math.min(line, lines.length));
    let start = 0;
    for (let i = 0; i < l - 1; i++) start += lines[i].length + 1;
    const end = start + lines[l - 1].length;
    const at = column ? Math.min(start + column - 1, end) : start;
    src.focus();
    src.setSelectionRange(at, end);
    const lh = parseFloat(getComputedStyle(src).lineHeight) || 18;
    src.scrollTop = Math.max(0, (l - 4) * lh);
    showPos();
  };
  document.addEventListener("api:failed", (ev) => {
    const d = ev.detail && ev.detail.body && ev.detail.body.error && ev.detail.body.error.details;
    if (!d || !d.line) return;
    const alert = ev.target.querySelector('[role="alert"]');
    if (alert && !alert.textContent.includes(`line ${d.line}`)) {
      const where = `Line ${d.line}${d.column ? ", column " + d.column : ""}${d.rule ? " (rule “" + d.rule + "”)" : ""}`;
      alert.textContent = `${where}: ${alert.textContent}`;
    }
    goTo(d.line, d.column);
  });

  const fmt = (v, kind) => {
    if (v === null || v === undefined) return "—";
    if (kind === "pct") return (v * 100).toFixed(1) + "%";
    if (kind === "num") return Number.isInteger(v) ? String(v) : v.toFixed(3);
    return String(v);
  };
  const el = (tag, text, attrs) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    return e;
  };
  const name = (r) => {
    const m = r.model || {};
    const what = m.version ? "v" + m.version : m.id ? "draft #" + m.id : "this draft (unsaved text)";
    return `${what} · ${m.name || ""}`;
  };
  const table = (caption, head, rows) => {
    const t = el("table");
    t.appendChild(el("caption", caption));
    const tr = el("tr");
    head.forEach((h, i) => tr.appendChild(el("th", h, { scope: "col", class: i ? "num" : "" })));
    t.appendChild(el("thead")).appendChild(tr);
    const body = t.appendChild(el("tbody"));
    rows.forEach((r) => {
      const row = el("tr");
      r.forEach((c, i) => row.appendChild(i ? el("td", c, { class: "num" }) : el("th", c, { scope: "row" })));
      body.appendChild(row);
    });
    const wrap = el("div", undefined, { class: "table-wrap" });
    wrap.appendChild(t);
    return wrap;
  };
  const diff = (a, b, kind) => {
    if (typeof a !== "number" || typeof b !== "number") return "—";
    const d = a - b;
    const s = kind === "pct" ? (d * 100).toFixed(1) + " pts" : Number.isInteger(d) ? String(d) : d.toFixed(3);
    return d > 0 ? "+" + s : d < 0 ? "−" + s.replace("-", "") : "no change";
  };
  const out = document.getElementById("backtest-result");
  document.addEventListener("api:done", (ev) => {
    if (ev.target.id !== "backtest" || !out) return;
    const r = ev.detail || {};
    const models = [r.candidate, r.against].filter(Boolean);
    out.replaceChildren();
    out.appendChild(el("h2", "Backtest", { id: "backtest-title" }));
    const o = r.outcomes || {};
    out.appendChild(el("p", `${o.won || 0} won, ${o.lost || 0} lost, ${o.disqualified || 0} disqualified (${o.open || 0} open leads left out) — ${o.rule || ""}. Scored as of ${r.as_of || "now"} in ${r.elapsed_ms} ms.`));
    const heads = ["Measure"].concat(models.map(name));
    if (models.length === 2) heads.push("Difference (this − comparison)");
    const metrics = [
      ["Leads evaluated", "leads", "num"], ["Conversions", "converted", "num"],
      ["Conversion rate", "conversion_rate", "pct"], ["ROC AUC (weighted score)", "auc", "num"],
      ["Share of conversions in the top 20%", "top20_share", "pct"], ["Lift at the top 10%", "lift_top10", "num"],
      ["MQL volume", "mql", "num"], ["MQL rate", "mql_rate", "pct"],
      ["MQL precision (MQLs that converted)", "mql_precision", "pct"], ["MQL recall (conversions that were MQLs)", "mql_recall", "pct"],
      ["Leads the model could not read", "rejected", "num"],
    ];
    const rowsOf = (list) => list.map(([label, key, kind]) => {
      const cells = [label].concat(models.map((m) => fmt(m[key], kind)));
      if (models.length === 2) cells.push(diff(models[0][key], models[1][key], kind));
      return cells;
    });
    out.appendChild(table("Backtest summary, side by side", heads, rowsOf(metrics)));
    const groupRows = (field, keys) => keys.map((k) => [k].concat(models.flatMap((m) => {
      const g = (m[field] || {})[k] || {};
      return [`${g.leads || 0} (${fmt(g.share, "pct")})`, fmt(g.rate, "pct")];
    })));
    const groupHead = (what) => [what].concat(models.flatMap((m) => [`${name(m)}: leads (share)`, `${name(m)}: conversion rate`]));
    out.appendChild(table("Grade distribution and conversion by grade", groupHead("Grade"), groupRows("by_grade", ["A", "B", "C", "D"])));
    const prios = [];
    "ABCD".split("").forEach((g) => [1, 2, 3, 4].forEach((b) => {
      const k = g + b;
      if (models.some((m) => ((m.by_priority || {})[k] || {}).leads)) prios.push(k);
    }));
    out.appendChild(table("Priority distribution and conversion by priority (priorities without leads left out)", groupHead("Priority"), groupRows("by_priority", prios)));
    (r.notes || []).forEach((n) => out.appendChild(el("p", n, { class: "muted" })));
    out.focus();
  });

  document.addEventListener("api:done", (ev) => {
    if (ev.target.id !== "publish") return;
    const job = ev.detail && ev.detail.job;
    const box = document.getElementById("publish-job");
    if (!job || !box) return;
    box.hidden = false;
    box.dataset.job = job.id;
    window.leadq.followJob(box);
  });
  document.addEventListener("job:done", (ev) => {
    const box = document.getElementById("publish-job");
    if (ev.target !== box) return;
    const done = box.querySelector("[data-job-done]");
    if (done) done.hidden = false;
  });
})();
"#;

struct EditorData {
    model: ModelRow,
    models: Vec<ModelRow>,
}

pub async fn editor(State(state): State<AppState>, v: Viewer, Path(id): Path<String>) -> Page {
    v.require(VIEWERS)?;
    let id: i64 = id.trim().parse().map_err(|_| {
        WebError::Failed(ApiError::not_found(format!(
            "model '{id}' (model ids are numbers)"
        )))
    })?;
    let data = blocking(&state, move |s| {
        let model = s
            .store
            .model(id)?
            .ok_or_else(|| ApiError::not_found(format!("model {id}")))?;
        Ok(EditorData {
            model,
            models: newest_first(s.store.list_models()?),
        })
    })
    .await?;
    let m = &data.model;
    let published = data.models.iter().find(|x| x.status == "published");
    let can_edit = v.is(EDITORS);
    let title = format!("Model {}", label(m));
    let body = html! {
        p { a href="/ui/models" { "← All models" } }
        h1 { (title) }
        dl.facts {
            dt { "Status" } dd { (status_text(m)) }
            dt { "Version" } dd { (m.version.map_or("— (not published)".to_string(), |v| v.to_string())) }
            dt { "Created" } dd { (when(m.created_at)) " by " (m.created_by) }
            dt { "Published" } dd { (m.published_at.map_or("—".to_string(), when)) }
        }
        div.field {
            label for="source" { "Model source (TOML)" }
            textarea.code #source name="source" spellcheck="false" autocomplete="off"
                aria-describedby="source-help" readonly[!can_edit] { (m.source) }
            p #source-help .muted {
                span #caret aria-live="off" {}
                @if can_edit {
                    " Edits are not stored until you save them as a new draft; a published version is never changed in place."
                } @else {
                    " You can read and backtest this model; changing or publishing models is for marketing."
                }
            }
        }
        div.actions {
            @if can_edit {
                form #validate data-api="/api/v1/models/validate" data-then="none" data-done="The model is valid." {
                    input type="hidden" name="source" data-copy-source;
                    button.secondary type="submit" { "Validate" }
                    p.notice aria-live="polite" {}
                    p role="alert" {}
                }
                form #save .inline data-api="/api/v1/models" data-then="go:/ui/models/{id}" {
                    input type="hidden" name="source" data-copy-source;
                    label { "Draft name" input name="name" required value=(m.name); }
                    button type="submit" { "Save as new draft" }
                    p role="alert" {}
                }
            }
            form #backtest .inline data-api="/api/v1/models/backtest" data-then="none" {
                input type="hidden" name="source" data-copy-source;
                @if let Some(p) = published {
                    input type="hidden" name="against" data-type="int" value=(p.id);
                    button type="submit" { "Backtest against the published model (v" (p.version.unwrap_or(0)) ")" }
                } @else {
                    button type="submit" { "Backtest (no model is published to compare with)" }
                }
                p role="alert" {}
            }
        }
        @if can_edit && m.status == "draft" {
            section.panel aria-labelledby="publish-title" {
                h2 #publish-title { "Publish" }
                p { "Publishing makes the saved draft (not unsaved edits above) the model every lead is scored with, and re-scores all leads." }
                form #publish data-api=(format!("/api/v1/models/{}/publish", m.id)) data-then="none"
                    data-confirm=(format!("Publish “{}” and re-score every lead?", m.name)) {
                    button.danger type="submit" { "Publish this draft" }
                    p role="alert" {}
                }
                div #publish-job hidden {
                    progress aria-label="Re-score progress" {}
                    p data-job-text aria-live="polite" {}
                    p data-job-done hidden { "Published. " a href=(href(m)) { "Reload this page" } }
                }
            }
        }
        section #backtest-result aria-live="polite" tabindex="-1" aria-labelledby="backtest-title" {}
        h2 { "Version history" }
        div.table-wrap {
            table {
                caption.sr { "Every model version and draft, newest first" }
                thead { tr {
                    th scope="col" { "Model" }
                    th scope="col" { "Status" }
                    th scope="col" { "Created" }
                    th scope="col" { "Published" }
                    th scope="col" { "Compare" }
                } }
                tbody {
                    @for x in &data.models {
                        tr {
                            td {
                                @if x.id == m.id {
                                    strong { (label(x)) } " (this one)"
                                } @else {
                                    a href=(href(x)) { (label(x)) }
                                }
                            }
                            td { (status_text(x)) }
                            td { (when(x.created_at)) " by " (x.created_by) }
                            td { (x.published_at.map_or("—".to_string(), when)) }
                            td {
                                @if x.id != m.id {
                                    a href=(diff_href(x.id, m.id)) { "Diff " (label(x)) " → this" }
                                }
                            }
                        }
                    }
                }
            }
        }
        script { (PreEscaped(EDITOR_JS)) }
    };
    Ok(layout(&v, &title, "models", body))
}

// ------------------------------------------------------------------ diff

#[derive(Deserialize)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

fn parse_id(v: &Option<String>) -> Option<i64> {
    v.as_deref().and_then(|s| s.trim().parse().ok())
}

/// The unified diff of two sources, each line marked `+`, `-` or ` ` (so the
/// meaning does not rest on colour), with hunk headers.
fn unified(from: &str, to: &str) -> (Markup, usize, usize) {
    let diff = similar::TextDiff::from_lines(from, to);
    let (mut added, mut removed) = (0, 0);
    let mut body = String::new();
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (a, b) = (first.old_range().start, first.new_range().start);
        let (a_len, b_len) = (
            last.old_range().end - first.old_range().start,
            last.new_range().end - first.new_range().start,
        );
        body.push_str(&format!(
            "<span class=\"hunk\">@@ -{},{} +{},{} @@</span>\n",
            a + 1,
            a_len,
            b + 1,
            b_len
        ));
        for op in &group {
            for change in diff.iter_changes(op) {
                let (sign, class) = match change.tag() {
                    similar::ChangeTag::Insert => {
                        added += 1;
                        ("+", "add")
                    }
                    similar::ChangeTag::Delete => {
                        removed += 1;
                        ("-", "del")
                    }
                    similar::ChangeTag::Equal => (" ", "same"),
                };
                let text = change.value();
                let text = text.strip_suffix('\n').unwrap_or(text);
                let line = html! { span class=(class) { (sign) " " (text) } };
                body.push_str(&line.into_string());
                body.push('\n');
            }
        }
    }
    (PreEscaped(body), added, removed)
}

pub async fn diff(State(state): State<AppState>, v: Viewer, Query(q): Query<DiffQuery>) -> Page {
    v.require(VIEWERS)?;
    let (from, to) = (parse_id(&q.from), parse_id(&q.to));
    let models = newest_first(blocking(&state, |s| Ok(s.store.list_models()?)).await?);
    let find = |id: Option<i64>| id.and_then(|id| models.iter().find(|m| m.id == id));
    let missing = |what: &str, raw: &Option<String>| {
        WebError::Failed(ApiError::not_found(format!(
            "model '{}' ({what})",
            raw.as_deref().unwrap_or("")
        )))
    };
    let pair = match (&q.from, &q.to) {
        (None, None) => None,
        _ => Some((
            find(from).ok_or_else(|| missing("from", &q.from))?,
            find(to).ok_or_else(|| missing("to", &q.to))?,
        )),
    };
    let body = html! {
        p { a href="/ui/models" { "← All models" } }
        h1 { "Model diff" }
        (diff_form(&models, from, to))
        @if let Some((a, b)) = pair {
            @let (text, added, removed) = unified(&a.source, &b.source);
            h2 {
                a href=(href(a)) { (label(a)) } " → " a href=(href(b)) { (label(b)) }
            }
            p {
                (added) " line" @if added != 1 { "s" } " added (marked +), "
                (removed) " line" @if removed != 1 { "s" } " removed (marked −)."
                " " a href=(diff_href(b.id, a.id)) { "Swap" }
            }
            @if added == 0 && removed == 0 {
                p { "The two sources are identical." }
            } @else {
                pre.diff aria-label=(format!("Unified diff from {} to {}", label(a), label(b))) {
                    code { "--- " (label(a)) "\n+++ " (label(b)) "\n" (text) }
                }
            }
        } @else {
            p.muted { "Choose two models to compare." }
        }
    };
    Ok(layout(&v, "Model diff", "models", body))
}
