//! [`Store`] written once over the [`Backend`] seam.

use crate::migrate::migrations;
use crate::records::*;
use crate::sql::{read, write, Backend, Row, SqlValue, Tx};
use crate::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// Statement parameters, as an array (`&p![..]` is a slice).
macro_rules! p {
    ($($v:expr),* $(,)?) => { [$(SqlValue::from($v)),*] };
}

pub struct SqlStore<B: Backend> {
    backend: B,
}

impl<B: Backend> SqlStore<B> {
    pub fn new(backend: B) -> SqlStore<B> {
        SqlStore { backend }
    }
    pub fn backend_ref(&self) -> &B {
        &self.backend
    }
    fn w<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        write(&self.backend, f)
    }
    fn w_relaxed<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        crate::sql::write_relaxed(&self.backend, f)
    }
    fn r<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        read(&self.backend, f)
    }
}

/// A lead row's columns, in the order [`lead_of`] reads them, with `{reasons}`
/// where its score's reasons go.
macro_rules! lead_cols {
    ($reasons:expr) => {
        lead_cols!("seq", lead_fields!(), $reasons)
    };
    ($seq:expr, $fields:expr, $reasons:expr) => {
        concat!(
            $seq,
            ", id, external_id, email, domain, company, source, campaign, country, ",
            $fields,
            ", stage, stage_reason, owner, fit, grade, engagement, band, priority, sort_rank, mql, model_version, ",
            $reasons,
            ", scored_at, created_at, updated_at, assigned_at, first_response_at, stage_changed_at, mql_at, sql_at, closed_at, version, total, inputs_digest"
        )
    };
}

/// The lead's submitted fields, kept beside its row in `lead_fields` (see
/// [`FIELDS`]).
macro_rules! lead_fields {
    () => {
        "(SELECT f.fields FROM lead_fields f WHERE f.seq = leads.seq)"
    };
}

/// The reasons of the lead's latest ledger entry (read through
/// `ledger_lead (lead_id, seq)`).
macro_rules! latest_reasons {
    () => {
        "(SELECT l.reasons FROM ledger l WHERE l.lead_id = leads.id ORDER BY l.seq DESC LIMIT 1)"
    };
}

/// Every column of a lead. A scored lead's `reasons` column is NULL when
/// its reasons are those of its latest ledger entry (see
/// [`reasons_in_ledger`]), which is where they are then read from.
const LEAD_COLS: &str = lead_cols!(concat!(
    "CASE WHEN reasons IS NOT NULL OR model_version IS NULL THEN reasons ELSE ",
    latest_reasons!(),
    " END"
));

/// [`LEAD_COLS`] for a re-score with model version `$2`, read from `leads`
/// joined to `lead_fields f` (a scan of many leads then reads the fields
/// through one cursor rather than a subquery per row). The reasons of a
/// lead scored by another version are not read (they come back as `""`),
/// since its new score differs from the old one whatever they are.
const RESCORE_COLS: &str = lead_cols!("leads.seq", "f.fields", concat!(
    "CASE WHEN reasons IS NOT NULL OR model_version IS NULL THEN reasons WHEN model_version = $2 THEN ",
    latest_reasons!(),
    " ELSE '' END"
));

/// [`LEAD_COLS`] without the two large documents (the submitted fields and
/// the score's reasons), which no metric reads: a metrics scan over many
/// leads then moves a fraction of the bytes.
const METRIC_COLS: &str = "seq, id, external_id, email, domain, company, source, campaign, country, '{}', stage, stage_reason, owner, fit, grade, engagement, band, priority, sort_rank, mql, model_version, '[]', scored_at, created_at, updated_at, assigned_at, first_response_at, stage_changed_at, mql_at, sql_at, closed_at, version, total, inputs_digest";

/// A lead read from its row; the row's strings move into it.
fn lead_of(mut r: Row) -> LeadRow {
    let score = r.take_text(14).map(|grade| LeadScore {
        fit: r.real(13),
        grade,
        engagement: r.real(15),
        score: r.real(32),
        band: r.int(16),
        priority: r.take_text_or_empty(17),
        priority_rank: r.int(18),
        mql: r.bool(19),
        model_version: r.int(20),
        reasons: r.take_text(21).unwrap_or_else(|| "[]".into()),
        scored_at: r.int(22),
        inputs_digest: r.opt_int(33),
    });
    LeadRow {
        seq: r.int(0),
        id: r.take_text_or_empty(1),
        external_id: r.take_text(2),
        email: r.take_text(3),
        domain: r.take_text(4),
        company: r.take_text(5),
        source: r.take_text(6),
        campaign: r.take_text(7),
        country: r.take_text(8),
        fields: r.take_text_or_empty(9),
        stage: r.take_text_or_empty(10),
        stage_reason: r.take_text(11),
        owner: r.take_text(12),
        score,
        created_at: r.int(23),
        updated_at: r.int(24),
        assigned_at: r.opt_int(25),
        first_response_at: r.opt_int(26),
        stage_changed_at: r.int(27),
        mql_at: r.opt_int(28),
        sql_at: r.opt_int(29),
        closed_at: r.opt_int(30),
        version: r.int(31),
    }
}

/// One written lead column's value, borrowed from the row.
#[derive(Clone, Copy)]
enum ColRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Bool(bool),
}

impl ColRef<'_> {
    fn owned(self) -> SqlValue {
        match self {
            ColRef::Null => SqlValue::Null,
            ColRef::Int(v) => SqlValue::Int(v),
            ColRef::Real(v) => SqlValue::Real(v),
            ColRef::Text(t) => SqlValue::Text(t.to_string()),
            ColRef::Bool(b) => SqlValue::Bool(b),
        }
    }

    /// Whether both would store the same value (reals bit for bit).
    fn same(self, other: ColRef<'_>) -> bool {
        match (self, other) {
            (ColRef::Null, ColRef::Null) => true,
            (ColRef::Int(a), ColRef::Int(b)) => a == b,
            (ColRef::Real(a), ColRef::Real(b)) => a.to_bits() == b.to_bits(),
            (ColRef::Text(a), ColRef::Text(b)) => a == b,
            (ColRef::Bool(a), ColRef::Bool(b)) => a == b,
            _ => false,
        }
    }
}

/// Position of `reasons` in `LEAD_WRITE_COLS`.
const REASONS: usize = 20;
/// Position of `fields` in `LEAD_WRITE_COLS`. The submitted document is not
/// a column of `leads` but a row of `lead_fields`, keyed by the lead's seq:
/// a re-score rewrites the lead row and leaves the document alone, so the
/// row it rewrites is a third of the size. It is written only when it
/// changes.
const FIELDS: usize = 8;
/// The columns stored in the `leads` row itself.
const ROW_COLS: ColSet = ALL_COLS & !(1 << FIELDS);

/// Whether a change's lead row can leave its reasons to the ledger: the
/// change records a ledger entry, and the last one (the lead's latest after
/// this change) has the reasons of the lead's new score. The row then
/// stores NULL, and reads take the reasons from that entry: they are kept
/// once instead of in both places (each is a few hundred bytes, and a
/// re-score after a publish rewrites every lead).
fn reasons_in_ledger(c: &LeadChange) -> bool {
    match (c.ledger.last(), &c.lead.score) {
        (Some(entry), Some(score)) => entry.reasons == score.reasons,
        _ => false,
    }
}

/// The value of `LEAD_WRITE_COLS[col]` in `l`.
fn lead_col(l: &LeadRow, col: usize) -> ColRef<'_> {
    fn text(v: Option<&String>) -> ColRef<'_> {
        v.map_or(ColRef::Null, |t| ColRef::Text(t))
    }
    let s = l.score.as_ref();
    let int = |v: Option<i64>| v.map_or(ColRef::Null, ColRef::Int);
    let real = |v: Option<f64>| v.map_or(ColRef::Null, ColRef::Real);
    match col {
        0 => ColRef::Text(&l.id),
        1 => text(l.external_id.as_ref()),
        2 => text(l.email.as_ref()),
        3 => text(l.domain.as_ref()),
        4 => text(l.company.as_ref()),
        5 => text(l.source.as_ref()),
        6 => text(l.campaign.as_ref()),
        7 => text(l.country.as_ref()),
        8 => ColRef::Text(&l.fields),
        9 => ColRef::Text(&l.stage),
        10 => text(l.stage_reason.as_ref()),
        11 => text(l.owner.as_ref()),
        12 => real(s.map(|s| s.fit)),
        13 => text(s.map(|s| &s.grade)),
        14 => real(s.map(|s| s.engagement)),
        15 => int(s.map(|s| s.band)),
        16 => text(s.map(|s| &s.priority)),
        17 => ColRef::Int(s.map_or(999, |s| s.priority_rank)),
        18 => ColRef::Bool(s.is_some_and(|s| s.mql)),
        19 => int(s.map(|s| s.model_version)),
        20 => text(s.map(|s| &s.reasons)),
        21 => int(s.map(|s| s.scored_at)),
        22 => ColRef::Int(l.created_at),
        23 => ColRef::Int(l.updated_at),
        24 => int(l.assigned_at),
        25 => int(l.first_response_at),
        26 => ColRef::Int(l.stage_changed_at),
        27 => int(l.mql_at),
        28 => int(l.sql_at),
        29 => int(l.closed_at),
        30 => ColRef::Real(l.total()),
        31 => int(s.and_then(|s| s.inputs_digest)),
        _ => unreachable!("leads have {} written columns", LEAD_WRITE_COLS.len()),
    }
}

/// The value written for `LEAD_WRITE_COLS[col]` of `l`: its own, but NULL
/// for reasons kept by the ledger.
fn lead_value(l: &LeadRow, col: usize, reasons_in_ledger: bool) -> SqlValue {
    if col == REASONS && reasons_in_ledger {
        SqlValue::Null
    } else {
        lead_col(l, col).owned()
    }
}

/// Values of every column of the lead row except `seq` and `version`, in
/// `LEAD_WRITE_COLS` order.
fn lead_values(l: &LeadRow, reasons_in_ledger: bool) -> Vec<SqlValue> {
    row_col_positions()
        .map(|c| lead_value(l, c, reasons_in_ledger))
        .collect()
}

/// Positions in `LEAD_WRITE_COLS` of the columns in the lead row itself.
fn row_col_positions() -> impl Iterator<Item = usize> {
    (0..LEAD_WRITE_COLS.len()).filter(|&c| ROW_COLS & (1 << c) != 0)
}

/// Stores the submitted fields of the lead whose row is `seq`.
fn put_fields(tx: &mut dyn Tx, seq: i64, fields: &str) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO lead_fields (seq, fields) VALUES ($1, $2) ON CONFLICT (seq) DO UPDATE SET fields = excluded.fields",
        &[SqlValue::Int(seq), SqlValue::Text(fields.to_string())],
    )?;
    Ok(())
}

/// Deletes the lead with id `$1` from `lead_fields`; run before its row goes.
const DELETE_FIELDS_SQL: &str =
    "DELETE FROM lead_fields WHERE seq IN (SELECT seq FROM leads WHERE id = $1)";

const LEAD_WRITE_COLS: [&str; 32] = [
    "id",
    "external_id",
    "email",
    "domain",
    "company",
    "source",
    "campaign",
    "country",
    "fields",
    "stage",
    "stage_reason",
    "owner",
    "fit",
    "grade",
    "engagement",
    "band",
    "priority",
    "sort_rank",
    "mql",
    "model_version",
    "reasons",
    "scored_at",
    "created_at",
    "updated_at",
    "assigned_at",
    "first_response_at",
    "stage_changed_at",
    "mql_at",
    "sql_at",
    "closed_at",
    "total",
    "inputs_digest",
];

/// A set of `LEAD_WRITE_COLS` positions, one bit each.
type ColSet = u64;
/// Every column but `id` (which names the row and never changes).
const ALL_BUT_ID: ColSet = ALL_COLS & !1;
/// Every column.
const ALL_COLS: ColSet = (1 << LEAD_WRITE_COLS.len()) - 1;
const EXTERNAL_ID: usize = 1;
const EMAIL: usize = 2;

/// The columns whose values differ between `a` and `b`.
fn changed_cols(a: &LeadRow, b: &LeadRow) -> ColSet {
    (1..LEAD_WRITE_COLS.len())
        .filter(|&c| !lead_col(a, c).same(lead_col(b, c)))
        .fold(0, |set, c| set | (1 << c))
}

static INSERT_LEAD_SQL: LazyLock<String> = LazyLock::new(|| {
    let cols: Vec<&str> = row_col_positions().map(|c| LEAD_WRITE_COLS[c]).collect();
    let cols = cols.join(", ");
    let vals: Vec<String> = (1..=ROW_COLS.count_ones())
        .map(|i| format!("${i}"))
        .collect();
    format!(
        "INSERT INTO leads ({cols}, version) VALUES ({}, 1) ON CONFLICT DO NOTHING RETURNING seq",
        vals.join(", ")
    )
});

