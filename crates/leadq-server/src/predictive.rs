//! The predictive score: a model learned from the stored leads' own won and
//! lost outcomes, its honest (cross-validated) metrics, champion and
//! challenger, and the stored prediction of every lead.
//!
//! Training reads the outcomes, turns each lead's submitted fields into a
//! text table, leaves out identifiers and what the leakage guard refuses,
//! cross-validates, fits on every row and stores the model; then every lead
//! is scored with the champion and (in the shadow) the challenger.

use crate::error::{ApiError, ApiResult};
use crate::jobs::Progress;
use crate::AppState;
use axum::http::StatusCode;
use leadq_predict::train::{self, CvReport};
use leadq_predict::{leakage, Algorithm, Factor, Model, TextTable, TrainOptions};
use leadq_store::{JobRow, LeadRow, NewPredictiveModel, PredictionRow, PredictiveModelRow};
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Fewest won and fewest lost leads a model is trained on: below this the
/// folds hold a handful of outcomes and every metric is noise.
pub const MIN_OUTCOMES: usize = 20;
/// Factors kept per prediction.
pub const TOP_FACTORS: usize = 3;
/// Leads scored per store write.
const PAGE: usize = 2000;
pub const JOB_TRAIN: &str = "predictive_train";
pub const JOB_RESCORE: &str = "predictive_rescore";

/// A stored model with its parsed form.
pub struct Loaded {
    pub row: PredictiveModelRow,
    pub model: Model,
}

/// The models predictions are made with.
#[derive(Default)]
pub struct Predictors {
    pub champion: Option<Arc<Loaded>>,
    pub challenger: Option<Arc<Loaded>>,
}

fn load(row: Option<PredictiveModelRow>) -> Option<Loaded> {
    let row = row?;
    match Model::from_json(&row.model) {
        Ok(model) => Some(Loaded { row, model }),
        Err(e) => {
            tracing::error!(version = row.version, error = %e, "a stored predictive model no longer reads");
            None
        }
    }
}

impl Predictors {
    pub fn from_store(
        store: &dyn leadq_store::Store,
    ) -> Result<Predictors, leadq_store::StoreError> {
        Ok(Predictors {
            champion: load(store.predictive_model_with_status("champion")?).map(Arc::new),
            challenger: load(store.predictive_model_with_status("challenger")?).map(Arc::new),
        })
    }
}

/// Whether a submitted field identifies a person or a record rather than
/// describing the lead: such a field only memorises rows.
pub fn is_identifier(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let flat: String = lower
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    flat.contains("email")
        || flat.contains("phone")
        || flat.contains("mobile")
        || flat.contains("name")
        || flat == "id"
        || flat == "leadid"
        || flat == "externalid"
        || lower.ends_with("_id")
        || lower.ends_with(" id")
}

fn cell(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => b.to_string(),
        // Nested documents and nulls carry no single value to learn from.
        _ => String::new(),
    }
}

fn fields_of(lead: &LeadRow) -> Map<String, Json> {
    serde_json::from_str::<Map<String, Json>>(&lead.fields).unwrap_or_default()
}

/// A text table of the leads' fields under `headers`; absent fields are empty.
pub fn table_of<'a>(leads: impl IntoIterator<Item = &'a LeadRow>, headers: &[String]) -> TextTable {
    let rows = leads
        .into_iter()
        .map(|l| {
            let f = fields_of(l);
            headers
                .iter()
                .map(|h| f.get(h).map(cell).unwrap_or_default())
                .collect()
        })
        .collect();
    TextTable {
        headers: headers.to_vec(),
        rows,
    }
}

/// `leads` as a table of the columns `model` reads.
fn model_table(model: &Model, leads: &[&LeadRow]) -> TextTable {
    let headers: Vec<String> = model
        .features
        .features
        .iter()
        .map(|f| f.name.clone())
        .collect();
    table_of(leads.iter().copied(), &headers)
}

