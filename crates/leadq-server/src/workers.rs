//! Background work: imports and re-scores started by requests, the SLA
//! watcher, and webhook delivery with signed payloads and retries.

use crate::auth::{Principal, Role};
use crate::engine::{self, ActiveModel};
use crate::error::{ApiError, ApiResult};
use crate::service::{self, Service, EVENT_SLA_BREACHED};
use crate::AppState;
use hmac::{Hmac, Mac};
use leadq_core::lifecycle::Stage;
use leadq_core::sla::WorkingHours;
use leadq_core::{CompiledModel, Timestamp};
use leadq_ingest::{InputFormat, Mapping};
use leadq_store::{BreachRow, DeliveryRow, JobRow, LeadRow, ModelRow};
use serde_json::{json, Map, Value as Json};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The system acting on its own (SLA reassignment).
fn system(name: &str) -> Principal {
    Principal {
        token_id: "system".into(),
        name: name.into(),
        role: Role::Admin,
        rep_id: None,
    }
}

// ------------------------------------------------------------------ publish

/// Publishes a draft and re-scores every lead in the background.
pub async fn publish(state: &AppState, id: i64) -> ApiResult<(ModelRow, JobRow)> {
    if state.jobs.any_running("rescore") {
        return Err(ApiError::conflict(
            "busy",
            "a re-score is already running; wait for it to finish",
        ));
    }
    let s = state.clone();
    let (model, job) = tokio::task::spawn_blocking(move || -> ApiResult<(ModelRow, JobRow)> {
        let draft = s
            .store
            .model(id)?
            .ok_or_else(|| ApiError::not_found(format!("model {id}")))?;
        let compiled = crate::api::compile_model(&draft.source)?;
        let row = s
            .store
            .publish_model(id, s.clock.now_ms())
            .map_err(|e| match e {
                leadq_store::StoreError::Conflict(m) => ApiError::conflict("not_a_draft", m),
                other => other.into(),
            })?;
        s.set_model(Arc::new(ActiveModel {
            row: row.clone(),
            compiled,
        }));
        let job = crate::jobs::running("rescore", s.store.count_leads()?, s.clock.now_ms());
        s.store.put_job(job.clone())?;
        Ok((row, job))
    })
    .await
    .map_err(|_| ApiError::internal("publish failed"))??;
    run_rescore_job(state, job.clone(), "publish");
    Ok((model, job))
}

/// Starts re-scoring every lead in the background (as a publish does)
/// because of `cause`, e.g. a settings change; returns the job.
pub async fn rescore_in_background(state: &AppState, cause: &'static str) -> ApiResult<JobRow> {
    if state.jobs.any_running("rescore") {
        return Err(ApiError::conflict(
            "busy",
            "a re-score is already running; wait for it to finish",
        ));
    }
    let s = state.clone();
    let job = tokio::task::spawn_blocking(move || -> ApiResult<JobRow> {
        let job = crate::jobs::running("rescore", s.store.count_leads()?, s.clock.now_ms());
        s.store.put_job(job.clone())?;
        Ok(job)
    })
    .await
    .map_err(|_| ApiError::internal("starting the re-score failed"))??;
    run_rescore_job(state, job.clone(), cause);
    Ok(job)
}

/// Why a job left `running` by a stopped server is marked failed.
pub const INTERRUPTED: &str = "interrupted: the server stopped before the job finished";

/// How often a server records that it still runs its jobs.
pub const JOB_BEAT: Duration = Duration::from_secs(10);
/// How long a running job may go without a heartbeat before another
/// server (PostgreSQL) takes its server for dead.
pub const JOB_LEASE: Duration = Duration::from_secs(60);

/// Jobs still `running` whose server stopped: marked failed, and when one
/// was a re-score, every lead is re-scored again so that all of them reach
/// the published model. Returns the new job, if one started.
///
/// At start-up on SQLite one process owns the file, so every job still
/// `running` is taken (`all_running`). On PostgreSQL several servers may
/// share the store: only jobs whose heartbeat is older than [`JOB_LEASE`]
/// are, and every server checks for them every [`JOB_BEAT`], so a job of a
/// server that died is picked up by one of the others (or by the next
/// start).
pub async fn recover_interrupted_jobs(state: &AppState) -> ApiResult<Option<JobRow>> {
    let all_running = state.store.backend() == "sqlite";
    recover_jobs(state, all_running).await
}