/// The update of the columns in `set` (bound as `$2`… in column order,
/// after the id as `$1`, then the expected version), the statement text
/// built once per shape. `returning` asks for the row's seq and new version.
///
/// On SQLite it is `UPDATE OR FAIL`: the statement changes one row and
/// SQLite checks its constraints before writing anything, so a failure has
/// nothing of it to undo. With the default (`ABORT`) SQLite would copy
/// every page the update touches into a statement journal first, in case.
fn update_lead_sql(set: ColSet, sqlite: bool, returning: bool) -> Arc<str> {
    /// Columns set, SQLite, RETURNING.
    type Shape = (ColSet, bool, bool);
    static BUILT: LazyLock<Mutex<HashMap<Shape, Arc<str>>>> = LazyLock::new(Mutex::default);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    built
        .entry((set, sqlite, returning))
        .or_insert_with(|| {
            // Placeholders in each backend's own form: SQLite's need no
            // rewriting on every execution.
            let mark = if sqlite { '?' } else { '$' };
            let mut sets = String::new();
            let mut n = 1;
            for (i, c) in LEAD_WRITE_COLS.iter().enumerate() {
                if set & (1 << i) != 0 {
                    n += 1;
                    sets.push_str(&format!("{c} = {mark}{n}, "));
                }
            }
            let verb = if sqlite { "UPDATE OR FAIL" } else { "UPDATE" };
            // Without RETURNING the caller knows the row's seq (it read the
            // row): the row is found by its rowid, not through the id index.
            if returning {
                format!(
                    "{verb} leads SET {sets}version = version + 1 WHERE id = {mark}1 AND version = {mark}{} RETURNING seq, version",
                    n + 1
                )
            } else {
                format!(
                    "{verb} leads SET {sets}version = version + 1 WHERE seq = {mark}{} AND id = {mark}1 AND version = {mark}{}",
                    n + 2,
                    n + 1
                )
            }
            .into()
        })
        .clone()
}

/// History rows of the changes in one [`Store::apply`] call, written
/// together after the lead rows, several per statement.
#[derive(Default)]
struct History {
    ledger: Vec<LedgerEntry>,
    transitions: Vec<TransitionRow>,
}

/// Rows per multi-row history insert.
const HISTORY_CHUNK: usize = 64;

/// `INSERT INTO {table} ({cols}) VALUES (…), (…)` for `rows` rows of
/// `width` parameters, built once per shape. On SQLite `OR FAIL` spares the
/// statement journal: a failed history insert undoes the whole call anyway.
fn multi_insert_sql(
    table: &'static str,
    cols: &'static str,
    width: usize,
    rows: usize,
    sqlite: bool,
) -> Arc<str> {
    type Shape = (&'static str, usize, bool);
    static BUILT: LazyLock<Mutex<HashMap<Shape, Arc<str>>>> = LazyLock::new(Mutex::default);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    built
        .entry((table, rows, sqlite))
        .or_insert_with(|| {
            let verb = if sqlite { "INSERT OR FAIL" } else { "INSERT" };
            let mark = if sqlite { '?' } else { '$' };
            let mut sql = format!("{verb} INTO {table} ({cols}) VALUES ");
            for r in 0..rows {
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for c in 0..width {
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("{mark}{}", r * width + c + 1));
                }
                sql.push(')');
            }
            sql.into()
        })
        .clone()
}

/// Inserts `rows` into `table`, `HISTORY_CHUNK` rows per statement; `values`
/// gives a row's values in the order of `cols`.
fn insert_chunked<T, const WIDTH: usize>(
    tx: &mut dyn Tx,
    table: &'static str,
    cols: &'static str,
    rows: Vec<T>,
    values: impl Fn(T) -> [SqlValue; WIDTH],
) -> Result<(), StoreError> {
    let sqlite = tx.is_sqlite();
    let mut rows = rows.into_iter();
    loop {
        let mut params = Vec::with_capacity(HISTORY_CHUNK * WIDTH);
        for row in rows.by_ref().take(HISTORY_CHUNK) {
            params.extend(values(row));
        }
        if params.is_empty() {
            return Ok(());
        }
        let sql = multi_insert_sql(table, cols, WIDTH, params.len() / WIDTH, sqlite);
        tx.exec(&sql, &params)?;
    }
}

fn insert_history(tx: &mut dyn Tx, h: History) -> Result<(), StoreError> {
    const LEDGER_COLS: &str = "lead_id, at, as_of, model_version, fit, grade, engagement, band, priority, mql, reasons, cause, inputs";
    const TRANSITION_COLS: &str =
        "lead_id, at, from_stage, to_stage, actor, reason, model_version, automatic";
    insert_chunked(tx, "ledger", LEDGER_COLS, h.ledger, |e| {
        p![
            e.lead_id,
            e.at,
            e.as_of,
            e.model_version,
            e.fit,
            e.grade,
            e.engagement,
            e.band,
            e.priority,
            e.mql,
            e.reasons,
            e.cause,
            e.inputs
        ]
    })?;
    insert_chunked(tx, "transitions", TRANSITION_COLS, h.transitions, |t| {
        p![
            t.lead_id,
            t.at,
            t.from_stage,
            t.to_stage,
            t.actor,
            t.reason,
            t.model_version,
            t.automatic
        ]
    })?;
    Ok(())
}

/// Writes one change's lead row and its other rows; its ledger entries and
/// transitions go to `history`.
/// Writes lead changes in one transaction. No savepoint per change: a
/// change's own failure (a taken id, a stale version) is found by its first
/// statement without raising a database error, so nothing of it is written
/// and the transaction goes on. Any other failure undoes the whole call.
/// Savepoints are costly in SQLite's long group-commit transactions and
/// cost two round trips on PostgreSQL.
fn apply_all(
    tx: &mut dyn Tx,
    changes: Vec<LeadChange>,
) -> Result<Vec<Result<LeadRow, StoreError>>, StoreError> {
    let mut out = Vec::with_capacity(changes.len());
    let mut history = History {
        ledger: Vec::with_capacity(changes.len()),
        transitions: Vec::new(),
    };
    for c in changes {
        match apply_one(tx, c, &mut history) {
            Ok(l) => out.push(Ok(l)),
            Err(
                e @ (StoreError::Conflict(_)
                | StoreError::StaleVersion { .. }
                | StoreError::NotFound(_)),
            ) => out.push(Err(e)),
            Err(fatal) => return Err(fatal),
        }
    }
    insert_history(tx, history).map_err(|e| match e {
        StoreError::Conflict(m) | StoreError::NotFound(m) => StoreError::Database(m),
        other => other,
    })?;
    Ok(out)
}

fn apply_one(
    tx: &mut dyn Tx,
    mut c: LeadChange,
    history: &mut History,
) -> Result<LeadRow, StoreError> {
    let in_ledger = reasons_in_ledger(&c);
    match c.expected_version {
        None => {
            // A taken id or external id returns no row rather than an
            // error, so the transaction goes on (PostgreSQL would abort it).
            let row = tx
                .query_one(&INSERT_LEAD_SQL, &lead_values(&c.lead, in_ledger))?
                .ok_or_else(|| {
                    StoreError::Conflict(format!(
                        "a lead with id {} or the same external id exists",
                        c.lead.id
                    ))
                })?;
            c.lead.seq = row.int(0);
            c.lead.version = 1;
            put_fields(tx, c.lead.seq, &c.lead.fields)?;
        }
        Some(expected) => {
            let lead = &c.lead;
            let stored = c
                .stored
                .as_ref()
                .filter(|b| b.version == expected && b.id == lead.id);
            let mut set = stored.map_or(ALL_BUT_ID, |b| changed_cols(b, lead));
            if !c.ledger.is_empty() {
                // A new ledger entry: the row's reasons now follow it (or,
                // if they differ from it, are written out).
                set |= 1 << REASONS;
            }
            if let (Some(e), true) = (&lead.email, set & (1 << EMAIL) != 0) {
                let taken = tx.query_one(
                    "SELECT id FROM leads WHERE email = $1 AND id <> $2",
                    &p![e.clone(), lead.id.clone()],
                )?;
                if let Some(other) = taken {
                    return Err(StoreError::Conflict(format!(
                        "email {e} belongs to lead {}",
                        other.text(0)
                    )));
                }
            }
            if let (Some(x), true) = (&lead.external_id, set & (1 << EXTERNAL_ID) != 0) {
                let taken = tx.query_one(
                    "SELECT id FROM leads WHERE external_id = $1 AND id <> $2",
                    &p![x.clone(), lead.id.clone()],
                )?;
                if let Some(other) = taken {
                    return Err(StoreError::Conflict(format!(
                        "external id {x} belongs to lead {}",
                        other.text(0)
                    )));
                }
            }
            let fields_changed = set & (1 << FIELDS) != 0;
            let set = set & ROW_COLS;
            let mut vals = Vec::with_capacity(set.count_ones() as usize + 2);
            vals.push(SqlValue::Text(lead.id.clone()));
            for col in 1..LEAD_WRITE_COLS.len() {
                if set & (1 << col) != 0 {
                    vals.push(lead_value(lead, col, in_ledger));
                }
            }
            vals.push(SqlValue::Int(expected));
            if let Some(b) = stored {
                vals.push(SqlValue::Int(b.seq));
            }
            let sqlite = tx.is_sqlite();
            let written = match stored {
                // The row as read names its seq, and the version only
                // moves by one: no need to read them back.
                Some(b) => (tx.exec(&update_lead_sql(set, sqlite, false), &vals)? == 1)
                    .then_some((b.seq, expected + 1)),
                None => tx
                    .query_one(&update_lead_sql(set, sqlite, true), &vals)?
                    .map(|row| (row.int(0), row.int(1))),
            };
            match written {
                Some((seq, version)) => {
                    c.lead.seq = seq;
                    c.lead.version = version;
                    if fields_changed {
                        put_fields(tx, seq, &c.lead.fields)?;
                    }
                }
                None => {
                    let exists = tx
                        .query_one(
                            "SELECT version FROM leads WHERE id = $1",
                            &p![lead.id.clone()],
                        )?
                        .is_some();
                    return Err(if exists {
                        StoreError::StaleVersion { expected }
                    } else {
                        StoreError::NotFound(format!("lead {}", lead.id))
                    });
                }
            }
        }
    }
    write_related(tx, &c).map_err(|e| match e {
        // The lead row is written; a refusal now is not the change's own
        // fault and must undo the whole batch.
        StoreError::Conflict(m) | StoreError::NotFound(m) => StoreError::Database(m),
        other => other,
    })?;
    history.ledger.append(&mut c.ledger);
    history.transitions.append(&mut c.transitions);
    Ok(c.lead)
}

/// Inserts or replaces one lead's prediction.
fn put_prediction(tx: &mut dyn Tx, p: &PredictionRow) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO lead_predictions (lead_id, champion_version, probability, challenger_version, challenger_probability, scored_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (lead_id) DO UPDATE SET champion_version = excluded.champion_version, probability = excluded.probability, challenger_version = excluded.challenger_version, challenger_probability = excluded.challenger_probability, scored_at = excluded.scored_at",
        &p![p.lead_id.clone(), p.champion_version, p.probability, p.challenger_version, p.challenger_probability, p.scored_at],
    )?;
    Ok(())
}

fn write_related(tx: &mut dyn Tx, c: &LeadChange) -> Result<(), StoreError> {
    for a in &c.assignments {
        tx.exec(
            "INSERT INTO assignments (lead_id, at, rep_id, previous_rep, rule, explanation, actor) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &p![a.lead_id.clone(), a.at, a.rep_id.clone(), a.previous_rep.clone(), a.rule.clone(), a.explanation.clone(), a.actor.clone()],
        )?;
        tx.exec(
            "UPDATE reps SET last_assigned_at = $2 WHERE id = $1",
            &p![a.rep_id.clone(), a.at],
        )?;
        // Open tasks follow the lead to its new owner: the previous rep can
        // no longer act on it.
        tx.exec(
            "UPDATE tasks SET owner = $2 WHERE lead_id = $1 AND status = 'open'",
            &p![a.lead_id.clone(), a.rep_id.clone()],
        )?;
    }
    insert_deliveries(tx, &c.deliveries)?;
    insert_consents(tx, &c.consents)?;
    if c.cancel_open_tasks {
        tx.exec(
            "UPDATE tasks SET status = 'cancelled', completed_at = $2, completed_by = 'system:closed' WHERE lead_id = $1 AND status = 'open'",
            &p![c.lead.id.clone(), c.lead.updated_at],
        )?;
    }
    if let Some(prediction) = &c.prediction {
        put_prediction(tx, prediction)?;
    }
    for t in &c.tasks {
        // One open task per lead and origin: a rule firing again while its
        // task is still open adds nothing.
        let open = tx.query_one(
            "SELECT 1 FROM tasks WHERE lead_id = $1 AND origin = $2 AND status = 'open'",
            &p![t.lead_id.clone(), t.origin.clone()],
        )?;
        if open.is_none() {
            insert_task(tx, t)?;
        }
    }
    Ok(())
}

const TASK_COLS: &str = "id, lead_id, owner, kind, title, notes, due_at, status, origin, created_at, created_by, completed_at, completed_by, snoozed, overdue_notified_at";

fn insert_task(tx: &mut dyn Tx, t: &TaskRow) -> Result<(), StoreError> {
    tx.exec(
        &format!("INSERT INTO tasks ({TASK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"),
        &p![t.id.clone(), t.lead_id.clone(), t.owner.clone(), t.kind.clone(), t.title.clone(), t.notes.clone(), t.due_at, t.status.clone(), t.origin.clone(), t.created_at, t.created_by.clone(), t.completed_at, t.completed_by.clone(), t.snoozed, t.overdue_notified_at],
    )?;
    Ok(())
}

fn task_of(r: &Row) -> TaskRow {
    TaskRow {
        id: r.text(0),
        lead_id: r.text(1),
        owner: r.opt_text(2),
        kind: r.text(3),
        title: r.text(4),
        notes: r.opt_text(5),
        due_at: r.int(6),
        status: r.text(7),
        origin: r.text(8),
        created_at: r.int(9),
        created_by: r.text(10),
        completed_at: r.opt_int(11),
        completed_by: r.opt_text(12),
        snoozed: r.int(13),
        overdue_notified_at: r.opt_int(14),
    }
}