/// The probabilities alone, without factors: what is stored. A lead's
/// factors are explained when its prediction is read (`factors_of`).
fn probabilities(model: &Model, leads: &[&LeadRow]) -> ApiResult<Vec<f64>> {
    let x = model
        .features
        .encode(&model_table(model, leads))
        .map_err(|e| ApiError::internal(format!("predicting failed: {e}")))?;
    Ok(model.probabilities(&x))
}

/// The predictions of `leads` by the loaded champion (and challenger), in
/// their order; empty when there is no champion.
pub fn predictions_of(state: &AppState, leads: &[&LeadRow]) -> ApiResult<Vec<PredictionRow>> {
    let predictors = state.predictors();
    let Some(champion) = &predictors.champion else {
        return Ok(Vec::new());
    };
    if leads.is_empty() {
        return Ok(Vec::new());
    }
    let main = probabilities(&champion.model, leads)?;
    let shadow = match &predictors.challenger {
        Some(c) => Some((c.row.version, probabilities(&c.model, leads)?)),
        None => None,
    };
    let now = state.clock.now_ms();
    Ok(leads
        .iter()
        .zip(main)
        .enumerate()
        .map(|(i, (lead, probability))| PredictionRow {
            lead_id: lead.id.clone(),
            champion_version: champion.row.version,
            probability,
            challenger_version: shadow.as_ref().map(|(v, _)| *v),
            challenger_probability: shadow.as_ref().map(|(_, ps)| ps[i]),
            scored_at: now,
        })
        .collect())
}

/// The model of `version`: the loaded champion or challenger, else the
/// stored one (a retired model, until the re-scoring after a promotion has
/// reached every lead). `None` when it is not stored or no longer reads.
fn model_of_version(state: &AppState, version: i64) -> ApiResult<Option<Arc<Loaded>>> {
    let predictors = state.predictors();
    let loaded = [&predictors.champion, &predictors.challenger]
        .into_iter()
        .flatten()
        .find(|m| m.row.version == version);
    if let Some(m) = loaded {
        return Ok(Some(m.clone()));
    }
    let row = state
        .store
        .predictive_models()?
        .into_iter()
        .find(|m| m.version == version);
    Ok(load(row).map(Arc::new))
}

/// The top factors of `lead`'s prediction `p`, explained now by the model
/// version that made it from the lead's fields as stored. Those are the
/// fields it was predicted from: every write that changes a lead's fields
/// predicts it again, in the same transaction. Explaining (TreeSHAP over
/// every tree) costs several times the probability, and most predictions
/// are never opened, so it is done here rather than with each write.
/// Empty when that version is no longer stored, or the lead cannot be
/// explained by it: the probability is still shown.
pub fn factors_of(state: &AppState, lead: &LeadRow, p: &PredictionRow) -> ApiResult<Vec<Factor>> {
    let Some(m) = model_of_version(state, p.champion_version)? else {
        return Ok(Vec::new());
    };
    let explained = match m
        .model
        .predict(&model_table(&m.model, &[lead]), TOP_FACTORS)
    {
        Ok(mut e) if !e.is_empty() => e.swap_remove(0),
        Ok(_) => return Ok(Vec::new()),
        Err(e) => {
            tracing::warn!(lead = %lead.id, version = p.champion_version, error = %e,
                "a lead's prediction could not be explained");
            return Ok(Vec::new());
        }
    };
    if (explained.probability - p.probability).abs() > 1e-9 {
        // Only a failed prediction at the lead's last write leaves the
        // stored probability behind its fields; the factors are those of
        // the fields.
        tracing::warn!(lead = %lead.id, stored = p.probability, now = explained.probability,
            "a lead's fields changed since its stored prediction");
    }
    Ok(explained.factors)
}

/// Predicts `leads` with the loaded champion (and challenger) and stores
/// the predictions; nothing when there is no champion. Returns how many.
pub fn predict_and_store(state: &AppState, leads: &[LeadRow]) -> ApiResult<usize> {
    let rows = predictions_of(state, &leads.iter().collect::<Vec<_>>())?;
    let n = rows.len();
    state.store.put_predictions(rows)?;
    Ok(n)
}

