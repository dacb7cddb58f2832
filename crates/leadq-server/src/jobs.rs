//! Long-running work started by a request (imports, re-scoring after a
//! publish): the request gets a job id at once; progress is kept in memory
//! while it runs and stored when it ends.

use leadq_store::JobRow;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// A job that starts now: `kind` with `total` steps (0 when not yet known).
pub fn running(kind: &str, total: i64, now_ms: i64) -> JobRow {
    JobRow {
        id: crate::auth::new_id("job"),
        kind: kind.into(),
        status: "running".into(),
        total,
        done: 0,
        result: None,
        error: None,
        created_at: now_ms,
        finished_at: None,
    }
}

#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicI64,
    pub done: AtomicI64,
}

#[derive(Default)]
pub struct Jobs {
    running: Mutex<HashMap<String, (JobRow, Arc<Progress>)>>,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub total: i64,
    pub done: i64,
    /// Share done, 0 to 1.
    pub progress: f64,
    #[schema(value_type = Object)]
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

impl JobView {
    pub fn of(j: &JobRow) -> JobView {
        JobView {
            id: j.id.clone(),
            kind: j.kind.clone(),
            status: j.status.clone(),
            total: j.total,
            done: j.done,
            progress: if j.total > 0 {
                (j.done as f64 / j.total as f64).min(1.0)
            } else if j.status == "running" {
                0.0
            } else {
                1.0
            },
            result: j
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok()),
            error: j.error.clone(),
            created_at: crate::clock::rfc3339(j.created_at),
            finished_at: j.finished_at.map(crate::clock::rfc3339),
        }
    }
}

impl Jobs {
    pub fn start(&self, row: JobRow) -> Arc<Progress> {
        let p = Arc::new(Progress::default());
        if let Ok(mut m) = self.running.lock() {
            m.insert(row.id.clone(), (row, p.clone()));
        }
        p
    }

    pub fn finish(&self, id: &str) {
        if let Ok(mut m) = self.running.lock() {
            m.remove(id);
        }
    }

    /// The live state of a running job.
    pub fn live(&self, id: &str) -> Option<JobRow> {
        let m = self.running.lock().ok()?;
        let (row, p) = m.get(id)?;
        let mut row = row.clone();
        row.total = p.total.load(Ordering::Relaxed);
        row.done = p.done.load(Ordering::Relaxed);
        Some(row)
    }

    /// (id, done, total) of every job this process runs: its heartbeat.
    pub fn beats(&self) -> Vec<(String, i64, i64)> {
        self.running
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(id, (_, p))| {
                        (
                            id.clone(),
                            p.done.load(Ordering::Relaxed),
                            p.total.load(Ordering::Relaxed),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn any_running(&self, kind: &str) -> bool {
        self.running
            .lock()
            .map(|m| m.values().any(|(r, _)| r.kind == kind))
            .unwrap_or(false)
    }
}