fn insert_consents(tx: &mut dyn Tx, cs: &[ConsentRow]) -> Result<(), StoreError> {
    for c in cs {
        tx.exec(
            "INSERT INTO consents (lead_id, channel, lawful_basis, opt_in, do_not_contact, source, actor, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (lead_id, channel) DO UPDATE SET lawful_basis = excluded.lawful_basis, opt_in = excluded.opt_in, do_not_contact = excluded.do_not_contact, source = excluded.source, actor = excluded.actor, recorded_at = excluded.recorded_at",
            &p![c.lead_id.clone(), c.channel.clone(), c.lawful_basis.clone(), c.opt_in, c.do_not_contact, c.source.clone(), c.actor.clone(), c.recorded_at],
        )?;
        tx.exec(
            "INSERT INTO consent_history (lead_id, channel, lawful_basis, opt_in, do_not_contact, source, actor, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &p![c.lead_id.clone(), c.channel.clone(), c.lawful_basis.clone(), c.opt_in, c.do_not_contact, c.source.clone(), c.actor.clone(), c.recorded_at],
        )?;
    }
    Ok(())
}

const CONSENT_COLS: &str =
    "lead_id, channel, lawful_basis, opt_in, do_not_contact, source, actor, recorded_at";
/// A consent row from `seq` followed by [`CONSENT_COLS`].
fn consent_of(r: &Row) -> ConsentRow {
    ConsentRow {
        seq: r.int(0),
        lead_id: r.text(1),
        channel: r.text(2),
        lawful_basis: r.opt_text(3),
        opt_in: r.opt_bool(4),
        do_not_contact: r.bool(5),
        source: r.text(6),
        actor: r.text(7),
        recorded_at: r.int(8),
    }
}

/// The `LIKE` pattern matching `needle` anywhere, lower-cased, with the
/// pattern characters escaped (lead ids contain `_`).
fn contains_pattern(needle: &str) -> String {
    let mut out = String::from("%");
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// `(LOWER(column) LIKE $k OR …)` over the usable needles with their
/// parameters, numbered from `first`; `None` when no needle is usable.
fn mentions(column: &str, needles: &[String], first: usize) -> Option<(String, Vec<SqlValue>)> {
    let usable: Vec<&String> = needles.iter().filter(|n| !n.trim().is_empty()).collect();
    if usable.is_empty() {
        return None;
    }
    let conds: Vec<String> = (0..usable.len())
        .map(|i| format!("LOWER({column}) LIKE ${} ESCAPE '\\'", first + i))
        .collect();
    let params = usable
        .iter()
        .map(|n| SqlValue::Text(contains_pattern(n)))
        .collect();
    Some((format!("({})", conds.join(" OR ")), params))
}

/// Whether `text` contains any needle, ignoring case.
fn mentions_any(text: &str, needles: &[String]) -> bool {
    let t = text.to_lowercase();
    needles
        .iter()
        .filter(|n| !n.trim().is_empty())
        .any(|n| t.contains(&n.to_lowercase()))
}

/// `value` without what mentions any needle: array elements that mention
/// one are dropped (a reject row is about one person), strings that mention
/// one are replaced. Returns how many were removed or replaced.
fn redact(value: &mut serde_json::Value, needles: &[String]) -> usize {
    use serde_json::Value as J;
    match value {
        J::Array(items) => {
            let before = items.len();
            items.retain(|v| !mentions_any(&v.to_string(), needles));
            let mut n = before - items.len();
            for v in items.iter_mut() {
                n += redact(v, needles);
            }
            n
        }
        J::Object(map) => map.values_mut().map(|v| redact(v, needles)).sum(),
        J::String(s) if mentions_any(s, needles) => {
            *s = "[erased]".into();
            1
        }
        _ => 0,
    }
}

fn insert_deliveries(tx: &mut dyn Tx, ds: &[DeliveryRow]) -> Result<(), StoreError> {
    for d in ds {
        tx.exec(
            "INSERT INTO outbox (webhook_id, event_type, payload, status, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &p![d.webhook_id.clone(), d.event_type.clone(), d.payload.clone(), d.status.clone(), d.attempts, d.next_attempt_at, d.created_at],
        )?;
    }
    Ok(())
}

/// Rows of `sql` for every id of `ids`: `sql` holds `{ids}` where the
/// `IN (...)` list goes; ids are sent 500 per statement to stay under the
/// drivers' parameter limits.
fn query_in(tx: &mut dyn Tx, sql: &str, ids: &[String]) -> Result<Vec<Row>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        out.extend(tx.query(&sql.replace("{ids}", &marks.join(", ")), &params)?);
    }
    Ok(out)
}

const ANSWER_COLS: &str = "lead_id, framework, criterion, value, evidence, actor, at";
fn answer_of(r: &Row) -> AnswerRow {
    AnswerRow {
        lead_id: r.text(0),
        framework: r.text(1),
        criterion: r.text(2),
        value: r.text(3),
        evidence: r.opt_text(4),
        actor: r.text(5),
        at: r.int(6),
    }
}

/// The stages of a lead still in play: every stage but `won`, `lost` and
/// `disqualified` (`Stage::is_closed` in leadq-core, which a test holds this
/// list to).
pub const OPEN_STAGES: &[&str] = &[
    "new",
    "working",
    "mql",
    "sal",
    "sql",
    "opportunity",
    "nurture",
    "recycled",
];

/// The stages that end a lead's run (`Stage::is_closed`, held to it by the
/// same test).
pub const CLOSED_STAGES: &[&str] = &["won", "lost", "disqualified"];