/// Predicts every stored lead, a page at a time.
pub fn predict_all(state: &AppState, progress: &Progress) -> ApiResult<usize> {
    let (mut after, mut n) = (0, 0);
    loop {
        let page = state.store.scan_leads(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        n += predict_and_store(state, &page)?;
        progress
            .done
            .fetch_add(page.len() as i64, Ordering::Relaxed);
    }
    Ok(n)
}

/// What a training is asked for.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub algorithm: Algorithm,
    pub folds: usize,
    pub by: String,
}

/// The stored outcomes a model learns from.
pub struct Outcomes {
    pub leads: Vec<LeadRow>,
    pub y: Vec<bool>,
}

impl Outcomes {
    pub fn positives(&self) -> usize {
        self.y.iter().filter(|&&t| t).count()
    }
}

/// Every won (converted) and lost (not converted) lead.
pub fn outcomes(state: &AppState) -> ApiResult<Outcomes> {
    let (mut leads, mut after) = (Vec::new(), 0);
    loop {
        let page = state.store.closed_leads(i64::MIN, after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        leads.extend(page);
    }
    let y = leads.iter().map(|l| l.stage == "won").collect();
    Ok(Outcomes { leads, y })
}

/// Refuses outcomes too few to learn from, naming the counts.
pub fn check_outcomes(o: &Outcomes) -> ApiResult<()> {
    let won = o.positives();
    let lost = o.y.len() - won;
    if won < MIN_OUTCOMES || lost < MIN_OUTCOMES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_few_outcomes",
            format!(
                "training needs at least {MIN_OUTCOMES} won and {MIN_OUTCOMES} lost leads; the store has {won} won and {lost} lost"
            ),
        )
        .with_details(json!({ "won": won, "lost": lost, "minimum": MIN_OUTCOMES })));
    }
    Ok(())
}

fn metrics_json(m: &leadq_predict::Metrics) -> Json {
    let mut obj = Map::new();
    for (name, v) in leadq_predict::Metrics::NAMES.iter().zip(m.values()) {
        obj.insert((*name).to_string(), json!(v));
    }
    Json::Object(obj)
}

fn learn_error(e: leadq_predict::PredictError) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "cannot_train",
        format!("no model can be learned from the stored outcomes: {e}"),
    )
}

/// Learns a model from `o`, cross-validated, and stores it (champion when
/// there is none, else challenger).
pub fn train_model(
    state: &AppState,
    o: &Outcomes,
    req: &TrainRequest,
    progress: &Progress,
) -> ApiResult<PredictiveModelRow> {
    check_outcomes(o)?;
    let started = Instant::now();
    let keys: BTreeSet<String> = o
        .leads
        .iter()
        .flat_map(|l| fields_of(l).into_iter().map(|(k, _)| k))
        .collect();
    let mut left_out: Vec<Json> = Vec::new();
    let mut headers = Vec::new();
    for k in keys {
        if is_identifier(&k) {
            left_out.push(json!({ "column": k, "reason": "identifies a person or record" }));
        } else {
            headers.push(k);
        }
    }
    let table = table_of(&o.leads, &headers);
    let guarded = leakage::guarded_features(&table, &o.y, &[], &[]).map_err(learn_error)?;
    for f in guarded.report.findings.iter().filter(|f| !f.allowed) {
        left_out.push(json!({
            "column": f.column,
            "reason": format!("leakage guard: {}", f.reasons.join("; ")),
        }));
    }
    for d in &guarded.features.dropped {
        // The second inference lists the refused columns as excluded, not dropped.
        left_out.push(json!({ "column": d.column, "reason": d.reason }));
    }
    let opts = TrainOptions {
        algorithm: req.algorithm,
        ..TrainOptions::default()
    };
    let fs = &guarded.features;
    let (CvReport { mean, std, .. }, mut model) =
        train::cross_validate_and_fit(fs, &guarded.x, &o.y, req.folds, &opts)
            .map_err(learn_error)?;
    model.label = "converted".into();
    progress
        .done
        .fetch_add(req.folds as i64 + 1, Ordering::Relaxed);
    let algorithm = match req.algorithm {
        Algorithm::Gbdt => "gbdt",
        Algorithm::Logistic => "logistic",
    };
    let metrics = json!({
        "evaluation": format!("{}-fold stratified cross-validation, seed {}", req.folds, opts.seed),
        "cv": metrics_json(&mean),
        "cv_std": metrics_json(&std),
        "features": fs.features.iter().map(|f| &f.name).collect::<Vec<_>>(),
        "left_out": left_out,
        "train_seconds": started.elapsed().as_secs_f64(),
    });
    let row = state.store.create_predictive_model(NewPredictiveModel {
        algorithm: algorithm.into(),
        model: model.to_json(),
        metrics: metrics.to_string(),
        rows: o.y.len() as i64,
        positives: o.positives() as i64,
        trained_at: state.clock.now_ms(),
        trained_by: req.by.clone(),
    })?;
    state.reload_predictors()?;
    Ok(row)
}

