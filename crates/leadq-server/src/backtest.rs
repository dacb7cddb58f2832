//! Backtest over the store: how a candidate model (a draft's source or a
//! stored model) and a comparison model rank the stored leads whose outcome
//! is known, scored as of now, without writing anything.
//!
//! Outcomes come from the lifecycle: `won` is a conversion; `lost` and
//! `disqualified` are not. Open leads have no outcome yet and are left out.
//! The figures mean what they mean in `leadq backtest` (the file-based
//! backtest of the CLI), so the two can be compared.

use crate::engine;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::http::StatusCode;
use leadq_core::{metrics, CompiledModel, Grade, Priority, Timestamp};
use leadq_store::{AnswerRow, EventRow, LeadRow, ModelRow};
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use std::time::Instant;
use utoipa::ToSchema;

/// Leads read from the store per page.
const PAGE: usize = 5000;
/// Leads cleaned and scored per parallel task: large enough that the
/// per-batch cleaning setup is paid rarely, small enough to spread the work.
const CHUNK: usize = 500;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestIn {
    /// A model source (TOML) to try, e.g. an unsaved draft.
    pub source: Option<String>,
    /// A stored model to try instead of `source`.
    pub model_id: Option<i64>,
    /// The model to compare with (model id); default the published model.
    pub against: Option<i64>,
}

/// A model taking part in a backtest.
struct Contender {
    about: Json,
    compiled: CompiledModel,
}

impl Contender {
    fn stored(row: &ModelRow) -> ApiResult<Contender> {
        let compiled = crate::api::compile_model(&row.source).map_err(|e| {
            let mut e = e;
            e.message = format!("model {} does not compile: {}", row.id, e.message);
            e
        })?;
        Ok(Contender {
            about: json!({
                "id": row.id,
                "name": row.name,
                "status": row.status,
                "version": row.version,
            }),
            compiled,
        })
    }
}

/// Which outcome a stage records, if any.
fn outcome(stage: &str) -> Option<bool> {
    match stage {
        "won" => Some(true),
        "lost" | "disqualified" => Some(false),
        _ => None,
    }
}

/// What one model made of the evaluated leads.
#[derive(Default)]
struct Tally {
    scores: Vec<f64>,
    fits: Vec<f64>,
    engagements: Vec<f64>,
    converted: Vec<bool>,
    mql: Vec<bool>,
    grades: Vec<Grade>,
    priorities: Vec<Priority>,
    /// Leads the model's cleaning refused (e.g. a custom field of the wrong type).
    rejected: usize,
}

impl Tally {
    fn absorb(&mut self, other: Tally) {
        self.scores.extend(other.scores);
        self.fits.extend(other.fits);
        self.engagements.extend(other.engagements);
        self.converted.extend(other.converted);
        self.mql.extend(other.mql);
        self.grades.extend(other.grades);
        self.priorities.extend(other.priorities);
        self.rejected += other.rejected;
    }

    fn report(&self, about: &Json) -> Json {
        let n = self.converted.len();
        let positives = self.converted.iter().filter(|&&c| c).count();
        let mql = self.mql.iter().filter(|&&m| m).count();
        let mql_converted = self
            .mql
            .iter()
            .zip(&self.converted)
            .filter(|(m, c)| **m && **c)
            .count();
        let group = |leads: usize, won: usize| {
            json!({
                "leads": leads,
                "share": ratio(leads, n),
                "converted": won,
                "rate": ratio(won, leads),
            })
        };
        let mut by_grade = Map::new();
        for g in Grade::ALL {
            let (mut leads, mut won) = (0, 0);
            for (got, c) in self.grades.iter().zip(&self.converted) {
                if *got == g {
                    leads += 1;
                    won += usize::from(*c);
                }
            }
            by_grade.insert(g.to_string(), group(leads, won));
        }
        let mut by_priority = Map::new();
        for g in Grade::ALL {
            for band in 1..=4u8 {
                let p = Priority { grade: g, band };
                let (mut leads, mut won) = (0, 0);
                for (got, c) in self.priorities.iter().zip(&self.converted) {
                    if *got == p {
                        leads += 1;
                        won += usize::from(*c);
                    }
                }
                by_priority.insert(p.to_string(), group(leads, won));
            }
        }
        json!({
            "model": about,
            "leads": n,
            "converted": positives,
            "rejected": self.rejected,
            "conversion_rate": ratio(positives, n),
            "auc": round4(metrics::roc_auc(&self.scores, &self.converted)),
            "auc_fit": round4(metrics::roc_auc(&self.fits, &self.converted)),
            "auc_engagement": round4(metrics::roc_auc(&self.engagements, &self.converted)),
            "top20_share": round4(metrics::top_share(&self.scores, &self.converted, 0.2)),
            "lift_top10": round4(metrics::lift(&self.scores, &self.converted, 0.1)),
            "mql": mql,
            "mql_rate": ratio(mql, n),
            "mql_precision": ratio(mql_converted, mql),
            "mql_recall": ratio(mql_converted, positives),
            "by_grade": by_grade,
            "by_priority": by_priority,
        })
    }
}