/// `stages` as the quoted list of a SQL `IN (…)`: they are constants of
/// this crate, never input.
fn sql_list(stages: &[&str]) -> String {
    stages
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

const EVENT_COLS: &str = "seq, lead_id, kind, at, props, idempotency_key, received_at";
fn event_of(r: &Row) -> EventRow {
    EventRow {
        seq: r.int(0),
        lead_id: r.text(1),
        kind: r.text(2),
        at: r.int(3),
        props: r.text(4),
        idempotency_key: r.text(5),
        received_at: r.int(6),
    }
}

const MODEL_COLS: &str = "id, name, source, status, version, created_at, created_by, published_at";
fn model_of(r: &Row) -> ModelRow {
    ModelRow {
        id: r.int(0),
        name: r.text(1),
        source: r.text(2),
        status: r.text(3),
        version: r.opt_int(4),
        created_at: r.int(5),
        created_by: r.text(6),
        published_at: r.opt_int(7),
    }
}

const PREDICTIVE_COLS: &str =
    "id, version, status, algorithm, model, metrics, rows_used, positives, trained_at, trained_by";
fn predictive_of(r: &Row) -> PredictiveModelRow {
    PredictiveModelRow {
        id: r.int(0),
        version: r.int(1),
        status: r.text(2),
        algorithm: r.text(3),
        model: r.text(4),
        metrics: r.text(5),
        rows: r.int(6),
        positives: r.int(7),
        trained_at: r.int(8),
        trained_by: r.text(9),
    }
}

const PREDICTION_COLS: &str =
    "lead_id, champion_version, probability, challenger_version, challenger_probability, scored_at";
fn prediction_of(r: &Row) -> PredictionRow {
    PredictionRow {
        lead_id: r.text(0),
        champion_version: r.int(1),
        probability: r.real(2),
        challenger_version: r.opt_int(3),
        challenger_probability: r.opt_real(4),
        scored_at: r.int(5),
    }
}

const REP_COLS: &str = "id, name, email, capacity, timezone, working_hours, territory, active, last_assigned_at, created_at";
fn rep_of(r: &Row) -> RepRow {
    RepRow {
        id: r.text(0),
        name: r.text(1),
        email: r.opt_text(2),
        capacity: r.int(3),
        timezone: r.text(4),
        working_hours: r.text(5),
        territory: r.text(6),
        active: r.bool(7),
        last_assigned_at: r.opt_int(8),
        created_at: r.int(9),
    }
}

const DELIVERY_COLS: &str = "seq, webhook_id, event_type, payload, status, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at";
fn delivery_of(r: &Row) -> DeliveryRow {
    DeliveryRow {
        seq: r.int(0),
        webhook_id: r.text(1),
        event_type: r.text(2),
        payload: r.text(3),
        status: r.text(4),
        attempts: r.int(5),
        next_attempt_at: r.int(6),
        last_status: r.opt_int(7),
        last_error: r.opt_text(8),
        created_at: r.int(9),
        delivered_at: r.opt_int(10),
    }
}

fn token_of(r: &Row) -> TokenRow {
    TokenRow {
        id: r.text(0),
        name: r.text(1),
        role: r.text(2),
        user_id: r.opt_text(3),
        rep_id: r.opt_text(4),
        hash: r.text(5),
        created_at: r.int(6),
        revoked: r.bool(7),
    }
}

fn user_of(r: &Row) -> UserRow {
    UserRow {
        id: r.text(0),
        name: r.text(1),
        role: r.text(2),
        password_hash: r.opt_text(3),
        rep_id: r.opt_text(4),
        created_at: r.int(5),
    }
}

fn sla_of(r: &Row) -> SlaPolicyRow {
    SlaPolicyRow {
        id: r.text(0),
        stage: r.text(1),
        minutes: r.int(2),
        action: r.text(3),
        escalate_to: r.opt_text(4),
        active: r.bool(5),
        created_at: r.int(6),
    }
}

fn job_of(r: &Row) -> JobRow {
    JobRow {
        id: r.text(0),
        kind: r.text(1),
        status: r.text(2),
        total: r.int(3),
        done: r.int(4),
        result: r.opt_text(5),
        error: r.opt_text(6),
        created_at: r.int(7),
        finished_at: r.opt_int(8),
    }
}

/// The first `take` leads matching `where_` by score (total descending,
/// then seq). No index is kept on the total alone, since every re-score
/// would move an entry in it; the priority index orders leads by total
/// within each priority rank, so the best of each rank are read from it
/// (seq and total only) and merged, then the winners' rows are read.
fn leads_by_score(
    tx: &mut dyn Tx,
    where_: &str,
    params: &[SqlValue],
    take: usize,
) -> Result<Vec<LeadRow>, StoreError> {
    // The ranks present, one index probe each (a skip scan by hand).
    let ranks: Vec<i64> = tx
        .query(
            "WITH RECURSIVE r(v) AS (SELECT MIN(sort_rank) FROM leads \
             UNION ALL SELECT (SELECT MIN(sort_rank) FROM leads WHERE sort_rank > r.v) FROM r WHERE r.v IS NOT NULL) \
             SELECT v FROM r WHERE v IS NOT NULL",
            &[],
        )?
        .iter()
        .map(|r| r.int(0))
        .collect();
    let rank_param = params.len() + 1;
    let rank_cond = if where_.is_empty() {
        format!("WHERE sort_rank = ${rank_param}")
    } else {
        format!("{where_} AND sort_rank = ${rank_param}")
    };
    let sql =
        format!("SELECT seq, total FROM leads {rank_cond} ORDER BY total DESC, seq LIMIT {take}");
    let mut best: Vec<(f64, i64)> = Vec::new();
    let mut with_rank = params.to_vec();
    with_rank.push(SqlValue::Int(0));
    for rank in ranks {
        with_rank[rank_param - 1] = SqlValue::Int(rank);
        best.extend(
            tx.query(&sql, &with_rank)?
                .iter()
                .map(|r| (r.real(1), r.int(0))),
        );
    }
    best.sort_by(|a, b| by_total_then_seq((a.0, a.1), (b.0, b.1)));
    best.truncate(take);
    if best.is_empty() {
        return Ok(Vec::new());
    }
    let seqs: Vec<SqlValue> = best.iter().map(|&(_, seq)| SqlValue::Int(seq)).collect();
    let marks: Vec<String> = (1..=seqs.len()).map(|i| format!("${i}")).collect();
    let mut rows: Vec<LeadRow> = tx
        .query(
            &format!(
                "SELECT {LEAD_COLS} FROM leads WHERE seq IN ({})",
                marks.join(", ")
            ),
            &seqs,
        )?
        .into_iter()
        .map(lead_of)
        .collect();
    rows.sort_by(|a, b| by_total_then_seq((a.total(), a.seq), (b.total(), b.seq)));
    Ok(rows)
}

/// Score order as SQL sorts `total DESC, seq` (so `0.0` and `-0.0` tie,
/// like the cursor's comparison).
fn by_total_then_seq(a: (f64, i64), b: (f64, i64)) -> std::cmp::Ordering {
    b.0.partial_cmp(&a.0)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then(a.1.cmp(&b.1))
}

/// Cursor of the page after `last` for `sort`.
fn cursor_after(sort: LeadSort, last: &LeadRow) -> String {
    let rank = last.score.as_ref().map_or(999, |s| s.priority_rank);
    let total = last.total().to_bits();
    match sort {
        LeadSort::Priority => format!("p.{rank}.{total:x}.{}", last.seq),
        LeadSort::Score => format!("s.{total:x}.{}", last.seq),
        LeadSort::Created => format!("c.{}", last.seq),
    }
}

struct Cursor {
    rank: i64,
    total: f64,
    seq: i64,
}

fn parse_cursor(sort: LeadSort, raw: &str) -> Result<Cursor, StoreError> {
    let bad = || StoreError::NotFound(format!("cursor '{raw}' is not valid for this listing"));
    let parts: Vec<&str> = raw.split('.').collect();
    let total = |s: &str| {
        u64::from_str_radix(s, 16)
            .map(f64::from_bits)
            .map_err(|_| bad())
    };
    let int = |s: &str| s.parse::<i64>().map_err(|_| bad());
    match (sort, parts.as_slice()) {
        (LeadSort::Priority, ["p", r, t, s]) => Ok(Cursor {
            rank: int(r)?,
            total: total(t)?,
            seq: int(s)?,
        }),
        (LeadSort::Score, ["s", t, s]) => Ok(Cursor {
            rank: 0,
            total: total(t)?,
            seq: int(s)?,
        }),
        (LeadSort::Created, ["c", s]) => Ok(Cursor {
            rank: 0,
            total: 0.0,
            seq: int(s)?,
        }),
        _ => Err(bad()),
    }
}

impl<B: Backend> Store for SqlStore<B> {
    fn backend(&self) -> &'static str {
        self.backend.kind()
    }

    fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let list = migrations(self.backend.kind());
        let kind = self.backend.kind();
        self.w(move |tx| {
            if kind == "postgres" {
                // Several servers may start at once on one database. Run as
                // a batch: the function returns `void`, which no row getter
                // can read.
                tx.batch("SELECT pg_advisory_xact_lock(7318120001)")?;
            }
            tx.batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            )?;
            let done: Vec<i64> = tx
                .query("SELECT version FROM schema_migrations", &[])?
                .iter()
                .map(|r| r.int(0))
                .collect();
            let mut applied = Vec::new();
            for m in list {
                if done.contains(&m.version) {
                    continue;
                }
                tx.batch(m.sql)?;
                tx.exec(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    &p![m.version, m.name, now_ms()],
                )?;
                applied.push(m.name.to_string());
            }
            Ok(applied)
        })
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.r(|tx| tx.query("SELECT 1", &[]).map(|_| ()))
    }

    fn checkpoint(&self) -> Result<(), StoreError> {
        self.backend.checkpoint()
    }

    fn apply(
        &self,
        changes: Vec<LeadChange>,
    ) -> Result<Vec<Result<LeadRow, StoreError>>, StoreError> {
        self.w(move |tx| apply_all(tx, changes))
    }

    fn apply_score_only(
        &self,
        changes: Vec<LeadChange>,
    ) -> Result<Vec<Result<LeadRow, StoreError>>, StoreError> {
        if let Some(c) = changes.iter().find(|c| !c.is_score_only()) {
            return Err(StoreError::Database(format!(
                "the change of lead {} does more than re-score it",
                c.lead.id
            )));
        }
        self.w_relaxed(move |tx| apply_all(tx, changes))
    }

    fn lead(&self, id: &str) -> Result<Option<LeadRow>, StoreError> {
        let id = id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {LEAD_COLS} FROM leads WHERE id = $1"),
                    &p![id],
                )?
                .map(lead_of))
        })
    }

    fn leads_by_ids(&self, ids: &[String]) -> Result<Vec<LeadRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        self.r(move |tx| {
            let sql = format!("SELECT {LEAD_COLS} FROM leads WHERE id IN ({{ids}})");
            let mut found: std::collections::HashMap<String, LeadRow> = query_in(tx, &sql, &ids)?
                .into_iter()
                .map(|r| {
                    let l = lead_of(r);
                    (l.id.clone(), l)
                })
                .collect();
            Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
        })
    }

    fn existing_lead_ids(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        self.r(move |tx| {
            Ok(
                query_in(tx, "SELECT id FROM leads WHERE id IN ({ids})", &ids)?
                    .iter()
                    .map(|r| r.text(0))
                    .collect(),
            )
        })
    }

    fn find_lead(&self, key: &LeadKey) -> Result<Option<LeadRow>, StoreError> {
        let (col, v) = match key {
            LeadKey::Id(v) => ("id", v.clone()),
            LeadKey::ExternalId(v) => ("external_id", v.clone()),
            LeadKey::Email(v) => ("email", v.to_lowercase()),
        };
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {LEAD_COLS} FROM leads WHERE {col} = $1 ORDER BY seq LIMIT 1"),
                    &p![v],
                )?
                .map(lead_of))
        })
    }

    fn list_leads(&self, f: &LeadFilter) -> Result<LeadPage, StoreError> {
        let mut conds: Vec<String> = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        if f.open_only {
            conds.push(format!("stage NOT IN ({})", sql_list(CLOSED_STAGES)));
        }
        let mut push = |cond: &str, v: SqlValue, params: &mut Vec<SqlValue>| {
            params.push(v);
            conds.push(cond.replace('?', &format!("${}", params.len())));
        };
        if let Some(v) = &f.stage {
            push("stage = ?", v.into(), &mut params);
        }
        if let Some(v) = &f.owner {
            push("owner = ?", v.into(), &mut params);
        }
        if let Some(v) = &f.grade {
            push("grade = ?", v.into(), &mut params);
        }
        if let Some(v) = &f.priority {
            push("priority = ?", v.into(), &mut params);
        }
        if let Some(v) = &f.source {
            push("LOWER(source) = ?", v.to_lowercase().into(), &mut params);
        }
        if let Some(v) = f.mql {
            push("mql = ?", SqlValue::Int(v as i64), &mut params);
        }
        if let Some(v) = &f.search {
            // `%` and `_` are searched for literally, escaped with `!`.
            let escaped = v
                .to_lowercase()
                .replace('!', "!!")
                .replace('%', "!%")
                .replace('_', "!_");
            let pat = format!("%{escaped}%");
            push(
                "(LOWER(COALESCE(email, '')) LIKE ? ESCAPE '!' OR LOWER(COALESCE(company, '')) LIKE ? ESCAPE '!' OR LOWER(id) LIKE ? ESCAPE '!')",
                pat.into(),
                &mut params,
            );
        }
        if let Some(raw) = &f.cursor {
            let c = parse_cursor(f.sort, raw)?;
            let n = params.len();
            match f.sort {
                LeadSort::Priority => {
                    params.extend(p![c.rank, c.total, c.seq]);
                    conds.push(format!(
                        "(sort_rank > ${a} OR (sort_rank = ${a} AND (total < ${b} OR (total = ${b} AND seq > ${c}))))",
                        a = n + 1,
                        b = n + 2,
                        c = n + 3
                    ));
                }
                LeadSort::Score => {
                    params.extend(p![c.total, c.seq]);
                    conds.push(format!(
                        "(total < ${b} OR (total = ${b} AND seq > ${c}))",
                        b = n + 1,
                        c = n + 2
                    ));
                }
                LeadSort::Created => {
                    params.push(SqlValue::Int(c.seq));
                    conds.push(format!("seq < ${}", n + 1));
                }
            }
        }
        let order = match f.sort {
            LeadSort::Priority => "sort_rank, total DESC, seq",
            LeadSort::Score => "total DESC, seq",
            LeadSort::Created => "seq DESC",
        };
        let limit = f.limit.clamp(1, 1000);
        let where_ = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT {LEAD_COLS} FROM leads {where_} ORDER BY {order} LIMIT {}",
            limit + 1
        );
        let sort = f.sort;
        self.r(move |tx| {
            let mut leads: Vec<LeadRow> = match sort {
                LeadSort::Score => leads_by_score(tx, &where_, &params, limit + 1)?,
                LeadSort::Priority | LeadSort::Created => {
                    tx.query(&sql, &params)?.into_iter().map(lead_of).collect()
                }
            };
            let next_cursor = if leads.len() > limit {
                leads.truncate(limit);
                leads.last().map(|l| cursor_after(sort, l))
            } else {
                None
            };
            Ok(LeadPage { leads, next_cursor })
        })
    }

    fn scan_leads(&self, after_seq: i64, limit: usize) -> Result<Vec<LeadRow>, StoreError> {
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!(
                        "SELECT {LEAD_COLS} FROM leads WHERE seq > $1 ORDER BY seq LIMIT {limit}"
                    ),
                    &p![after_seq],
                )?
                .into_iter()
                .map(lead_of)
                .collect())
        })
    }

    fn scan_leads_to_rescore(
        &self,
        after_seq: i64,
        limit: usize,
        model_version: i64,
    ) -> Result<Vec<LeadRow>, StoreError> {
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!(
                        "SELECT {RESCORE_COLS} FROM leads LEFT JOIN lead_fields f ON f.seq = leads.seq WHERE leads.seq > $1 ORDER BY leads.seq LIMIT {limit}"
                    ),
                    &p![after_seq, model_version],
                )?
                .into_iter()
                .map(lead_of)
                .collect())
        })
    }

    fn count_leads(&self) -> Result<i64, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query_one("SELECT COUNT(*) FROM leads", &[])?
                .map_or(0, |r| r.int(0)))
        })
    }

    fn delete_lead(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.w(move |tx| {
            for t in [
                "events",
                "ledger",
                "transitions",
                "assignments",
                "answers",
                "sla_breaches",
                "lead_predictions",
                "consents",
                "consent_history",
                "tasks",
                "emails",
                "enrolments",
            ] {
                tx.exec(
                    &format!("DELETE FROM {t} WHERE lead_id = $1"),
                    &p![id.clone()],
                )?;
            }
            delete_visitors_of(tx, &id)?;
            tx.exec(DELETE_FIELDS_SQL, &p![id.clone()])?;
            Ok(tx.exec("DELETE FROM leads WHERE id = $1", &p![id])? > 0)
        })
    }

    fn open_leads_by_owner(&self) -> Result<Vec<(String, i64)>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT owner, COUNT(*) FROM leads WHERE owner IS NOT NULL AND stage NOT IN ({}) GROUP BY owner",
                sql_list(CLOSED_STAGES)
            )
        });
        self.r(|tx| {
            Ok(tx
                .query(&SQL, &[])?
                .iter()
                .map(|r| (r.text(0), r.int(1)))
                .collect())
        })
    }

    fn open_leads_up_to(&self, caps: &[(String, i64)]) -> Result<Vec<(String, i64)>, StoreError> {
        // One equality seek per open stage on `leads_owner_stage`: closed
        // leads, which only accumulate, are never read. Built once: routing
        // runs it for every batch of new leads.
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM leads WHERE owner = $1 AND stage IN ({}) LIMIT $2) AS open_leads",
                sql_list(OPEN_STAGES)
            )
        });
        let caps = caps.to_vec();
        self.r(move |tx| {
            caps.into_iter()
                .map(|(owner, cap)| {
                    let n = tx
                        .query_one(&SQL, &p![owner.clone(), cap.max(0)])?
                        .map(|r| r.int(0))
                        .unwrap_or(0);
                    Ok((owner, n))
                })
                .collect()
        })
    }

    fn account_owner(&self, domain: &str, except_lead: &str) -> Result<Option<String>, StoreError> {
        let (d, e) = (domain.to_string(), except_lead.to_string());
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    "SELECT owner FROM leads WHERE domain = $1 AND id <> $2 AND owner IS NOT NULL ORDER BY assigned_at DESC NULLS LAST, seq DESC LIMIT 1",
                    &p![d, e],
                )?
                .and_then(|r| r.opt_text(0)))
        })
    }

    fn insert_events(&self, events: Vec<EventRow>) -> Result<Vec<bool>, StoreError> {
        self.w(move |tx| {
            let mut out = Vec::with_capacity(events.len());
            for e in events {
                let n = tx.exec(
                    "INSERT INTO events (lead_id, kind, at, props, idempotency_key, received_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING",
                    &p![e.lead_id, e.kind, e.at, e.props, e.idempotency_key, e.received_at],
                )?;
                out.push(n > 0);
            }
            Ok(out)
        })
    }

    fn events_of(&self, lead_id: &str) -> Result<Vec<EventRow>, StoreError> {
        let id = lead_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {EVENT_COLS} FROM events WHERE lead_id = $1 ORDER BY at, seq"),
                    &p![id],
                )?
                .iter()
                .map(event_of)
                .collect())
        })
    }

    fn events_of_many(&self, lead_ids: &[String]) -> Result<Vec<EventRow>, StoreError> {
        if lead_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = lead_ids.to_vec();
        self.r(move |tx| {
            let sql = format!(
                "SELECT {EVENT_COLS} FROM events WHERE lead_id IN ({{ids}}) ORDER BY lead_id, at, seq"
            );
            Ok(query_in(tx, &sql, &ids)?.iter().map(event_of).collect())
        })
    }

    fn ledger_of(&self, lead_id: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let id = lead_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    "SELECT seq, lead_id, at, as_of, model_version, fit, grade, engagement, band, priority, mql, reasons, cause, inputs FROM ledger WHERE lead_id = $1 ORDER BY seq",
                    &p![id],
                )?
                .iter()
                .map(|r| LedgerEntry {
                    seq: r.int(0),
                    lead_id: r.text(1),
                    at: r.int(2),
                    as_of: r.int(3),
                    model_version: r.int(4),
                    fit: r.real(5),
                    grade: r.text(6),
                    engagement: r.real(7),
                    band: r.int(8),
                    priority: r.text(9),
                    mql: r.bool(10),
                    reasons: r.text(11),
                    cause: r.text(12),
                    inputs: r.text(13),
                })
                .scan(String::new(), |last, mut e: LedgerEntry| {
                    // An entry with the same inputs as the one before
                    // stores them as "": fill them back in.
                    if e.inputs.is_empty() {
                        e.inputs.clone_from(last);
                    } else {
                        last.clone_from(&e.inputs);
                    }
                    Some(e)
                })
                .collect())
        })
    }

    fn transitions_of(&self, lead_id: &str) -> Result<Vec<TransitionRow>, StoreError> {
        let id = lead_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    "SELECT seq, lead_id, at, from_stage, to_stage, actor, reason, model_version, automatic FROM transitions WHERE lead_id = $1 ORDER BY seq",
                    &p![id],
                )?
                .iter()
                .map(|r| TransitionRow {
                    seq: r.int(0),
                    lead_id: r.text(1),
                    at: r.int(2),
                    from_stage: r.opt_text(3),
                    to_stage: r.text(4),
                    actor: r.text(5),
                    reason: r.opt_text(6),
                    model_version: r.opt_int(7),
                    automatic: r.bool(8),
                })
                .collect())
        })
    }

    fn assignments_of(&self, lead_id: &str) -> Result<Vec<AssignmentRow>, StoreError> {
        let id = lead_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    "SELECT seq, lead_id, at, rep_id, previous_rep, rule, explanation, actor FROM assignments WHERE lead_id = $1 ORDER BY seq",
                    &p![id],
                )?
                .iter()
                .map(|r| AssignmentRow {
                    seq: r.int(0),
                    lead_id: r.text(1),
                    at: r.int(2),
                    rep_id: r.text(3),
                    previous_rep: r.opt_text(4),
                    rule: r.opt_text(5),
                    explanation: r.text(6),
                    actor: r.text(7),
                })
                .collect())
        })
    }

    fn set_answers(&self, answers: Vec<AnswerRow>) -> Result<(), StoreError> {
        self.w(move |tx| {
            for a in answers {
                tx.exec(
                    "INSERT INTO answers (lead_id, framework, criterion, value, evidence, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (lead_id, framework, criterion) DO UPDATE SET value = excluded.value, evidence = excluded.evidence, actor = excluded.actor, at = excluded.at",
                    &p![a.lead_id, a.framework, a.criterion, a.value, a.evidence, a.actor, a.at],
                )?;
            }
            Ok(())
        })
    }

    fn answers_of(&self, lead_id: &str) -> Result<Vec<AnswerRow>, StoreError> {
        let id = lead_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {ANSWER_COLS} FROM answers WHERE lead_id = $1 ORDER BY framework, criterion"),
                    &p![id],
                )?
                .iter()
                .map(answer_of)
                .collect())
        })
    }

    fn answers_of_many(&self, lead_ids: &[String]) -> Result<Vec<AnswerRow>, StoreError> {
        if lead_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = lead_ids.to_vec();
        self.r(move |tx| {
            let sql = format!(
                "SELECT {ANSWER_COLS} FROM answers WHERE lead_id IN ({{ids}}) ORDER BY lead_id, framework, criterion"
            );
            Ok(query_in(tx, &sql, &ids)?.iter().map(answer_of).collect())
        })
    }

    fn create_user(&self, u: UserRow) -> Result<(), StoreError> {
        self.w(move |tx| {
            tx.exec(
                "INSERT INTO users (id, name, role, password_hash, rep_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &p![u.id, u.name, u.role, u.password_hash, u.rep_id, u.created_at],
            )?;
            Ok(())
        })
    }

    fn user_by_name(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        let n = name.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    "SELECT id, name, role, password_hash, rep_id, created_at FROM users WHERE name = $1",
                    &p![n],
                )?
                .map(|r| user_of(&r)))
        })
    }

    fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query("SELECT id, name, role, password_hash, rep_id, created_at FROM users ORDER BY name", &[])?
                .iter()
                .map(user_of)
                .collect())
        })
    }

    fn set_password(&self, name: &str, hash: Option<String>) -> Result<bool, StoreError> {
        let n = name.to_string();
        self.w(move |tx| {
            Ok(tx.exec(
                "UPDATE users SET password_hash = $1 WHERE name = $2",
                &p![hash, n],
            )? > 0)
        })
    }

    fn create_session(&self, s: SessionRow) -> Result<(), StoreError> {
        self.w(move |tx| {
            tx.exec(
                "INSERT INTO sessions (hash, csrf, name, role, rep_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &p![s.hash, s.csrf, s.name, s.role, s.rep_id, s.user_id, s.created_at, s.expires_at],
            )?;
            Ok(())
        })
    }

    fn session(&self, hash: &str, now: i64) -> Result<Option<SessionRow>, StoreError> {
        let h = hash.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    "SELECT hash, csrf, name, role, rep_id, user_id, created_at, expires_at FROM sessions WHERE hash = $1 AND expires_at > $2",
                    &p![h, now],
                )?
                .map(|r| SessionRow {
                    hash: r.text(0),
                    csrf: r.text(1),
                    name: r.text(2),
                    role: r.text(3),
                    rep_id: r.opt_text(4),
                    user_id: r.opt_text(5),
                    created_at: r.int(6),
                    expires_at: r.int(7),
                }))
        })
    }

    fn delete_session(&self, hash: &str, now: i64) -> Result<bool, StoreError> {
        let h = hash.to_string();
        self.w(move |tx| {
            let n = tx.exec("DELETE FROM sessions WHERE hash = $1", &p![h])?;
            tx.exec("DELETE FROM sessions WHERE expires_at <= $1", &p![now])?;
            Ok(n > 0)
        })
    }

    fn create_token(&self, t: TokenRow) -> Result<(), StoreError> {
        self.w(move |tx| {
            tx.exec(
                "INSERT INTO tokens (id, name, role, user_id, rep_id, hash, created_at, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &p![t.id, t.name, t.role, t.user_id, t.rep_id, t.hash, t.created_at, t.revoked],
            )?;
            Ok(())
        })
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError> {
        let h = hash.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    "SELECT id, name, role, user_id, rep_id, hash, created_at, revoked FROM tokens WHERE hash = $1",
                    &p![h],
                )?
                .map(|r| token_of(&r)))
        })
    }

    fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query("SELECT id, name, role, user_id, rep_id, hash, created_at, revoked FROM tokens ORDER BY created_at, id", &[])?
                .iter()
                .map(token_of)
                .collect())
        })
    }

    fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.w(move |tx| Ok(tx.exec("UPDATE tokens SET revoked = 1 WHERE id = $1", &p![id])? > 0))
    }

    fn create_model(
        &self,
        name: &str,
        source: &str,
        by: &str,
        at: i64,
    ) -> Result<ModelRow, StoreError> {
        let (n, s, b) = (name.to_string(), source.to_string(), by.to_string());
        self.w(move |tx| {
            let r = tx
                .query_one(
                    &format!("INSERT INTO models (name, source, status, created_at, created_by) VALUES ($1, $2, 'draft', $3, $4) RETURNING {MODEL_COLS}"),
                    &p![n, s, at, b],
                )?
                .ok_or_else(|| StoreError::Database("insert returned no row".into()))?;
            Ok(model_of(&r))
        })
    }

    fn model(&self, id: i64) -> Result<Option<ModelRow>, StoreError> {
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {MODEL_COLS} FROM models WHERE id = $1"),
                    &p![id],
                )?
                .map(|r| model_of(&r)))
        })
    }

    fn model_by_version(&self, version: i64) -> Result<Option<ModelRow>, StoreError> {
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {MODEL_COLS} FROM models WHERE version = $1"),
                    &p![version],
                )?
                .map(|r| model_of(&r)))
        })
    }

    fn list_models(&self) -> Result<Vec<ModelRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query(&format!("SELECT {MODEL_COLS} FROM models ORDER BY id"), &[])?
                .iter()
                .map(model_of)
                .collect())
        })
    }

    fn publish_model(&self, id: i64, at: i64) -> Result<ModelRow, StoreError> {
        self.w(move |tx| {
            let m = tx
                .query_one(&format!("SELECT {MODEL_COLS} FROM models WHERE id = $1"), &p![id])?
                .map(|r| model_of(&r))
                .ok_or_else(|| StoreError::NotFound(format!("model {id}")))?;
            if m.status != "draft" {
                return Err(StoreError::Conflict(format!(
                    "model {id} is {}; only a draft can be published",
                    m.status
                )));
            }
            let next = tx
                .query_one("SELECT COALESCE(MAX(version), 0) + 1 FROM models", &[])?
                .map_or(1, |r| r.int(0));
            tx.exec("UPDATE models SET status = 'retired' WHERE status = 'published'", &[])?;
            let r = tx
                .query_one(
                    &format!("UPDATE models SET status = 'published', version = $2, published_at = $3 WHERE id = $1 RETURNING {MODEL_COLS}"),
                    &p![id, next, at],
                )?
                .ok_or_else(|| StoreError::NotFound(format!("model {id}")))?;
            Ok(model_of(&r))
        })
    }

    fn create_predictive_model(
        &self,
        m: NewPredictiveModel,
    ) -> Result<PredictiveModelRow, StoreError> {
        self.w(move |tx| {
            let next = tx
                .query_one("SELECT COALESCE(MAX(version), 0) + 1 FROM predictive_models", &[])?
                .map_or(1, |r| r.int(0));
            let has_champion = tx
                .query_one("SELECT id FROM predictive_models WHERE status = 'champion'", &[])?
                .is_some();
            let status = if has_champion {
                // One shadow model at a time: the newer one replaces it.
                tx.exec(
                    "UPDATE predictive_models SET status = 'retired' WHERE status = 'challenger'",
                    &[],
                )?;
                "challenger"
            } else {
                "champion"
            };
            let r = tx
                .query_one(
                    &format!("INSERT INTO predictive_models (version, status, algorithm, model, metrics, rows_used, positives, trained_at, trained_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {PREDICTIVE_COLS}"),
                    &p![next, status, m.algorithm, m.model, m.metrics, m.rows, m.positives, m.trained_at, m.trained_by],
                )?
                .ok_or_else(|| StoreError::Database("insert returned no row".into()))?;
            Ok(predictive_of(&r))
        })
    }

    fn predictive_models(&self) -> Result<Vec<PredictiveModelRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query(
                    &format!("SELECT {PREDICTIVE_COLS} FROM predictive_models ORDER BY version"),
                    &[],
                )?
                .iter()
                .map(predictive_of)
                .collect())
        })
    }

    fn predictive_model(&self, id: i64) -> Result<Option<PredictiveModelRow>, StoreError> {
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {PREDICTIVE_COLS} FROM predictive_models WHERE id = $1"),
                    &p![id],
                )?
                .map(|r| predictive_of(&r)))
        })
    }

    fn predictive_model_with_status(
        &self,
        status: &str,
    ) -> Result<Option<PredictiveModelRow>, StoreError> {
        let st = status.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {PREDICTIVE_COLS} FROM predictive_models WHERE status = $1 ORDER BY version DESC LIMIT 1"),
                    &p![st],
                )?
                .map(|r| predictive_of(&r)))
        })
    }

    fn promote_predictive_model(&self, id: i64) -> Result<PredictiveModelRow, StoreError> {
        self.w(move |tx| {
            let m = tx
                .query_one(
                    &format!("SELECT {PREDICTIVE_COLS} FROM predictive_models WHERE id = $1"),
                    &p![id],
                )?
                .map(|r| predictive_of(&r))
                .ok_or_else(|| StoreError::NotFound(format!("predictive model {id}")))?;
            if m.status != "challenger" {
                return Err(StoreError::Conflict(format!(
                    "predictive model {id} is {}; only the challenger can be promoted",
                    m.status
                )));
            }
            tx.exec(
                "UPDATE predictive_models SET status = 'retired' WHERE status = 'champion'",
                &[],
            )?;
            let r = tx
                .query_one(
                    &format!("UPDATE predictive_models SET status = 'champion' WHERE id = $1 RETURNING {PREDICTIVE_COLS}"),
                    &p![id],
                )?
                .ok_or_else(|| StoreError::NotFound(format!("predictive model {id}")))?;
            Ok(predictive_of(&r))
        })
    }

    fn put_predictions(&self, predictions: Vec<PredictionRow>) -> Result<(), StoreError> {
        if predictions.is_empty() {
            return Ok(());
        }
        self.w_relaxed(move |tx| {
            for p in &predictions {
                put_prediction(tx, p)?;
            }
            Ok(())
        })
    }

    fn prediction_of(&self, lead_id: &str) -> Result<Option<PredictionRow>, StoreError> {
        let id = lead_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {PREDICTION_COLS} FROM lead_predictions WHERE lead_id = $1"),
                    &p![id],
                )?
                .map(|r| prediction_of(&r)))
        })
    }

    fn predictions_of(&self, lead_ids: &[String]) -> Result<Vec<PredictionRow>, StoreError> {
        if lead_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = lead_ids.to_vec();
        self.r(move |tx| {
            let sql = format!(
                "SELECT {PREDICTION_COLS} FROM lead_predictions WHERE lead_id IN ({{ids}}) ORDER BY lead_id"
            );
            Ok(query_in(tx, &sql, &ids)?.iter().map(prediction_of).collect())
        })
    }

    fn closed_leads(
        &self,
        closed_since: i64,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<LeadRow>, StoreError> {
        let limit = limit as i64;
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {LEAD_COLS} FROM leads WHERE stage IN ('won', 'lost') AND COALESCE(closed_at, stage_changed_at) >= $1 AND seq > $2 ORDER BY seq LIMIT $3"),
                    &p![closed_since, after_seq, limit],
                )?
                .into_iter()
                .map(lead_of)
                .collect())
        })
    }

    fn published_model(&self) -> Result<Option<ModelRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {MODEL_COLS} FROM models WHERE status = 'published' ORDER BY version DESC LIMIT 1"),
                    &[],
                )?
                .map(|r| model_of(&r)))
        })
    }

    fn upsert_rep(&self, r: RepRow) -> Result<(), StoreError> {
        self.w(move |tx| {
            tx.exec(
                "INSERT INTO reps (id, name, email, capacity, timezone, working_hours, territory, active, last_assigned_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, capacity = excluded.capacity, timezone = excluded.timezone, working_hours = excluded.working_hours, territory = excluded.territory, active = excluded.active",
                &p![r.id, r.name, r.email, r.capacity, r.timezone, r.working_hours, r.territory, r.active, r.last_assigned_at, r.created_at],
            )?;
            Ok(())
        })
    }

    fn rep(&self, id: &str) -> Result<Option<RepRow>, StoreError> {
        let id = id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {REP_COLS} FROM reps WHERE id = $1"),
                    &p![id],
                )?
                .map(|r| rep_of(&r)))
        })
    }

    fn list_reps(&self) -> Result<Vec<RepRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query(&format!("SELECT {REP_COLS} FROM reps ORDER BY id"), &[])?
                .iter()
                .map(rep_of)
                .collect())
        })
    }

    fn delete_rep(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.w(move |tx| Ok(tx.exec("DELETE FROM reps WHERE id = $1", &p![id])? > 0))
    }

    fn set_routing_rules(&self, rules: Vec<String>) -> Result<(), StoreError> {
        self.w(move |tx| {
            tx.exec("DELETE FROM routing_rules", &[])?;
            for (i, r) in rules.into_iter().enumerate() {
                tx.exec(
                    "INSERT INTO routing_rules (position, rule) VALUES ($1, $2)",
                    &p![i as i64, r],
                )?;
            }
            Ok(())
        })
    }

    fn routing_rules(&self) -> Result<Vec<String>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query("SELECT rule FROM routing_rules ORDER BY position", &[])?
                .iter()
                .map(|r| r.text(0))
                .collect())
        })
    }

    fn upsert_sla_policy(&self, s: SlaPolicyRow) -> Result<(), StoreError> {
        self.w(move |tx| {
            tx.exec(
                "INSERT INTO sla_policies (id, stage, minutes, action, escalate_to, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET stage = excluded.stage, minutes = excluded.minutes, action = excluded.action, escalate_to = excluded.escalate_to, active = excluded.active",
                &p![s.id, s.stage, s.minutes, s.action, s.escalate_to, s.active, s.created_at],
            )?;
            Ok(())
        })
    }

    fn list_sla_policies(&self) -> Result<Vec<SlaPolicyRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query("SELECT id, stage, minutes, action, escalate_to, active, created_at FROM sla_policies ORDER BY id", &[])?
                .iter()
                .map(sla_of)
                .collect())
        })
    }

    fn delete_sla_policy(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.w(move |tx| Ok(tx.exec("DELETE FROM sla_policies WHERE id = $1", &p![id])? > 0))
    }

    fn record_breach(&self, b: BreachRow) -> Result<bool, StoreError> {
        self.w(move |tx| {
            Ok(tx.exec(
                "INSERT INTO sla_breaches (lead_id, policy_id, stage, owner, due_at, detected_at, action) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (lead_id, policy_id, due_at) DO NOTHING",
                &p![b.lead_id, b.policy_id, b.stage, b.owner, b.due_at, b.detected_at, b.action],
            )? > 0)
        })
    }

    fn list_breaches(&self, from: i64, to: i64) -> Result<Vec<BreachRow>, StoreError> {
        self.r(move |tx| {
            Ok(tx
                .query(
                    "SELECT seq, lead_id, policy_id, stage, owner, due_at, detected_at, action FROM sla_breaches WHERE detected_at >= $1 AND detected_at < $2 ORDER BY seq",
                    &p![from, to],
                )?
                .iter()
                .map(|r| BreachRow {
                    seq: r.int(0),
                    lead_id: r.text(1),
                    policy_id: r.text(2),
                    stage: r.text(3),
                    owner: r.opt_text(4),
                    due_at: r.int(5),
                    detected_at: r.int(6),
                    action: r.text(7),
                })
                .collect())
        })
    }

    fn breach_keys(&self, policy_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let id = policy_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    "SELECT lead_id, due_at FROM sla_breaches WHERE policy_id = $1",
                    &p![id],
                )?
                .iter()
                .map(|r| (r.text(0), r.int(1)))
                .collect())
        })
    }

    fn leads_waiting(
        &self,
        stage: &str,
        changed_before: i64,
        limit: usize,
    ) -> Result<Vec<LeadRow>, StoreError> {
        let s = stage.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {LEAD_COLS} FROM leads WHERE stage = $1 AND first_response_at IS NULL AND stage_changed_at <= $2 ORDER BY stage_changed_at LIMIT {limit}"),
                    &p![s, changed_before],
                )?
                .into_iter()
                .map(lead_of)
                .collect())
        })
    }

    fn create_webhook(&self, h: WebhookRow) -> Result<(), StoreError> {
        self.w(move |tx| {
            tx.exec(
                "INSERT INTO webhooks (id, url, secret, events, active, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &p![h.id, h.url, h.secret, h.events, h.active, h.created_at],
            )?;
            Ok(())
        })
    }

    fn list_webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query("SELECT id, url, secret, events, active, created_at FROM webhooks ORDER BY created_at, id", &[])?
                .iter()
                .map(webhook_of)
                .collect())
        })
    }

    fn webhook(&self, id: &str) -> Result<Option<WebhookRow>, StoreError> {
        let id = id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one("SELECT id, url, secret, events, active, created_at FROM webhooks WHERE id = $1", &p![id])?
                .map(|r| webhook_of(&r)))
        })
    }

    fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.w(move |tx| {
            tx.exec("DELETE FROM outbox WHERE webhook_id = $1", &p![id.clone()])?;
            Ok(tx.exec("DELETE FROM webhooks WHERE id = $1", &p![id])? > 0)
        })
    }

    fn enqueue_deliveries(&self, deliveries: Vec<DeliveryRow>) -> Result<(), StoreError> {
        self.w(move |tx| insert_deliveries(tx, &deliveries))
    }

    fn due_deliveries(&self, now: i64, limit: usize) -> Result<Vec<DeliveryRow>, StoreError> {
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {DELIVERY_COLS} FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, seq LIMIT {limit}"),
                    &p![now],
                )?
                .iter()
                .map(delivery_of)
                .collect())
        })
    }

    fn update_delivery(&self, d: &DeliveryRow) -> Result<(), StoreError> {
        let d = d.clone();
        self.w(move |tx| {
            tx.exec(
                "UPDATE outbox SET status = $2, attempts = $3, next_attempt_at = $4, last_status = $5, last_error = $6, delivered_at = $7 WHERE seq = $1",
                &p![d.seq, d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.delivered_at],
            )?;
            Ok(())
        })
    }

    fn deliveries_of(
        &self,
        webhook_id: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let id = webhook_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {DELIVERY_COLS} FROM outbox WHERE webhook_id = $1 ORDER BY seq DESC LIMIT {limit}"),
                    &p![id],
                )?
                .iter()
                .map(delivery_of)
                .collect())
        })
    }

    fn put_job(&self, j: JobRow) -> Result<(), StoreError> {
        self.w(move |tx| {
            tx.exec(
                "INSERT INTO jobs (id, kind, status, total, done, result, error, created_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET status = excluded.status, total = excluded.total, done = excluded.done, result = excluded.result, error = excluded.error, finished_at = excluded.finished_at",
                &p![j.id, j.kind, j.status, j.total, j.done, j.result, j.error, j.created_at, j.finished_at],
            )?;
            Ok(())
        })
    }

    fn fail_running_jobs(
        &self,
        error: &str,
        now_ms: i64,
        beat_before: Option<i64>,
    ) -> Result<Vec<JobRow>, StoreError> {
        let error = error.to_string();
        // A job that never beat counts from its start.
        let cut = beat_before.unwrap_or(i64::MAX);
        self.w(move |tx| {
            let running: Vec<JobRow> = tx
                .query(
                    "SELECT id, kind, status, total, done, result, error, created_at, finished_at FROM jobs WHERE status = 'running' AND COALESCE(heartbeat_at, created_at) < $1 ORDER BY created_at, id",
                    &p![cut],
                )?
                .iter()
                .map(job_of)
                .collect();
            let mut failed = Vec::with_capacity(running.len());
            for j in running {
                // Row by row, still `running`: of two servers failing the
                // same job at once, the second (which waits for the first
                // on PostgreSQL) finds it failed and leaves it out.
                let n = tx.exec(
                    "UPDATE jobs SET status = 'failed', error = $2, finished_at = $3 WHERE id = $1 AND status = 'running' AND COALESCE(heartbeat_at, created_at) < $4",
                    &p![j.id.clone(), error.clone(), now_ms, cut],
                )?;
                if n == 1 {
                    failed.push(j);
                }
            }
            Ok(failed)
        })
    }

    fn beat_jobs(&self, beats: Vec<(String, i64, i64)>, now_ms: i64) -> Result<(), StoreError> {
        if beats.is_empty() {
            return Ok(());
        }
        self.w(move |tx| {
            for (id, done, total) in beats {
                tx.exec(
                    "UPDATE jobs SET heartbeat_at = $2, done = $3, total = $4 WHERE id = $1 AND status = 'running'",
                    &p![id, now_ms, done, total],
                )?;
            }
            Ok(())
        })
    }

    fn job(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
        let id = id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    "SELECT id, kind, status, total, done, result, error, created_at, finished_at FROM jobs WHERE id = $1",
                    &p![id],
                )?
                .map(|r| job_of(&r)))
        })
    }

    fn set_spend(&self, spend: Vec<SpendRow>) -> Result<(), StoreError> {
        self.w(move |tx| {
            for s in spend {
                tx.exec(
                    "INSERT INTO spend (source, campaign, period_start, amount) VALUES ($1, $2, $3, $4) ON CONFLICT (source, campaign, period_start) DO UPDATE SET amount = excluded.amount",
                    &p![s.source, s.campaign, s.period_start, s.amount],
                )?;
            }
            Ok(())
        })
    }

    fn list_spend(&self) -> Result<Vec<SpendRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query("SELECT source, campaign, period_start, amount FROM spend ORDER BY period_start, source, campaign", &[])?
                .iter()
                .map(|r| SpendRow {
                    source: r.text(0),
                    campaign: r.text(1),
                    period_start: r.int(2),
                    amount: r.real(3),
                })
                .collect())
        })
    }

    fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let k = key.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one("SELECT value FROM settings WHERE key = $1", &p![k])?
                .and_then(|r| r.opt_text(0)))
        })
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (k, v) = (key.to_string(), value.to_string());
        self.w(move |tx| {
            tx.exec(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &p![k, v],
            )?;
            Ok(())
        })
    }

    fn metric_rows(&self, from: i64, to: i64) -> Result<Vec<LeadRow>, StoreError> {
        self.r(move |tx| {
            // SQLite, lacking statistics on the range, always reads through
            // `leads_created` and then sorts by seq. When the range holds a
            // good share of the leads (a young store, a long period), one
            // pass over the table in seq order is about twice as fast, with
            // no sort; `+created_at` keeps the index out. PostgreSQL's own
            // planner makes that choice from its statistics.
            let scan_table = tx.is_sqlite() && {
                let in_range = tx
                    .query_one(
                        "SELECT COUNT(*) FROM leads WHERE created_at >= $1 AND created_at < $2",
                        &p![from, to],
                    )?
                    .map_or(0, |r| r.int(0));
                let all = tx
                    .query_one("SELECT MAX(seq) FROM leads", &[])?
                    .and_then(|r| r.opt_int(0))
                    .unwrap_or(0);
                in_range * 4 >= all
            };
            let cond = if scan_table {
                "+created_at >= $1 AND +created_at < $2"
            } else {
                "created_at >= $1 AND created_at < $2"
            };
            Ok(tx
                .query(
                    &format!("SELECT {METRIC_COLS} FROM leads WHERE {cond} ORDER BY seq"),
                    &p![from, to],
                )?
                .into_iter()
                .map(lead_of)
                .collect())
        })
    }

    fn record_consents(&self, consents: Vec<ConsentRow>) -> Result<(), StoreError> {
        if consents.is_empty() {
            return Ok(());
        }
        self.w(move |tx| insert_consents(tx, &consents))
    }

    fn consents_of(&self, lead_id: &str) -> Result<Vec<ConsentRow>, StoreError> {
        let id = lead_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT 0, {CONSENT_COLS} FROM consents WHERE lead_id = $1 ORDER BY channel"),
                    &p![id],
                )?
                .iter()
                .map(consent_of)
                .collect())
        })
    }

    fn consents_of_many(&self, lead_ids: &[String]) -> Result<Vec<ConsentRow>, StoreError> {
        if lead_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = lead_ids.to_vec();
        self.r(move |tx| {
            let sql = format!(
                "SELECT 0, {CONSENT_COLS} FROM consents WHERE lead_id IN ({{ids}}) ORDER BY lead_id, channel"
            );
            Ok(query_in(tx, &sql, &ids)?.iter().map(consent_of).collect())
        })
    }

    fn consent_history_of(&self, lead_id: &str) -> Result<Vec<ConsentRow>, StoreError> {
        let id = lead_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT seq, {CONSENT_COLS} FROM consent_history WHERE lead_id = $1 ORDER BY seq"),
                    &p![id],
                )?
                .iter()
                .map(consent_of)
                .collect())
        })
    }

    fn deliveries_mentioning(&self, needles: &[String]) -> Result<Vec<DeliveryRow>, StoreError> {
        let Some((cond, params)) = mentions("payload", needles, 1) else {
            return Ok(Vec::new());
        };
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {DELIVERY_COLS} FROM outbox WHERE {cond} ORDER BY seq"),
                    &params,
                )?
                .iter()
                .map(delivery_of)
                .collect())
        })
    }

    fn jobs_mentioning(&self, needles: &[String]) -> Result<Vec<JobRow>, StoreError> {
        let Some((cond, params)) = mentions("result", needles, 1) else {
            return Ok(Vec::new());
        };
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT id, kind, status, total, done, result, error, created_at, finished_at FROM jobs WHERE result IS NOT NULL AND {cond} ORDER BY created_at, id"),
                    &params,
                )?
                .iter()
                .map(job_of)
                .collect())
        })
    }

    fn erase(&self, e: Erasure) -> Result<ErasureRow, StoreError> {
        self.w(move |tx| {
            let mut counts = serde_json::Map::new();
            let mut count = |k: &str, n: u64| {
                counts.insert(k.to_string(), serde_json::Value::from(n));
            };
            let (mut source, mut stage) = (None, None);
            if let Some(id) = &e.lead_id {
                if let Some(r) = tx.query_one(
                    "SELECT source, stage FROM leads WHERE id = $1",
                    &p![id.clone()],
                )? {
                    source = r.opt_text(0);
                    stage = r.opt_text(1);
                }
                for (table, key) in [
                    ("events", "events"),
                    ("ledger", "ledger"),
                    ("transitions", "transitions"),
                    ("assignments", "assignments"),
                    ("answers", "answers"),
                    ("lead_predictions", "predictions"),
                    ("consents", "consents"),
                    ("consent_history", "consent_history"),
                    ("sla_breaches", "breaches"),
                    ("emails", "emails"),
                    ("enrolments", "enrolments"),
                    ("tasks", "tasks"),
                ] {
                    let n = tx.exec(
                        &format!("DELETE FROM {table} WHERE lead_id = $1"),
                        &p![id.clone()],
                    )?;
                    count(key, n);
                }
                let (visitors, visitor_events) = delete_visitors_of(tx, id)?;
                count("visitors", visitors);
                count("visitor_events", visitor_events);
                tx.exec(DELETE_FIELDS_SQL, &p![id.clone()])?;
                let n = tx.exec("DELETE FROM leads WHERE id = $1", &p![id.clone()])?;
                count("leads", n);
            } else {
                count("leads", 0);
            }
            // Payloads name the lead by id and sometimes by email: the
            // subscriber's log keeps that a delivery happened, not about whom.
            let mut deliveries = 0;
            let mut rejects = 0;
            if let Some((cond, params)) = mentions("payload", &e.needles, 1) {
                let erased = serde_json::json!({ "erased": true }).to_string();
                let rows = tx.query(&format!("SELECT seq FROM outbox WHERE {cond}"), &params)?;
                for r in rows {
                    tx.exec(
                        "UPDATE outbox SET payload = $2, status = CASE WHEN status = 'pending' THEN 'erased' ELSE status END, last_error = NULL WHERE seq = $1",
                        &p![r.int(0), erased.clone()],
                    )?;
                    deliveries += 1;
                }
            }
            if let Some((cond, params)) = mentions("result", &e.needles, 1) {
                let rows = tx.query(
                    &format!("SELECT id, result FROM jobs WHERE result IS NOT NULL AND {cond}"),
                    &params,
                )?;
                for r in rows {
                    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(&r.text(1)) else {
                        // Not a document we can edit in place: drop it whole
                        // rather than keep what mentions the person.
                        tx.exec("UPDATE jobs SET result = NULL WHERE id = $1", &p![r.text(0)])?;
                        rejects += 1;
                        continue;
                    };
                    let n = redact(&mut doc, &e.needles);
                    if let Some(total) = doc.get_mut("rejected") {
                        if let Some(v) = total.as_u64() {
                            *total = serde_json::Value::from(v.saturating_sub(n as u64));
                        }
                    }
                    tx.exec(
                        "UPDATE jobs SET result = $2 WHERE id = $1",
                        &p![r.text(0), doc.to_string()],
                    )?;
                    rejects += n as u64;
                }
            }
            count("deliveries", deliveries);
            count("import_rejects", rejects);
            let counts = serde_json::Value::Object(counts).to_string();
            let row = tx
                .query_one(
                    "INSERT INTO erasures (at, actor, reason, source, stage, counts) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
                    &p![e.at, e.actor.clone(), e.reason.clone(), source.clone(), stage.clone(), counts.clone()],
                )?
                .ok_or_else(|| StoreError::Database("no erasure sequence returned".into()))?;
            Ok(ErasureRow {
                seq: row.int(0),
                at: e.at,
                actor: e.actor,
                reason: e.reason,
                source,
                stage,
                counts,
            })
        })
    }

    fn erasures(&self) -> Result<Vec<ErasureRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query(
                    "SELECT seq, at, actor, reason, source, stage, counts FROM erasures ORDER BY seq",
                    &[],
                )?
                .iter()
                .map(|r| ErasureRow {
                    seq: r.int(0),
                    at: r.int(1),
                    actor: r.text(2),
                    reason: r.text(3),
                    source: r.opt_text(4),
                    stage: r.opt_text(5),
                    counts: r.text(6),
                })
                .collect())
        })
    }

    fn inactive_leads(&self, before: i64, limit: usize) -> Result<Vec<LeadRow>, StoreError> {
        let limit = limit as i64;
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {LEAD_COLS} FROM leads WHERE created_at < $1 AND updated_at < $1 AND stage_changed_at < $1 AND NOT EXISTS (SELECT 1 FROM events WHERE events.lead_id = leads.id AND (events.at >= $1 OR events.received_at >= $1)) ORDER BY seq LIMIT $2"),
                    &p![before, limit],
                )?
                .into_iter()
                .map(lead_of)
                .collect())
        })
    }

    fn put_template(&self, t: TemplateRow) -> Result<(), StoreError> {
        self.w(move |tx| {
            tx.exec(
                &format!("INSERT INTO email_templates ({TEMPLATE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET name = excluded.name, subject = excluded.subject, body = excluded.body, purpose = excluded.purpose, updated_at = excluded.updated_at, updated_by = excluded.updated_by"),
                &p![t.id, t.name, t.subject, t.body, t.purpose, t.created_at, t.updated_at, t.updated_by],
            )?;
            Ok(())
        })
    }

    fn template(&self, id: &str) -> Result<Option<TemplateRow>, StoreError> {
        let id = id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {TEMPLATE_COLS} FROM email_templates WHERE id = $1"),
                    &p![id],
                )?
                .map(|r| template_of(&r)))
        })
    }

    fn templates(&self) -> Result<Vec<TemplateRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query(
                    &format!("SELECT {TEMPLATE_COLS} FROM email_templates ORDER BY id"),
                    &[],
                )?
                .iter()
                .map(template_of)
                .collect())
        })
    }

    fn delete_template(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.w(move |tx| Ok(tx.exec("DELETE FROM email_templates WHERE id = $1", &p![id])? > 0))
    }

    fn put_sequence(&self, q: SequenceRow) -> Result<(), StoreError> {
        self.w(move |tx| {
            tx.exec(
                &format!("INSERT INTO sequences ({SEQUENCE_COLS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, definition = excluded.definition, active = excluded.active, updated_at = excluded.updated_at"),
                &p![q.id, q.name, q.definition, q.active, q.created_at, q.updated_at],
            )?;
            Ok(())
        })
    }

    fn sequence(&self, id: &str) -> Result<Option<SequenceRow>, StoreError> {
        let id = id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {SEQUENCE_COLS} FROM sequences WHERE id = $1"),
                    &p![id],
                )?
                .map(|r| sequence_of(&r)))
        })
    }

    fn sequences(&self) -> Result<Vec<SequenceRow>, StoreError> {
        self.r(|tx| {
            Ok(tx
                .query(
                    &format!("SELECT {SEQUENCE_COLS} FROM sequences ORDER BY id"),
                    &[],
                )?
                .iter()
                .map(sequence_of)
                .collect())
        })
    }

    fn enrol(&self, e: EnrolmentRow) -> Result<bool, StoreError> {
        self.w(move |tx| {
            let n = tx.exec(
                &format!("INSERT INTO enrolments ({ENROLMENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (sequence_id, lead_id) DO NOTHING"),
                &enrolment_values(&e),
            )?;
            Ok(n > 0)
        })
    }

    fn enrolment(&self, id: &str) -> Result<Option<EnrolmentRow>, StoreError> {
        let id = id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {ENROLMENT_COLS} FROM enrolments WHERE id = $1"),
                    &p![id],
                )?
                .map(|r| enrolment_of(&r)))
        })
    }

    fn enrolments_of(&self, lead_id: &str) -> Result<Vec<EnrolmentRow>, StoreError> {
        let id = lead_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {ENROLMENT_COLS} FROM enrolments WHERE lead_id = $1 ORDER BY enrolled_at, id"),
                    &p![id],
                )?
                .iter()
                .map(enrolment_of)
                .collect())
        })
    }

    fn enrolments_in(
        &self,
        sequence_id: &str,
        limit: usize,
    ) -> Result<Vec<EnrolmentRow>, StoreError> {
        let id = sequence_id.to_string();
        let limit = limit as i64;
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {ENROLMENT_COLS} FROM enrolments WHERE sequence_id = $1 ORDER BY enrolled_at DESC, id LIMIT $2"),
                    &p![id, limit],
                )?
                .iter()
                .map(enrolment_of)
                .collect())
        })
    }

    fn enrolled_leads(&self, sequence_id: &str) -> Result<Vec<String>, StoreError> {
        let id = sequence_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    "SELECT lead_id FROM enrolments WHERE sequence_id = $1",
                    &p![id],
                )?
                .iter()
                .map(|r| r.text(0))
                .collect())
        })
    }

    fn due_enrolments(&self, now: i64, limit: usize) -> Result<Vec<EnrolmentRow>, StoreError> {
        let limit = limit as i64;
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {ENROLMENT_COLS} FROM enrolments WHERE status = 'active' AND next_run_at <= $1 ORDER BY next_run_at, id LIMIT $2"),
                    &p![now, limit],
                )?
                .iter()
                .map(enrolment_of)
                .collect())
        })
    }

    fn advance_enrolment(&self, e: EnrolmentRow, emails: Vec<EmailRow>) -> Result<(), StoreError> {
        self.w(move |tx| {
            let n = tx.exec(
                "UPDATE enrolments SET status = $2, step = $3, resumed = $4, next_run_at = $5, stop_reason = $6, updated_at = $7 WHERE id = $1 AND status = 'active'",
                &p![e.id.clone(), e.status, e.step, e.resumed, e.next_run_at, e.stop_reason, e.updated_at],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "enrolment {} is no longer active",
                    e.id
                )));
            }
            insert_emails(tx, &emails)
        })
    }

    fn stop_enrolments(
        &self,
        lead_id: &str,
        sequence_ids: Option<&[String]>,
        reason: &str,
        at: i64,
    ) -> Result<Vec<EnrolmentRow>, StoreError> {
        let lead_id = lead_id.to_string();
        let only: Option<Vec<String>> = sequence_ids.map(|s| s.to_vec());
        let reason = reason.to_string();
        self.w(move |tx| {
            let rows: Vec<EnrolmentRow> = tx
                .query(
                    &format!("SELECT {ENROLMENT_COLS} FROM enrolments WHERE lead_id = $1 AND status = 'active' ORDER BY id"),
                    &p![lead_id],
                )?
                .iter()
                .map(enrolment_of)
                .filter(|e| only.as_ref().is_none_or(|o| o.contains(&e.sequence_id)))
                .collect();
            let mut stopped = Vec::with_capacity(rows.len());
            for mut e in rows {
                tx.exec(
                    "UPDATE enrolments SET status = 'stopped', stop_reason = $2, next_run_at = NULL, updated_at = $3 WHERE id = $1",
                    &p![e.id.clone(), reason.clone(), at],
                )?;
                tx.exec(
                    "UPDATE emails SET status = 'cancelled', last_error = $2 WHERE enrolment_id = $1 AND status = 'queued'",
                    &p![e.id.clone(), format!("enrolment stopped: {reason}")],
                )?;
                e.status = "stopped".into();
                e.stop_reason = Some(reason.clone());
                e.next_run_at = None;
                e.updated_at = at;
                stopped.push(e);
            }
            Ok(stopped)
        })
    }

    fn queue_emails(&self, emails: Vec<EmailRow>) -> Result<(), StoreError> {
        self.w(move |tx| insert_emails(tx, &emails))
    }

    fn due_emails(&self, now: i64, limit: usize) -> Result<Vec<EmailRow>, StoreError> {
        let limit = limit as i64;
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {EMAIL_COLS} FROM emails WHERE status = 'queued' AND next_attempt_at <= $1 ORDER BY next_attempt_at, created_at, id LIMIT $2"),
                    &p![now, limit],
                )?
                .iter()
                .map(email_of)
                .collect())
        })
    }

    fn update_email(&self, m: &EmailRow) -> Result<(), StoreError> {
        let m = m.clone();
        self.w(move |tx| {
            tx.exec(
                "UPDATE emails SET status = $2, attempts = $3, next_attempt_at = $4, last_error = $5, message_id = $6, sent_at = $7, opened_at = $8, clicked_at = $9, replied_at = $10, bounced_at = $11 WHERE id = $1",
                &p![m.id, m.status, m.attempts, m.next_attempt_at, m.last_error, m.message_id, m.sent_at, m.opened_at, m.clicked_at, m.replied_at, m.bounced_at],
            )?;
            Ok(())
        })
    }

    fn email(&self, id: &str) -> Result<Option<EmailRow>, StoreError> {
        let id = id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {EMAIL_COLS} FROM emails WHERE id = $1"),
                    &p![id],
                )?
                .map(|r| email_of(&r)))
        })
    }

    fn email_by_message_id(&self, message_id: &str) -> Result<Option<EmailRow>, StoreError> {
        let id = message_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {EMAIL_COLS} FROM emails WHERE message_id = $1"),
                    &p![id],
                )?
                .map(|r| email_of(&r)))
        })
    }

    fn emails_of(&self, lead_id: &str) -> Result<Vec<EmailRow>, StoreError> {
        let id = lead_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {EMAIL_COLS} FROM emails WHERE lead_id = $1 ORDER BY created_at DESC, id DESC"),
                    &p![id],
                )?
                .iter()
                .map(email_of)
                .collect())
        })
    }

    fn emails_of_enrolment(&self, enrolment_id: &str) -> Result<Vec<EmailRow>, StoreError> {
        let id = enrolment_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {EMAIL_COLS} FROM emails WHERE enrolment_id = $1 ORDER BY created_at, id"),
                    &p![id],
                )?
                .iter()
                .map(email_of)
                .collect())
        })
    }

    fn insert_task(&self, t: TaskRow) -> Result<(), StoreError> {
        self.w(move |tx| insert_task(tx, &t))
    }

    fn task(&self, id: &str) -> Result<Option<TaskRow>, StoreError> {
        let id = id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {TASK_COLS} FROM tasks WHERE id = $1"),
                    &p![id],
                )?
                .map(|r| task_of(&r)))
        })
    }

    fn update_task(&self, t: &TaskRow) -> Result<(), StoreError> {
        let t = t.clone();
        self.w(move |tx| {
            let n = tx.exec(
                "UPDATE tasks SET owner = $2, title = $3, notes = $4, due_at = $5, status = $6, completed_at = $7, completed_by = $8, snoozed = $9, overdue_notified_at = $10 WHERE id = $1",
                &p![t.id.clone(), t.owner, t.title, t.notes, t.due_at, t.status, t.completed_at, t.completed_by, t.snoozed, t.overdue_notified_at],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("task {}", t.id)));
            }
            Ok(())
        })
    }

    fn list_tasks(&self, f: &TaskFilter) -> Result<Vec<TaskRow>, StoreError> {
        let f = f.clone();
        self.r(move |tx| {
            let mut conds = Vec::new();
            let mut params: Vec<SqlValue> = Vec::new();
            let mut add = |cond: &str, v: SqlValue| {
                params.push(v);
                conds.push(cond.replace('?', &format!("${}", params.len())));
            };
            if let Some(o) = f.owner {
                add("owner = ?", o.into());
            }
            if let Some(l) = f.lead_id {
                add("lead_id = ?", l.into());
            }
            if let Some(s) = f.status {
                add("status = ?", s.into());
            }
            if let Some(d) = f.due_before {
                add("due_at < ?", d.into());
            }
            let limit = f.limit.clamp(1, 10_000);
            let wh = if conds.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conds.join(" AND "))
            };
            Ok(tx
                .query(
                    &format!(
                        "SELECT {TASK_COLS} FROM tasks {wh} ORDER BY due_at, id LIMIT {limit}"
                    ),
                    &params,
                )?
                .iter()
                .map(task_of)
                .collect())
        })
    }

    fn overdue_unnotified(&self, now: i64, limit: usize) -> Result<Vec<TaskRow>, StoreError> {
        let limit = limit as i64;
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {TASK_COLS} FROM tasks WHERE status = 'open' AND due_at < $1 AND overdue_notified_at IS NULL ORDER BY due_at, id LIMIT $2"),
                    &p![now, limit],
                )?
                .iter()
                .map(task_of)
                .collect())
        })
    }

    fn task_counts(&self, from: i64, to: i64, now: i64) -> Result<TaskCounts, StoreError> {
        self.r(move |tx| {
            let r = tx
                .query_one(
                    "SELECT COALESCE(SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = 'open' AND due_at < $3 THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = 'done' AND completed_at <= due_at THEN 1 ELSE 0 END), 0) FROM tasks WHERE created_at >= $1 AND created_at < $2",
                    &p![from, to, now],
                )?
                .ok_or_else(|| StoreError::Database("no task counts returned".into()))?;
            Ok(TaskCounts {
                open: r.int(0),
                overdue: r.int(1),
                done: r.int(2),
                done_on_time: r.int(3),
            })
        })
    }

    // --- website tracking ----------------------------------------------------------------

    fn record_visit(&self, v: Visit) -> Result<(VisitorRow, Vec<bool>), StoreError> {
        self.w(move |tx| {
            touch_visitor(tx, &v.visitor_id, v.consent, v.at)?;
            let mut fresh = Vec::with_capacity(v.events.len());
            for e in v.events {
                let n = tx.exec(
                    "INSERT INTO visitor_events (visitor_id, id, kind, url, props, occurred_at, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (visitor_id, id) DO NOTHING",
                    &p![v.visitor_id.clone(), e.id, e.kind, e.url, e.props, e.occurred_at, e.received_at],
                )?;
                fresh.push(n > 0);
            }
            Ok((load_visitor(tx, &v.visitor_id)?, fresh))
        })
    }

    fn visitor(&self, id: &str) -> Result<Option<VisitorRow>, StoreError> {
        let id = id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {VISITOR_COLS} FROM visitors WHERE id = $1"),
                    &p![id],
                )?
                .map(|r| visitor_of(&r)))
        })
    }

    fn visitor_events(&self, visitor_id: &str) -> Result<Vec<VisitorEventRow>, StoreError> {
        let id = visitor_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {VISITOR_EVENT_COLS} FROM visitor_events WHERE visitor_id = $1 ORDER BY occurred_at, seq"),
                    &p![id],
                )?
                .iter()
                .map(visitor_event_of)
                .collect())
        })
    }

    fn link_visitor(
        &self,
        visitor_id: &str,
        lead_id: &str,
        at: i64,
    ) -> Result<VisitorRow, StoreError> {
        let (vid, lid) = (visitor_id.to_string(), lead_id.to_string());
        self.w(move |tx| {
            touch_visitor(tx, &vid, None, at)?;
            tx.exec(
                "UPDATE visitors SET lead_id = $2 WHERE id = $1",
                &p![vid.clone(), lid],
            )?;
            load_visitor(tx, &vid)
        })
    }

    fn visitors_of(&self, lead_id: &str) -> Result<Vec<VisitorRow>, StoreError> {
        let id = lead_id.to_string();
        self.r(move |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {VISITOR_COLS} FROM visitors WHERE lead_id = $1 ORDER BY first_seen, id"),
                    &p![id],
                )?
                .iter()
                .map(visitor_of)
                .collect())
        })
    }

    fn delete_stale_visitors(&self, before: i64) -> Result<u64, StoreError> {
        self.w(move |tx| {
            tx.exec(
                "DELETE FROM visitor_events WHERE visitor_id IN (SELECT id FROM visitors WHERE lead_id IS NULL AND last_seen < $1)",
                &p![before],
            )?;
            tx.exec(
                "DELETE FROM visitors WHERE lead_id IS NULL AND last_seen < $1",
                &p![before],
            )
        })
    }
}

