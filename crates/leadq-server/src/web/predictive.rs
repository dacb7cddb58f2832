//! The predictive models page: every model learned from the stored won and
//! lost leads with its cross-validated metrics, the champion and the
//! challenger compared on the leads closed since, and the actions to train
//! a new model and to promote the challenger.
//!
//! Training and promotion go through the JSON API (the page follows the
//! job), so their checks (too few outcomes, a job already running) are the
//! API's own.

use super::{blocking, layout, when, Page, Viewer};
use crate::auth::Role;
use crate::AppState;
use axum::extract::State;
use leadq_store::PredictiveModelRow;
use maud::{html, Markup};
use serde_json::Value as Json;

const VIEWERS: &[Role] = &[Role::Marketing, Role::Manager];
/// Who may train and promote; the API enforces the same.
const TRAINERS: &[Role] = &[Role::Marketing];

struct PageData {
    models: Vec<PredictiveModelRow>,
    live: Option<Json>,
    won: usize,
    lost: usize,
}

fn metrics_of(m: &PredictiveModelRow) -> Json {
    serde_json::from_str(&m.metrics).unwrap_or(Json::Null)
}

/// `0.936 ± 0.004`, or `—` when the metric is missing.
fn metric(metrics: &Json, name: &str, digits: usize) -> String {
    match metrics["cv"][name].as_f64() {
        Some(v) => match metrics["cv_std"][name].as_f64() {
            Some(s) => format!("{v:.digits$} ± {s:.digits$}"),
            None => format!("{v:.digits$}"),
        },
        None => "—".into(),
    }
}

fn status_text(status: &str) -> &'static str {
    match status {
        "champion" => "champion (in use)",
        "challenger" => "challenger (shadow)",
        "retired" => "retired",
        _ => "unknown",
    }
}

pub async fn page(State(state): State<AppState>, v: Viewer) -> Page {
    v.require(VIEWERS)?;
    let data = blocking(&state, |s| {
        let mut models = s.store.predictive_models()?;
        models.sort_by_key(|m| std::cmp::Reverse(m.version));
        let live = crate::predictive::live_comparison(s)?;
        let outcomes = crate::predictive::outcomes(s)?;
        let won = outcomes.positives();
        Ok(PageData {
            models,
            live,
            won,
            lost: outcomes.y.len() - won,
        })
    })
    .await?;
    let can_train = v.is(TRAINERS);
    let min = crate::predictive::MIN_OUTCOMES;
    let champion = data.models.iter().find(|m| m.status == "champion");
    let challenger = data.models.iter().find(|m| m.status == "challenger");
    let body = html! {
        h1 { "Predictive models" }
        p.muted {
            "A predictive model learns, from the leads already won and lost, the probability that an open lead converts. "
            "The champion's probability is shown in the queue and on each lead; a newly trained model is the challenger "
            "and is scored in the shadow until it is promoted."
        }
        section.panel aria-labelledby="outcomes-h" {
            h2 #outcomes-h { "Outcomes to learn from" }
            p { strong { (data.won) } " won and " strong { (data.lost) } " lost leads are stored." }
            @if data.won < min || data.lost < min {
                p #too-few { "Training needs at least " (min) " won and " (min) " lost leads." }
            }
            @if can_train {
                form.inline #train data-api="/api/v1/predictive/train" data-then="none" aria-label="Train a predictive model" {
                    label { "Learner"
                        select name="algorithm" {
                            option value="gbdt" selected { "Gradient-boosted trees" }
                            option value="logistic" { "Logistic regression" }
                        }
                    }
                    label { "Cross-validation folds" input name="folds" type="number" min="2" max="20" value="5" data-type="int"; }
                    button type="submit" { "Train a model" }
                    p role="alert" {}
                }
                div #train-job hidden {
                    progress aria-label="Training progress" {}
                    p data-job-text aria-live="polite" {}
                    p data-job-done hidden { "Done. " a href="/ui/predictive" { "Reload this page" } " to see the new model." }
                }
            }
        }
        @if let (Some(c), Some(ch)) = (champion, challenger) {
            section.panel aria-labelledby="live-h" {
                h2 #live-h { "Champion and challenger on leads closed since" }
                (live_panel(data.live.as_ref(), c, ch))
                @if can_train {
                    form.inline #promote data-api=(format!("/api/v1/predictive/models/{}/promote", ch.id)) data-then="none"
                        data-confirm=(format!("Make v{} the champion and predict every lead again?", ch.version)) {
                        button type="submit" { "Promote v" (ch.version) " to champion" }
                        p role="alert" {}
                    }
                    div #promote-job hidden {
                        progress aria-label="Prediction progress" {}
                        p data-job-text aria-live="polite" {}
                        p data-job-done hidden { "Promoted. " a href="/ui/predictive" { "Reload this page" } }
                    }
                }
            }
        }
        h2 { "Models" }
        @if data.models.is_empty() {
            p #no-models { "No predictive model is trained yet." }
        } @else {
            div.table-wrap {
                table #models {
                    caption.sr { "Predictive models, newest first, with cross-validated metrics (mean ± standard deviation over the folds)" }
                    thead { tr {
                        th scope="col" class="num" { "Version" }
                        th scope="col" { "Status" }
                        th scope="col" { "Learner" }
                        th scope="col" class="num" { "Outcomes (won)" }
                        th scope="col" class="num" { "ROC AUC" }
                        th scope="col" class="num" { "Calibration error" }
                        th scope="col" class="num" { "Top-20% share" }
                        th scope="col" class="num" { "Lift top 10%" }
                        th scope="col" { "Trained" }
                        th scope="col" class="num" { "Seconds" }
                    } }
                    tbody {
                        @for m in &data.models {
                            @let metrics = metrics_of(m);
                            tr {
                                td.num { "v" (m.version) }
                                td { (status_text(&m.status)) }
                                td { (m.algorithm) }
                                td.num { (m.rows) " (" (m.positives) ")" }
                                td.num { (metric(&metrics, "auc", 3)) }
                                td.num { (metric(&metrics, "ece", 3)) }
                                td.num { (metric(&metrics, "top20_share", 2)) }
                                td.num { (metric(&metrics, "lift_top10", 2)) }
                                td { (when(m.trained_at)) " by " (m.trained_by) }
                                td.num { (metrics["train_seconds"].as_f64().map_or("—".to_string(), |s| format!("{s:.1}"))) }
                            }
                        }
                    }
                }
            }
            @if let Some(c) = champion {
                (champion_details(c))
            }
        }
        script { (maud::PreEscaped(FOLLOW_JOBS)) }
    };
    Ok(layout(&v, "Predictive models", "predictive", body))
}