fn ratio(a: usize, b: usize) -> Json {
    if b == 0 {
        Json::Null
    } else {
        round4(Some(a as f64 / b as f64))
    }
}

fn round4(x: Option<f64>) -> Json {
    x.map_or(Json::Null, |v| json!((v * 10_000.0).round() / 10_000.0))
}

/// Cleans and scores one chunk of closed leads with `model` as of `as_of_ms`.
fn score_chunk(
    state: &AppState,
    model: &CompiledModel,
    rows: &[LeadRow],
    events: &HashMap<String, Vec<EventRow>>,
    answers: &[AnswerRow],
    as_of_ms: i64,
) -> Tally {
    let mut t = Tally::default();
    let cleaned = engine::clean_leads(rows, answers, model, &state.mapping);
    let as_of = Timestamp(as_of_ms.div_euclid(1000));
    for (row, lead) in rows.iter().zip(cleaned) {
        let (Ok(lead), Some(converted)) = (lead, outcome(&row.stage)) else {
            t.rejected += 1;
            continue;
        };
        let evs = events
            .get(row.id.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let cols = engine::event_columns(evs, model);
        let s = model.score(&lead, cols.view(), as_of);
        t.scores.push(s.score);
        t.fits.push(s.fit);
        t.engagements.push(s.engagement);
        t.converted.push(converted);
        t.mql.push(s.mql);
        t.grades.push(s.grade);
        t.priorities.push(s.priority);
    }
    t
}

/// The closed leads of one page of the store, with their events and answers.
struct Page {
    closed: Vec<LeadRow>,
    events: Vec<EventRow>,
    answers: Vec<AnswerRow>,
}

/// Stored leads by outcome.
#[derive(Default)]
struct Counts {
    won: usize,
    lost: usize,
    disqualified: usize,
    open: usize,
}

/// Reads every stored lead a page at a time and hands the closed ones on,
/// counting outcomes on the way.
fn read_closed(
    state: &AppState,
    want_answers: bool,
    to_scorer: std::sync::mpsc::SyncSender<Page>,
) -> ApiResult<Counts> {
    let mut counts = Counts::default();
    let mut after = 0;
    loop {
        let page = state.store.scan_leads(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let mut closed = Vec::with_capacity(page.len());
        for row in page {
            match row.stage.as_str() {
                "won" => counts.won += 1,
                "lost" => counts.lost += 1,
                "disqualified" => counts.disqualified += 1,
                _ => {
                    counts.open += 1;
                    continue;
                }
            }
            closed.push(row);
        }
        if closed.is_empty() {
            continue;
        }
        let ids: Vec<String> = closed.iter().map(|l| l.id.clone()).collect();
        let events = state.store.events_of_many(&ids)?;
        let answers = if want_answers {
            state.store.answers_of_many(&ids)?
        } else {
            Vec::new()
        };
        let page = Page {
            closed,
            events,
            answers,
        };
        if to_scorer.send(page).is_err() {
            break;
        }
    }
    Ok(counts)
}

/// Scores one page with every model, chunks in parallel.
fn score_page(
    state: &AppState,
    models: &[&Contender],
    tallies: &mut [Tally],
    page: Page,
    as_of: i64,
) {
    let mut events_by_lead: HashMap<String, Vec<EventRow>> = HashMap::new();
    for e in page.events {
        events_by_lead.entry(e.lead_id.clone()).or_default().push(e);
    }
    let mut answers_by_lead: HashMap<&str, Vec<&AnswerRow>> = HashMap::new();
    for a in &page.answers {
        answers_by_lead
            .entry(a.lead_id.as_str())
            .or_default()
            .push(a);
    }
    // Each chunk carries only its own leads' answers, so cleaning does not
    // search the whole page's answers for every lead.
    let chunks: Vec<(&[LeadRow], Vec<AnswerRow>)> = page
        .closed
        .chunks(CHUNK)
        .map(|rows| {
            let ans = rows
                .iter()
                .filter_map(|r| answers_by_lead.get(r.id.as_str()))
                .flatten()
                .map(|a| (*a).clone())
                .collect();
            (rows, ans)
        })
        .collect();
    for (m, tally) in models.iter().zip(tallies.iter_mut()) {
        let parts: Vec<Tally> = chunks
            .par_iter()
            .map(|(rows, ans)| score_chunk(state, &m.compiled, rows, &events_by_lead, ans, as_of))
            .collect();
        for p in parts {
            tally.absorb(p);
        }
    }
}

/// Runs a backtest; the store is only read.
pub fn run(state: &AppState, req: BacktestIn) -> ApiResult<Json> {
    let started = Instant::now();
    let candidate = match (req.source, req.model_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "model_id",
                "give either source or model_id, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "source",
                "give the model to try: source (a model file) or model_id",
            ))
        }
        (Some(source), None) => {
            let compiled = crate::api::compile_model(&source)?;
            Contender {
                about: json!({
                    "id": null,
                    "name": compiled.name,
                    "status": "unsaved",
                    "version": null,
                }),
                compiled,
            }
        }
        (None, Some(id)) => {
            let row = state
                .store
                .model(id)?
                .ok_or_else(|| ApiError::not_found(format!("model {id}")))?;
            Contender::stored(&row)?
        }
    };
    let against = match req.against {
        Some(id) => Some(
            state
                .store
                .model(id)?
                .ok_or_else(|| ApiError::not_found(format!("model {id} (against)")))?,
        ),
        None => state.store.published_model()?,
    };
    let against = against.as_ref().map(Contender::stored).transpose()?;
    let models: Vec<&Contender> = std::iter::once(&candidate)
        .chain(against.as_ref())
        .collect();
    let want_answers = models.iter().any(|m| !m.compiled.frameworks.is_empty());

    let as_of = state.clock.now_ms();
    let mut tallies: Vec<Tally> = models.iter().map(|_| Tally::default()).collect();
    // Reading the next page overlaps with scoring the last one.
    let (to_scorer, pages) = std::sync::mpsc::sync_channel::<Page>(1);
    let counts = std::thread::scope(|scope| -> ApiResult<Counts> {
        let reader = scope.spawn(move || read_closed(state, want_answers, to_scorer));
        for page in pages {
            score_page(state, &models, &mut tallies, page, as_of);
        }
        reader
            .join()
            .map_err(|_| ApiError::internal("the backtest reader failed"))?
    })?;
    let Counts {
        won,
        lost,
        disqualified,
        open,
    } = counts;
    let known = won + lost + disqualified;
    if known == 0 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_outcomes",
            format!(
                "no stored lead has a known outcome yet ({open} open leads): a backtest needs leads \
                 closed as won, lost or disqualified"
            ),
        )
        .with_details(json!({ "open": open })));
    }
    let mut reports = models.iter().zip(&tallies).map(|(m, t)| t.report(&m.about));
    let candidate = reports.next().unwrap_or(Json::Null);
    let against = reports.next().unwrap_or(Json::Null);
    Ok(json!({
        "as_of": crate::clock::rfc3339(as_of),
        "outcomes": {
            "rule": "won counts as converted; lost and disqualified count as not converted; open leads are left out",
            "won": won,
            "lost": lost,
            "disqualified": disqualified,
            "open": open,
        },
        "notes": [
            "Leads are scored as of now with their stored fields, answers and events; nothing is written.",
            "The AUC, top-20% share and lift rank leads by the model's weighted score (fit × fit weight + engagement × engagement weight).",
            "Rules that read the lead's stage see its closed stage, which reveals the outcome.",
        ],
        "candidate": candidate,
        "against": against,
        "elapsed_ms": started.elapsed().as_millis() as u64,
    }))
}