async fn recover_jobs(state: &AppState, all_running: bool) -> ApiResult<Option<JobRow>> {
    if state.jobs.any_running("rescore") {
        // This server's own re-score is under way; a stopped server's one
        // is taken over on a later beat, once it has finished.
        return Ok(None);
    }
    let s = state.clone();
    let interrupted = tokio::task::spawn_blocking(move || {
        let now = s.clock.now_ms();
        let beat_before = (!all_running).then(|| now - JOB_LEASE.as_millis() as i64);
        s.store.fail_running_jobs(INTERRUPTED, now, beat_before)
    })
    .await
    .map_err(|_| ApiError::internal("reading interrupted jobs failed"))??;
    for j in &interrupted {
        tracing::warn!(job = %j.id, kind = %j.kind, done = j.done, total = j.total, "a job was interrupted when its server stopped; marked failed");
    }
    if !interrupted.iter().any(|j| j.kind == "rescore") {
        return Ok(None);
    }
    // The re-score may have followed a publish on another server: score
    // with the model the store holds as published, not the one cached here.
    let s = state.clone();
    tokio::task::spawn_blocking(move || s.reload_model())
        .await
        .map_err(|_| ApiError::internal("reloading the model failed"))??;
    if state.model().is_none() {
        return Ok(None);
    }
    let job = rescore_in_background(state, "resume").await?;
    tracing::info!(job = %job.id, "re-scoring every lead again after an interrupted re-score");
    Ok(Some(job))
}

/// One heartbeat of this server: records the jobs it runs. On PostgreSQL,
/// where other servers share the store, it then catches up with what they
/// changed (published model, predictive models, webhooks, task rules: see
/// [`AppState::reload_shared`]) and takes over the jobs of servers whose
/// heartbeat stopped. Returns the re-score it started, if any.
pub async fn beat(state: &AppState) -> ApiResult<Option<JobRow>> {
    let s = state.clone();
    let shared = state.store.backend() != "sqlite";
    tokio::task::spawn_blocking(move || {
        s.store.beat_jobs(s.jobs.beats(), s.clock.now_ms())?;
        if shared {
            s.reload_shared()?;
        }
        Ok::<_, leadq_store::StoreError>(())
    })
    .await
    .map_err(|_| ApiError::internal("the heartbeat failed"))??;
    if !shared {
        return Ok(None);
    }
    recover_jobs(state, false).await
}

fn run_rescore_job(state: &AppState, job: JobRow, cause: &'static str) {
    let s = state.clone();
    let j = job.clone();
    let progress = state.jobs.start(job.clone());
    progress.total.store(job.total, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || {
        let result = rescore_all_because(&s, &progress, cause);
        let mut done = j.clone();
        done.done = progress.done.load(Ordering::Relaxed);
        done.total = progress.total.load(Ordering::Relaxed);
        done.finished_at = Some(s.clock.now_ms());
        match result {
            Ok(n) => {
                done.status = "done".into();
                done.result = Some(json!({ "rescored": n }).to_string());
            }
            Err(e) => {
                done.status = "failed".into();
                done.error = Some(e.message);
            }
        }
        let _ = s.store.put_job(done);
        s.jobs.finish(&j.id);
    });
}

/// Re-scores every stored lead with the published model, a page at a time.
/// Reading and scoring the next page overlaps with writing the last one.
pub fn rescore_all(state: &AppState, progress: &crate::jobs::Progress) -> ApiResult<usize> {
    rescore_all_because(state, progress, "publish")
}

/// Leads a re-score pass reads and scores at a time.
const RESCORE_PAGE: usize = 2000;
/// Scored pages that may wait for the writer.
const RESCORE_QUEUE: usize = 8;
/// Most re-scored leads written in one commit: with a lead row and a
/// ledger entry of a few kilobytes each, a larger write outgrows SQLite's
/// page cache, which then spills and reads pages back.
const RESCORE_WRITE_MAX: usize = 6_000;

/// [`rescore_all`], recording `cause` in the ledger.
pub fn rescore_all_because(
    state: &AppState,
    progress: &crate::jobs::Progress,
    cause: &str,
) -> ApiResult<usize> {
    let (to_writer, pages) =
        std::sync::mpsc::sync_channel::<Vec<leadq_store::LeadChange>>(RESCORE_QUEUE);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> ApiResult<(usize, Vec<String>)> {
            let svc = Service::new(state);
            let (mut n, mut stale) = (0, Vec::new());
            while let Ok(first) = pages.recv() {
                // Pages scored while the last write ran go into one write:
                // the fewer commits, the fewer times the same index pages
                // are written out.
                let mut changes = Vec::with_capacity(RESCORE_WRITE_MAX + RESCORE_PAGE);
                changes.extend(first);
                while changes.len() < RESCORE_WRITE_MAX {
                    match pages.try_recv() {
                        Ok(more) => changes.extend(more),
                        Err(_) => break,
                    }
                }
                let len = changes.len() as i64;
                let (ok, s) = svc.apply_rescore(changes, true)?;
                n += ok;
                stale.extend(s);
                state
                    .stats
                    .leads_rescored
                    .fetch_add(ok as u64, Ordering::Relaxed);
                progress.done.fetch_add(len, Ordering::Relaxed);
            }
            Ok((n, stale))
        });
        let mut after = 0;
        let read: ApiResult<()> = (|| {
            loop {
                // Reasons are read only for leads already on this version:
                // for the others, the new score differs whatever they were.
                let version = state.model().map_or(0, |m| m.version());
                let page = state
                    .store
                    .scan_leads_to_rescore(after, RESCORE_PAGE, version)?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                let changes = Service::new(state).prepare_rescore_rows(page, cause)?;
                if to_writer.send(changes).is_err() {
                    break;
                }
            }
            Ok(())
        })();
        drop(to_writer);
        let (mut n, stale) = writer
            .join()
            .map_err(|_| ApiError::internal("the re-score writer failed"))??;
        read?;
        if !stale.is_empty() {
            n += Service::new(state).rescore_leads(&stale, cause)?;
        }
        state.after_write();
        Ok(n)
    })
}