fn live_panel(
    live: Option<&Json>,
    champion: &PredictiveModelRow,
    challenger: &PredictiveModelRow,
) -> Markup {
    let auc = |side: &str| -> String {
        live.and_then(|l| l[side]["auc"].as_f64())
            .map_or("— (needs won and lost leads)".to_string(), |a| {
                format!("{a:.3}")
            })
    };
    let leads = live.and_then(|l| l["leads"].as_u64()).unwrap_or(0);
    html! {
        p {
            (leads) " leads scored by both models have closed since v" (challenger.version) " was trained"
            @if let Some(l) = live { " (" (l["won"].as_u64().unwrap_or(0)) " won, " (l["lost"].as_u64().unwrap_or(0)) " lost)" }
            "."
        }
        dl.facts {
            dt { "Champion v" (champion.version) " ROC AUC" } dd { (auc("champion")) }
            dt { "Challenger v" (challenger.version) " ROC AUC" } dd { (auc("challenger")) }
        }
    }
}

fn champion_details(c: &PredictiveModelRow) -> Markup {
    let metrics = metrics_of(c);
    let features: Vec<&str> = metrics["features"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str()).collect())
        .unwrap_or_default();
    let left_out: Vec<(&str, &str)> = metrics["left_out"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["column"].as_str().unwrap_or(""),
                        f["reason"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    html! {
        section.panel aria-labelledby="champion-h" {
            h2 #champion-h { "What the champion (v" (c.version) ") learns from" }
            p { (metrics["evaluation"].as_str().unwrap_or("cross-validated")) "." }
            p { strong { (features.len()) " fields: " } (features.join(", ")) }
            @if !left_out.is_empty() {
                div.table-wrap {
                    table {
                        caption { "Fields left out and why" }
                        thead { tr { th scope="col" { "Field" } th scope="col" { "Reason" } } }
                        tbody { @for (col, why) in &left_out { tr { td { (col) } td { (why) } } } }
                    }
                }
            }
        }
    }
}

/// Shows the job a train or promote form started and follows it.
const FOLLOW_JOBS: &str = r#"
(() => {
  const boxes = { train: "train-job", promote: "promote-job" };
  document.addEventListener("api:done", (ev) => {
    const box = document.getElementById(boxes[ev.target.id]);
    const job = ev.detail && (ev.detail.job || (ev.detail.kind ? ev.detail : null));
    if (!box || !job) return;
    box.hidden = false;
    box.dataset.job = job.id;
    window.leadq.followJob(box);
  });
  document.addEventListener("job:done", (ev) => {
    const done = ev.target.querySelector && ev.target.querySelector("[data-job-done]");
    if (!done) return;
    if (ev.detail && ev.detail.status === "failed") done.textContent = "Failed: " + (ev.detail.error || "unknown error");
    done.hidden = false;
  });
})();
"#;