const TEMPLATE_COLS: &str = "id, name, subject, body, purpose, created_at, updated_at, updated_by";

fn template_of(r: &Row) -> TemplateRow {
    TemplateRow {
        id: r.text(0),
        name: r.text(1),
        subject: r.text(2),
        body: r.text(3),
        purpose: r.text(4),
        created_at: r.int(5),
        updated_at: r.int(6),
        updated_by: r.text(7),
    }
}

const SEQUENCE_COLS: &str = "id, name, definition, active, created_at, updated_at";

fn sequence_of(r: &Row) -> SequenceRow {
    SequenceRow {
        id: r.text(0),
        name: r.text(1),
        definition: r.text(2),
        active: r.bool(3),
        created_at: r.int(4),
        updated_at: r.int(5),
    }
}

const ENROLMENT_COLS: &str = "id, sequence_id, lead_id, status, step, resumed, next_run_at, stage_at_enrol, stop_reason, enrolled_by, enrolled_at, updated_at";

fn enrolment_of(r: &Row) -> EnrolmentRow {
    EnrolmentRow {
        id: r.text(0),
        sequence_id: r.text(1),
        lead_id: r.text(2),
        status: r.text(3),
        step: r.int(4),
        resumed: r.bool(5),
        next_run_at: r.opt_int(6),
        stage_at_enrol: r.text(7),
        stop_reason: r.opt_text(8),
        enrolled_by: r.text(9),
        enrolled_at: r.int(10),
        updated_at: r.int(11),
    }
}