// ------------------------------------------------------------------ import

/// Starts importing a lead file; returns the job at once.
pub fn start_import(
    state: &AppState,
    bytes: Vec<u8>,
    format: Option<String>,
    preset: Option<String>,
    mapping: Option<String>,
    actor: String,
) -> ApiResult<JobRow> {
    let (model, format, mapping) = import_inputs(state, &bytes, format, preset, mapping)?;
    let job = crate::jobs::running("import", 0, state.clock.now_ms());
    state.store.put_job(job.clone())?;
    let progress = state.jobs.start(job.clone());
    let s = state.clone();
    let j = job.clone();
    std::thread::spawn(move || {
        let result = run_import(
            &s,
            &model.compiled,
            &bytes,
            format,
            &mapping,
            &actor,
            &progress,
        );
        let mut done = j.clone();
        done.done = progress.done.load(Ordering::Relaxed);
        done.total = progress.total.load(Ordering::Relaxed);
        done.finished_at = Some(s.clock.now_ms());
        match result {
            Ok(r) => {
                done.status = "done".into();
                done.result = Some(r.to_string());
            }
            Err(e) => {
                done.status = "failed".into();
                done.error = Some(e.message);
            }
        }
        let _ = s.store.put_job(done);
        s.jobs.finish(&j.id);
    });
    Ok(job)
}

/// The model, format and mapping an import of `bytes` runs with: a pasted
/// mapping wins over a preset, which wins over the server's own mapping.
fn import_inputs(
    state: &AppState,
    bytes: &[u8],
    format: Option<String>,
    preset: Option<String>,
    mapping: Option<String>,
) -> ApiResult<(Arc<ActiveModel>, InputFormat, Mapping)> {
    let model = state.model().ok_or_else(|| ApiError::conflict("no_model", "no scoring model is published yet: publish one first (POST /api/v1/models, then /models/{id}/publish)"))?;
    let mapping = match (mapping, preset) {
        (Some(text), _) => {
            Mapping::from_toml(&text).map_err(|e| ApiError::invalid("mapping", e.to_string()))?
        }
        (None, Some(p)) => {
            Mapping::preset(&p).map_err(|e| ApiError::invalid("preset", e.to_string()))?
        }
        (None, None) => state.mapping.clone(),
    };
    let format = match format.as_deref() {
        None => InputFormat::detect(std::path::Path::new("upload"), bytes),
        Some(f) => InputFormat::parse(f).ok_or_else(|| {
            ApiError::invalid("format", format!("'{f}' is not csv, json or ndjson"))
        })?,
    };
    Ok((model, format, mapping))
}

/// How many cleaned rows and rejects a preview shows.
const PREVIEW_ROWS: usize = 20;
const PREVIEW_REJECTS: usize = 1000;