fn job_row(state: &AppState, kind: &str, total: i64) -> JobRow {
    crate::jobs::running(kind, total, state.clock.now_ms())
}

/// Runs `work` as a background job on the blocking pool; the job row is
/// stored when it starts and when it ends.
fn spawn_job(
    state: &AppState,
    job: JobRow,
    work: impl FnOnce(&AppState, &Progress) -> ApiResult<Json> + Send + 'static,
) -> ApiResult<JobRow> {
    state.store.put_job(job.clone())?;
    let progress = state.jobs.start(job.clone());
    progress.total.store(job.total, Ordering::Relaxed);
    let s = state.clone();
    let j = job.clone();
    std::thread::spawn(move || {
        let result = work(&s, &progress);
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
                tracing::warn!(job = %j.id, error = %e.message, "predictive job failed");
                done.status = "failed".into();
                done.error = Some(e.message);
            }
        }
        let _ = s.store.put_job(done);
        s.jobs.finish(&j.id);
    });
    Ok(job)
}

fn refuse_if_busy(state: &AppState) -> ApiResult<()> {
    if state.jobs.any_running(JOB_TRAIN) || state.jobs.any_running(JOB_RESCORE) {
        return Err(ApiError::conflict(
            "busy",
            "a predictive training or re-scoring is already running; wait for it to finish",
        ));
    }
    Ok(())
}

/// Checks the outcomes now (so too few is refused at once), then trains
/// and re-predicts every lead in a background job. Call off the async threads.
pub fn start_training(state: &AppState, req: TrainRequest) -> ApiResult<JobRow> {
    refuse_if_busy(state)?;
    if !(2..=20).contains(&req.folds) {
        return Err(ApiError::invalid(
            "folds",
            format!("must be between 2 and 20, not {}", req.folds),
        ));
    }
    let o = outcomes(state)?;
    check_outcomes(&o)?;
    let total = req.folds as i64 + 1 + state.store.count_leads()?;
    let job = job_row(state, JOB_TRAIN, total);
    spawn_job(state, job, move |s, progress| {
        let row = train_model(s, &o, &req, progress)?;
        let predicted = predict_all(s, progress)?;
        Ok(json!({
            "model_id": row.id,
            "version": row.version,
            "status": row.status,
            "predicted": predicted,
            "metrics": serde_json::from_str::<Json>(&row.metrics).unwrap_or(Json::Null),
        }))
    })
}

/// Makes the challenger `id` the champion and re-predicts every lead in a
/// background job. Call off the async threads.
pub fn promote(state: &AppState, id: i64) -> ApiResult<(PredictiveModelRow, JobRow)> {
    refuse_if_busy(state)?;
    let row = state
        .store
        .promote_predictive_model(id)
        .map_err(|e| match e {
            leadq_store::StoreError::Conflict(m) => ApiError::conflict("not_a_challenger", m),
            other => other.into(),
        })?;
    state.reload_predictors()?;
    let job = job_row(state, JOB_RESCORE, state.store.count_leads()?);
    let job = spawn_job(state, job, |s, progress| {
        Ok(json!({ "predicted": predict_all(s, progress)? }))
    })?;
    Ok((row, job))
}