fn enrolment_values(e: &EnrolmentRow) -> Vec<SqlValue> {
    Vec::from(p![
        e.id.clone(),
        e.sequence_id.clone(),
        e.lead_id.clone(),
        e.status.clone(),
        e.step,
        e.resumed,
        e.next_run_at,
        e.stage_at_enrol.clone(),
        e.stop_reason.clone(),
        e.enrolled_by.clone(),
        e.enrolled_at,
        e.updated_at,
    ])
}

const EMAIL_COLS: &str = "id, lead_id, enrolment_id, step, template_id, to_addr, subject, body, purpose, status, attempts, next_attempt_at, last_error, message_id, created_at, sent_at, opened_at, clicked_at, replied_at, bounced_at";

fn email_of(r: &Row) -> EmailRow {
    EmailRow {
        id: r.text(0),
        lead_id: r.text(1),
        enrolment_id: r.opt_text(2),
        step: r.opt_int(3),
        template_id: r.opt_text(4),
        to_addr: r.text(5),
        subject: r.text(6),
        body: r.text(7),
        purpose: r.text(8),
        status: r.text(9),
        attempts: r.int(10),
        next_attempt_at: r.int(11),
        last_error: r.opt_text(12),
        message_id: r.opt_text(13),
        created_at: r.int(14),
        sent_at: r.opt_int(15),
        opened_at: r.opt_int(16),
        clicked_at: r.opt_int(17),
        replied_at: r.opt_int(18),
        bounced_at: r.opt_int(19),
    }
}