/// What an import of `bytes` would do, without writing anything: the
/// detected format, how each column maps, the first cleaned rows and every
/// row the cleaner rejects (the same cleaning an import job runs).
pub fn preview_import(
    state: &AppState,
    bytes: &[u8],
    format: Option<String>,
    preset: Option<String>,
    mapping: Option<String>,
) -> ApiResult<Json> {
    use leadq_ingest::mapping::Target;
    let (model, format, mapping) = import_inputs(state, bytes, format, preset, mapping)?;
    let model = &model.compiled;
    let cleaned = leadq_ingest::clean_records(bytes, format, model, &mapping)
        .map_err(|e| ApiError::invalid("file", e.to_string()))?;
    // The plan depends only on the headers, so it is the one the cleaner used.
    let plan = mapping
        .plan(&cleaned.headers, model)
        .map_err(|e| ApiError::invalid("file", e.to_string()))?;
    let slots = model.answer_slots();
    let answer_name = |i: usize| {
        let (fi, ci) = slots[i];
        let f = &model.frameworks[fi];
        format!("{}.{}", f.column_prefix(), f.criteria[ci].key)
    };
    let columns: Vec<Json> = cleaned
        .headers
        .iter()
        .zip(&plan.targets)
        .enumerate()
        .map(|(i, (h, t))| {
            let (kind, to) = match t {
                Target::Field(f) => ("field", Some(f.name().to_string())),
                Target::Custom(c) => (
                    "custom",
                    Some(format!("custom.{}", model.custom_fields[*c].0)),
                ),
                Target::Answer(a) => ("answer", Some(answer_name(*a))),
                Target::PassThrough => ("unmapped", None),
            };
            json!({ "index": i, "column": h, "kind": kind, "maps_to": to })
        })
        .collect();
    let (mut accepted, mut rejected, mut duplicates) = (0usize, 0usize, 0usize);
    let mut seen = std::collections::HashSet::new();
    let mut rows = Vec::new();
    let mut rejects = Vec::new();
    for (row, result) in &cleaned.results {
        match result {
            Ok(lead) => {
                accepted += 1;
                // Ids default to the email, so both are looked up before
                // either is recorded.
                let email = lead.contact.email.as_ref().map(|e| e.as_str().to_string());
                let id = lead.id.to_string();
                if seen.contains(&id) || email.as_ref().is_some_and(|e| seen.contains(e)) {
                    duplicates += 1;
                }
                seen.insert(id);
                seen.extend(email);
                if rows.len() < PREVIEW_ROWS {
                    rows.push(
                        json!({ "row": row, "lead": preview_lead(lead, model, &answer_name) }),
                    );
                }
            }
            Err(r) => {
                rejected += 1;
                if rejects.len() < PREVIEW_REJECTS {
                    rejects.push(json!({ "row": r.row, "line": r.line, "column": r.column, "value": r.value, "reason": r.reason }));
                }
            }
        }
    }
    let delimiter = (format == InputFormat::Csv).then(|| {
        let d = leadq_ingest::reader::sniff_delimiter(leadq_ingest::reader::strip_bom(bytes));
        (d as char).to_string()
    });
    Ok(json!({
        "format": match format { InputFormat::Csv => "csv", InputFormat::Json => "json", InputFormat::Ndjson => "ndjson" },
        "delimiter": delimiter,
        "preset": mapping.preset,
        "headers": cleaned.headers,
        "columns": columns,
        "rows": rows,
        "rejects": rejects,
        "warnings": cleaned.warnings,
        "counts": {
            "records": cleaned.results.len(),
            "accepted": accepted,
            "rejected": rejected,
            "duplicates": duplicates,
            "mapped_columns": plan.targets.iter().filter(|t| **t != Target::PassThrough).count(),
            "unmapped_columns": plan.targets.iter().filter(|t| **t == Target::PassThrough).count(),
        },
    }))
}

/// A cleaned lead as flat `field → value` pairs, named as a mapping names
/// them (`email`, `company.name`, `custom.total_visits`, `bant.budget`).
fn preview_lead(
    lead: &leadq_core::Lead,
    model: &CompiledModel,
    answer_name: &dyn Fn(usize) -> String,
) -> Json {
    let mut out = Map::new();
    out.insert("lead_id".into(), json!(lead.id.as_str()));
    for (section, v) in [
        ("contact", serde_json::to_value(&lead.contact)),
        ("company", serde_json::to_value(&lead.company)),
        ("source", serde_json::to_value(&lead.source)),
        ("consent", serde_json::to_value(&lead.consent)),
    ] {
        let Ok(Json::Object(m)) = v else { continue };
        for (k, v) in m {
            if v.is_null() || (section == "consent" && v == Json::Bool(false)) {
                continue;
            }
            // Contact fields read best without their section's name.
            let name = if section == "contact" {
                k
            } else {
                format!("{section}.{k}")
            };
            out.insert(name, v);
        }
    }
    for (k, v) in [("owner", &lead.owner), ("stage", &lead.stage)] {
        if let Some(v) = v {
            out.insert(k.into(), json!(v.as_str()));
        }
    }
    if let Some(t) = lead.created_at {
        out.insert(
            "created_at".into(),
            json!(crate::clock::rfc3339(t.0.saturating_mul(1000))),
        );
    }
    for ((name, _), v) in model.custom_fields.iter().zip(&lead.custom) {
        if let Ok(v) = serde_json::to_value(v) {
            if !v.is_null() {
                out.insert(format!("custom.{name}"), v);
            }
        }
    }
    for (i, v) in lead.answers.iter().enumerate() {
        if let Ok(v) = serde_json::to_value(v) {
            if !v.is_null() {
                out.insert(answer_name(i), v);
            }
        }
    }
    Json::Object(out)
}