/// The champion's and challenger's AUC on the leads closed since the
/// challenger was trained, from the predictions stored for those leads.
pub fn live_comparison(state: &AppState) -> ApiResult<Option<Json>> {
    let (Some(champion), Some(challenger)) = (
        state.store.predictive_model_with_status("champion")?,
        state.store.predictive_model_with_status("challenger")?,
    ) else {
        return Ok(None);
    };
    let since = challenger.trained_at;
    let (mut closed, mut after) = (Vec::new(), 0);
    loop {
        let page = state.store.closed_leads(since, after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        closed.extend(page.into_iter().map(|l| (l.id, l.stage == "won")));
    }
    let won: HashMap<String, bool> = closed.iter().cloned().collect();
    let ids: Vec<String> = closed.into_iter().map(|(id, _)| id).collect();
    let (mut main, mut shadow, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for p in state.store.predictions_of(&ids)? {
        // Only leads scored by exactly this pair compare the two fairly.
        if p.champion_version != champion.version
            || p.challenger_version != Some(challenger.version)
        {
            continue;
        }
        let Some(sp) = p.challenger_probability else {
            continue;
        };
        main.push(p.probability);
        shadow.push(sp);
        y.push(won.get(&p.lead_id).copied().unwrap_or(false));
    }
    let positives = y.iter().filter(|&&t| t).count();
    Ok(Some(json!({
        "since": crate::clock::rfc3339(since),
        "leads": y.len(),
        "won": positives,
        "lost": y.len() - positives,
        "champion": { "version": champion.version, "auc": leadq_core::metrics::roc_auc(&main, &y) },
        "challenger": { "version": challenger.version, "auc": leadq_core::metrics::roc_auc(&shadow, &y) },
    })))
}

/// A model as the API shows it (without the model document).
pub fn model_view(row: &PredictiveModelRow) -> Json {
    json!({
        "id": row.id,
        "version": row.version,
        "status": row.status,
        "algorithm": row.algorithm,
        "rows": row.rows,
        "positives": row.positives,
        "trained_at": crate::clock::rfc3339(row.trained_at),
        "trained_by": row.trained_by,
        "metrics": serde_json::from_str::<Json>(&row.metrics).unwrap_or(Json::Null),
    })
}

/// A stored prediction with its factors (`factors_of`) as the API shows it.
pub fn prediction_view(p: &PredictionRow, factors: &[Factor]) -> Json {
    json!({
        "lead_id": p.lead_id,
        "probability": p.probability,
        "factors": factors,
        "champion_version": p.champion_version,
        "challenger_version": p.challenger_version,
        "challenger_probability": p.challenger_probability,
        "scored_at": crate::clock::rfc3339(p.scored_at),
    })
}

/// Whether a scheduled retrain is due: a `retrain_days` of 0 never is; else
/// when the newest model is older than that, or there is none yet.
pub fn retrain_due(state: &AppState, retrain_days: u64) -> ApiResult<bool> {
    if retrain_days == 0 {
        return Ok(false);
    }
    let newest = state
        .store
        .predictive_models()?
        .into_iter()
        .map(|m| m.trained_at)
        .max();
    let age_limit = (retrain_days as i64).saturating_mul(86_400_000);
    Ok(newest.is_none_or(|t| state.clock.now_ms().saturating_sub(t) >= age_limit))
}

/// One scheduled-retrain check: trains (with the defaults) when due and
/// the outcomes suffice. Returns the job when one was started.
pub fn scheduled_retrain(state: &AppState, retrain_days: u64) -> ApiResult<Option<JobRow>> {
    if !retrain_due(state, retrain_days)? || refuse_if_busy(state).is_err() {
        return Ok(None);
    }
    let o = outcomes(state)?;
    if check_outcomes(&o).is_err() {
        return Ok(None);
    }
    start_training(
        state,
        TrainRequest {
            algorithm: Algorithm::Gbdt,
            folds: 5,
            by: "scheduler".into(),
        },
    )
    .map(Some)
}