fn insert_emails(tx: &mut dyn Tx, emails: &[EmailRow]) -> Result<(), StoreError> {
    for m in emails {
        tx.exec(
            &format!("INSERT INTO emails ({EMAIL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"),
            &p![m.id.clone(), m.lead_id.clone(), m.enrolment_id.clone(), m.step, m.template_id.clone(), m.to_addr.clone(), m.subject.clone(), m.body.clone(), m.purpose.clone(), m.status.clone(), m.attempts, m.next_attempt_at, m.last_error.clone(), m.message_id.clone(), m.created_at, m.sent_at, m.opened_at, m.clicked_at, m.replied_at, m.bounced_at],
        )?;
    }
    Ok(())
}

/// Deletes the visitors linked to a lead and their events; returns how
/// many of each went.
fn delete_visitors_of(tx: &mut dyn Tx, lead_id: &str) -> Result<(u64, u64), StoreError> {
    let events = tx.exec(
        "DELETE FROM visitor_events WHERE visitor_id IN (SELECT id FROM visitors WHERE lead_id = $1)",
        &p![lead_id],
    )?;
    let visitors = tx.exec("DELETE FROM visitors WHERE lead_id = $1", &p![lead_id])?;
    Ok((visitors, events))
}

const VISITOR_COLS: &str = "id, lead_id, consent, first_seen, last_seen";
fn visitor_of(r: &Row) -> VisitorRow {
    VisitorRow {
        id: r.text(0),
        lead_id: r.opt_text(1),
        consent: r.opt_bool(2),
        first_seen: r.int(3),
        last_seen: r.int(4),
    }
}