/// Imports a lead file synchronously (what an import job runs).
pub fn run_import(
    state: &AppState,
    model: &CompiledModel,
    bytes: &[u8],
    format: InputFormat,
    mapping: &Mapping,
    actor: &str,
    progress: &crate::jobs::Progress,
) -> ApiResult<Json> {
    let batch = leadq_ingest::load_leads(bytes, format, model, mapping)
        .map_err(|e| ApiError::invalid("file", e.to_string()))?;
    progress
        .total
        .store(batch.leads.len() as i64, Ordering::Relaxed);
    let mut rejects: Vec<Json> = batch
        .rejects
        .iter()
        .map(|r| json!({ "row": r.row, "line": r.line, "column": r.column, "value": r.value, "reason": r.reason }))
        .collect();
    let (mut created, mut updated) = (0usize, 0usize);
    let docs: Vec<(usize, Map<String, Json>)> = batch
        .raw
        .iter()
        .zip(&batch.rows)
        .map(|(rec, row)| {
            let mut m = Map::new();
            for (h, v) in batch.headers.iter().zip(rec.iter()) {
                // Stage and owner are the service's own (lifecycle and
                // routing); an export's columns of that name are not fields.
                if h.eq_ignore_ascii_case("stage") || h.eq_ignore_ascii_case("owner") {
                    continue;
                }
                if !v.trim().is_empty() {
                    m.insert(h.clone(), Json::String(v.to_string()));
                }
            }
            (*row, m)
        })
        .collect();
    for chunk in docs.chunks(500) {
        let inputs: Vec<_> = chunk
            .iter()
            .map(|(row, d)| {
                service::parse_lead_input(Json::Object(d.clone()), &format!("row {row}"))
            })
            .collect();
        let results = Service::new(state).upsert_leads(inputs, actor)?;
        for ((row, _), r) in chunk.iter().zip(results) {
            match r {
                Ok((_, true)) => created += 1,
                Ok((_, false)) => updated += 1,
                Err(e) => rejects.push(json!({ "row": row, "line": null, "column": e.details["fields"][0]["path"], "value": e.details["fields"][0]["value"], "reason": e.message })),
            }
        }
        progress
            .done
            .fetch_add(chunk.len() as i64, Ordering::Relaxed);
    }
    state
        .stats
        .leads_written
        .fetch_add((created + updated) as u64, Ordering::Relaxed);
    Ok(json!({
        "records": batch.records(),
        "created": created,
        "updated": updated,
        "merged": batch.merges.iter().map(|m| m.merged_rows.len()).sum::<usize>(),
        "rejected": rejects.len(),
        "warnings": batch.warnings,
        "rejects": rejects,
    }))
}

// ------------------------------------------------------------------ ledger replay