const VISITOR_EVENT_COLS: &str = "seq, visitor_id, id, kind, url, props, occurred_at, received_at";
fn visitor_event_of(r: &Row) -> VisitorEventRow {
    VisitorEventRow {
        seq: r.int(0),
        visitor_id: r.text(1),
        id: r.text(2),
        kind: r.text(3),
        url: r.opt_text(4),
        props: r.text(5),
        occurred_at: r.int(6),
        received_at: r.int(7),
    }
}

/// Creates the visitor on first sight, else moves `last_seen` (never back)
/// and sets the consent flag when one is stated.
fn touch_visitor(
    tx: &mut dyn Tx,
    id: &str,
    consent: Option<bool>,
    at: i64,
) -> Result<(), StoreError> {
    // Stored as an integer on both backends (0/1), like the consent table.
    let consent = consent.map(i64::from);
    tx.exec(
        "INSERT INTO visitors (id, lead_id, consent, first_seen, last_seen) VALUES ($1, NULL, $2, $3, $3) ON CONFLICT (id) DO UPDATE SET last_seen = CASE WHEN excluded.last_seen > visitors.last_seen THEN excluded.last_seen ELSE visitors.last_seen END, consent = COALESCE(excluded.consent, visitors.consent)",
        &p![id, consent, at],
    )?;
    Ok(())
}

fn load_visitor(tx: &mut dyn Tx, id: &str) -> Result<VisitorRow, StoreError> {
    tx.query_one(
        &format!("SELECT {VISITOR_COLS} FROM visitors WHERE id = $1"),
        &p![id],
    )?
    .map(|r| visitor_of(&r))
    .ok_or_else(|| StoreError::NotFound(format!("visitor '{id}'")))
}

fn webhook_of(r: &Row) -> WebhookRow {
    WebhookRow {
        id: r.text(0),
        url: r.text(1),
        secret: r.text(2),
        events: r.text(3),
        active: r.bool(4),
        created_at: r.int(5),
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