/// Recomputes the score a lead had at `at_ms` from the ledger entry then in
/// effect: its recorded inputs, the model version it names, the events the
/// lead had by then, as of the same instant.
pub fn replay(state: &AppState, who: &Principal, id: &str, at_ms: i64) -> ApiResult<Json> {
    Service::new(state).lead_for(who, id)?;
    let ledger = state.store.ledger_of(id)?;
    let entry = ledger.iter().rev().find(|e| e.at <= at_ms).ok_or_else(|| {
        ApiError::not_found(format!("a score of lead {id} at or before that instant"))
    })?;
    let model_row = state
        .store
        .model_by_version(entry.model_version)?
        .ok_or_else(|| ApiError::not_found(format!("model version {}", entry.model_version)))?;
    let compiled = CompiledModel::from_toml(&model_row.source).map_err(|e| {
        ApiError::internal(format!(
            "model version {} no longer compiles: {e}",
            entry.model_version
        ))
    })?;
    let active = ActiveModel {
        row: model_row,
        compiled,
    };
    let inputs: Json = serde_json::from_str(&entry.inputs).unwrap_or(Json::Null);
    let row = LeadRow {
        seq: 0,
        id: id.to_string(),
        external_id: None,
        email: None,
        domain: None,
        company: None,
        source: None,
        campaign: None,
        country: None,
        fields: inputs["fields"].to_string(),
        stage: inputs["stage"].as_str().unwrap_or("new").to_string(),
        stage_reason: None,
        owner: inputs["owner"].as_str().map(str::to_string),
        score: None,
        created_at: inputs["created_at"].as_i64().unwrap_or(0),
        updated_at: 0,
        assigned_at: None,
        first_response_at: None,
        stage_changed_at: 0,
        mql_at: None,
        sql_at: None,
        closed_at: None,
        version: 0,
    };
    let answers: Vec<leadq_store::AnswerRow> =
        serde_json::from_value(inputs["answers"].clone()).unwrap_or_default();
    let lead = engine::clean_leads(
        std::slice::from_ref(&row),
        &answers,
        &active.compiled,
        &state.mapping,
    )
    .pop()
    .and_then(Result::ok)
    .ok_or_else(|| ApiError::internal("the recorded inputs no longer clean"))?;
    let through = inputs["event_seq"].as_i64().unwrap_or(0);
    let tracking_ignored = inputs["tracking_ignored"].as_bool().unwrap_or(false);
    let events: Vec<_> = state
        .store
        .events_of(id)?
        .into_iter()
        .filter(|e| e.seq <= through)
        .filter(|e| !(tracking_ignored && leadq_core::privacy::is_tracked_kind(&e.kind)))
        .collect();
    let cols = engine::event_columns(&events, &active.compiled);
    let score = active
        .compiled
        .score(&lead, cols.view(), Timestamp(entry.as_of));
    let again = engine::to_lead_score(&active, &score, entry.at);
    let matches = again.fit == entry.fit
        && again.engagement == entry.engagement
        && again.grade == entry.grade
        && again.priority == entry.priority
        && again.mql == entry.mql
        && engine::same_reasons(&again.reasons, &entry.reasons);
    Ok(json!({
        "lead_id": id,
        "at": crate::clock::rfc3339(at_ms),
        "ledger": {
            "recorded_at": crate::clock::rfc3339(entry.at), "model_version": entry.model_version, "fit": entry.fit, "grade": entry.grade,
            "engagement": entry.engagement, "band": entry.band, "priority": entry.priority, "mql": entry.mql, "cause": entry.cause,
        },
        "recomputed": {
            "fit": again.fit, "grade": again.grade, "engagement": again.engagement, "band": again.band, "priority": again.priority, "mql": again.mql,
            "reasons": engine::shown_reasons(&again.reasons),
        },
        "matches": matches,
    }))
}

// ------------------------------------------------------------------ SLA

/// One pass of the SLA watcher: every active policy, every lead waiting in
/// its stage without a first response past the deadline (in the owner's
/// working hours) is recorded once as a breach, announced to webhooks, and
/// reassigned when the policy says so. The clock starts when the lead
/// entered the stage, or when it was (re)assigned later: a new owner gets
/// the whole time. Returns the new breaches.
pub fn sla_pass(state: &AppState) -> ApiResult<Vec<BreachRow>> {
    let now = state.clock.now_ms();
    let reps = state.store.list_reps()?;
    let mut found = Vec::new();
    for policy in state
        .store
        .list_sla_policies()?
        .into_iter()
        .filter(|p| p.active)
    {
        // No lead whose stage changed later than `now - minutes` can be
        // late, whatever the calendar: a cheap bound for the query.
        let bound = now - policy.minutes * 60_000;
        // Breaches already recorded are skipped without a write.
        let known: std::collections::HashSet<(String, i64)> =
            state.store.breach_keys(&policy.id)?.into_iter().collect();
        // Every waiting lead: with a limit, leads breached earlier and never
        // answered (the oldest, listed first) would hide new breaches.
        for lead in state
            .store
            .leads_waiting(&policy.stage, bound, i64::MAX as usize)?
        {
            let due = sla_due_at(&lead, policy.minutes, &reps);
            if now <= due || known.contains(&(lead.id.clone(), due)) {
                continue;
            }
            let breach = BreachRow {
                seq: 0,
                lead_id: lead.id.clone(),
                policy_id: policy.id.clone(),
                stage: policy.stage.clone(),
                owner: lead.owner.clone(),
                due_at: due,
                detected_at: now,
                action: policy.action.clone(),
            };
            if !state.store.record_breach(breach.clone())? {
                continue;
            }
            state.stats.sla_breaches.fetch_add(1, Ordering::Relaxed);
            let mut reassigned_to = None;
            if policy.action == "reassign" {
                match Service::new(state).assign(
                    &system("sla"),
                    &lead.id,
                    None,
                    lead.owner.as_deref(),
                ) {
                    Ok(row) => reassigned_to = row.owner,
                    Err(e) => {
                        tracing::warn!(lead = %lead.id, error = %e.message, "SLA reassignment found no rep")
                    }
                }
            }
            let d = Service::new(state).deliveries(EVENT_SLA_BREACHED, json!({
                "lead_id": lead.id, "policy_id": policy.id, "stage": policy.stage, "owner": lead.owner,
                "due_at": crate::clock::rfc3339(due), "action": policy.action, "escalate_to": policy.escalate_to, "reassigned_to": reassigned_to,
            }));
            if !d.is_empty() {
                state.store.enqueue_deliveries(d)?;
                state.deliveries_ready.notify_one();
            }
            found.push(breach);
        }
    }
    Ok(found)
}

/// When a waiting lead's first response falls due under a policy allowing
/// `minutes` business minutes: counted from the later of entering its stage
/// and its last assignment, in its owner's working hours (any hour when it
/// has no owner or the owner's hours do not parse).
pub fn sla_due_at(lead: &leadq_store::LeadRow, minutes: i64, reps: &[leadq_store::RepRow]) -> i64 {
    let hours = lead
        .owner
        .as_ref()
        .and_then(|o| reps.iter().find(|r| &r.id == o))
        .and_then(|r| WorkingHours::parse(&r.working_hours, &r.timezone).ok())
        .unwrap_or_else(WorkingHours::always);
    let start = lead
        .stage_changed_at
        .max(lead.assigned_at.unwrap_or(i64::MIN));
    hours
        .add_business_minutes(Timestamp(start.div_euclid(1000)), minutes)
        .0
        * 1000
}

/// Stages an SLA policy may watch.
pub fn sla_stage_ok(stage: &str) -> bool {
    Stage::parse(stage).is_some_and(|s| !s.is_closed())
}

// ------------------------------------------------------------------ webhooks

type HmacSha256 = Hmac<sha2::Sha256>;

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Verifies a signature header against `body` (for receivers and tests).
pub fn verify_signature(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = hex::decode(x).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.verify_slice(&v1).is_ok()
}

/// Delivers the deliveries that are due; returns how many succeeded.
pub async fn deliver_due(state: &AppState, client: &reqwest::Client) -> usize {
    let s = state.clone();
    let now = state.clock.now_ms();
    let due = match tokio::task::spawn_blocking(move || s.store.due_deliveries(now, 100)).await {
        Ok(Ok(d)) => d,
        _ => return 0,
    };
    let mut ok = 0;
    for mut d in due {
        let s = state.clone();
        let wid = d.webhook_id.clone();
        let hook = match tokio::task::spawn_blocking(move || s.store.webhook(&wid)).await {
            Ok(Ok(Some(h))) => h,
            _ => continue,
        };
        let ts = state.clock.now_ms().div_euclid(1000);
        let sig = signature(&hook.secret, ts, &d.payload);
        let result = client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("x-leadq-event", &d.event_type)
            .header("x-leadq-signature", sig)
            .header("x-leadq-delivery", d.seq.to_string())
            .body(d.payload.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        d.attempts += 1;
        let now = state.clock.now_ms();
        match result {
            Ok(resp) if resp.status().is_success() => {
                d.status = "delivered".into();
                d.last_status = Some(resp.status().as_u16() as i64);
                d.last_error = None;
                d.delivered_at = Some(now);
                state
                    .stats
                    .webhook_delivered
                    .fetch_add(1, Ordering::Relaxed);
                ok += 1;
            }
            other => {
                let (status, error) = match other {
                    Ok(resp) => (
                        Some(resp.status().as_u16() as i64),
                        format!("receiver answered {}", resp.status()),
                    ),
                    Err(e) => (None, format!("cannot reach the receiver: {e}")),
                };
                d.last_status = status;
                d.last_error = Some(error);
                state
                    .stats
                    .webhook_failed_attempts
                    .fetch_add(1, Ordering::Relaxed);
                if d.attempts >= state.config.webhook_max_attempts {
                    d.status = "failed".into();
                } else {
                    // Exponential backoff: base, 2×base, 4×base, ... capped at an hour.
                    let delay = (state.config.webhook_backoff_ms << (d.attempts - 1).min(20))
                        .min(3_600_000);
                    d.next_attempt_at = now + delay;
                }
            }
        }
        let s = state.clone();
        let row: DeliveryRow = d.clone();
        let _ = tokio::task::spawn_blocking(move || s.store.update_delivery(&row)).await;
    }
    ok
}

/// The longest rest of the background re-scorer between two passes.
const RESCORE_REST_MAX: Duration = Duration::from_secs(2);

/// Re-scores the leads queued by event batches until the queue is empty.
///
/// With `pace`, a pass that leaves more leads queued is followed by a rest
/// as long as the pass took (at most `RESCORE_REST_MAX`): under a sustained
/// stream of events the re-scorer then keeps about half of one core and
/// leaves the rest to acknowledging writes, and a lead touched by several
/// batches meanwhile is re-scored once. Scores lag the events by about two
/// passes at most; with the queue drained it waits for the next batch.
pub async fn drain_rescore_queue(state: &AppState, pace: bool) {
    loop {
        let ids = state.take_rescore(2000);
        if ids.is_empty() {
            return;
        }
        let s = state.clone();
        let again = ids.clone();
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || Service::new(&s).rescore_leads(&ids, "event"))
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e.message, leads = again.len(), "background re-score failed; will retry");
                state.queue_rescore(again);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(_) => return,
        }
        if pace && state.rescore_backlog() > 0 {
            tokio::time::sleep(started.elapsed().min(RESCORE_REST_MAX)).await;
        }
    }
}

/// Starts the SLA watcher, the background re-scorer, the scheduled
/// predictive retraining (when configured) and the webhook dispatcher;
/// they stop when
/// `stop` turns true.
pub fn spawn_all(state: AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    {
        let state = state.clone();
        let mut stop = stop.clone();
        handles.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(JOB_BEAT) => {}
                    _ = stop.changed() => break,
                }
                if let Err(e) = beat(&state).await {
                    tracing::warn!(error = %e.message, "the heartbeat failed");
                }
            }
        }));
    }
    {
        let state = state.clone();
        let mut stop = stop.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let s = state.clone();
                match tokio::task::spawn_blocking(move || {
                    crate::tasks::overdue_pass(&s)?;
                    sla_pass(&s)
                })
                .await
                {
                    Ok(Err(e)) => tracing::warn!(error = %e.message, "SLA pass failed"),
                    Err(e) => tracing::warn!(error = %e, "SLA pass panicked"),
                    _ => {}
                }
                tokio::select! {
                    _ = tokio::time::sleep(state.config.sla_interval) => {}
                    _ = stop.changed() => break,
                }
            }
        }));
    }
    {
        let state = state.clone();
        let mut stop = stop.clone();
        handles.push(tokio::spawn(async move {
            loop {
                drain_rescore_queue(&state, true).await;
                tokio::select! {
                    _ = state.rescore_ready.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => { drain_rescore_queue(&state, false).await; break }
                }
            }
        }));
    }
    if state.config.retrain_days > 0 {
        let state = state.clone();
        let mut stop = stop.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let s = state.clone();
                let days = s.config.retrain_days;
                match tokio::task::spawn_blocking(move || {
                    crate::predictive::scheduled_retrain(&s, days)
                })
                .await
                {
                    Ok(Ok(Some(job))) => {
                        tracing::info!(job = %job.id, "scheduled predictive retraining started")
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e.message, "scheduled retraining failed")
                    }
                    Err(e) => tracing::warn!(error = %e, "scheduled retraining panicked"),
                    _ => {}
                }
                tokio::select! {
                    _ = tokio::time::sleep(state.config.retrain_check) => {}
                    _ = stop.changed() => break,
                }
            }
        }));
    }
    {
        // Retention: the setting is read on every pass, so turning it on or
        // off through the API takes effect without a restart.
        let state = state.clone();
        let mut stop = stop.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let s = state.clone();
                match tokio::task::spawn_blocking(move || crate::privacy::retention_pass(&s)).await
                {
                    Ok(Ok(n)) if n > 0 => {
                        tracing::info!(erased = n, "retention erased inactive leads")
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e.message, "retention pass failed"),
                    Err(e) => tracing::warn!(error = %e, "retention pass panicked"),
                    _ => {}
                }
                tokio::select! {
                    _ = tokio::time::sleep(state.config.retention_check) => {}
                    _ = stop.changed() => break,
                }
            }
        }));
    }
    {
        // Nurture: due enrolments and the outbox every few seconds; the
        // sequences' enrolment rules less often, since they read every lead.
        let state = state.clone();
        let mut stop = stop.clone();
        handles.push(tokio::spawn(async move {
            let mut last_enrol: Option<tokio::time::Instant> = None;
            loop {
                let enrol_now =
                    last_enrol.is_none_or(|t| t.elapsed() >= state.config.enrol_interval);
                if enrol_now {
                    last_enrol = Some(tokio::time::Instant::now());
                }
                let s = state.clone();
                let pass = tokio::task::spawn_blocking(move || {
                    if enrol_now {
                        crate::nurture::enrol_pass(&s)?;
                    }
                    crate::nurture::sequence_pass(&s)?;
                    crate::nurture::mail_pass(&s)
                })
                .await;
                match pass {
                    Ok(Err(e)) => tracing::warn!(error = %e.message, "nurture pass failed"),
                    Err(e) => tracing::warn!(error = %e, "nurture pass panicked"),
                    _ => {}
                }
                tokio::select! {
                    _ = tokio::time::sleep(state.config.nurture_interval) => {}
                    _ = stop.changed() => break,
                }
            }
        }));
    }
    {
        let mut stop = stop.clone();
        handles.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().build().unwrap_or_default();
            loop {
                deliver_due(&state, &client).await;
                tokio::select! {
                    _ = state.deliveries_ready.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => break,
                }
            }
        }));
    }
    handles
}
