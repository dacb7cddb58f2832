//! Reading lead exports into clean, typed, de-duplicated leads for a
//! scoring model: readers (CSV/JSON/NDJSON), column mapping, value
//! normalisation, validation with row-level rejects, duplicate merging, and
//! events attached to their leads. Works over bytes; no database, no
//! network.

pub mod dedupe;
pub mod events;
pub mod leads;
pub mod mapping;
pub mod normalize;
pub mod reader;
pub mod refdata;
pub mod time;

use compact_str::CompactString;
use leadq_core::{CompiledModel, Lead};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use thiserror::Error;

pub use dedupe::Merge;
pub use events::{EventStats, EventStore};
pub use leads::Reject;
pub use mapping::Mapping;
pub use reader::InputFormat;

#[derive(Debug, Error)]
pub enum IngestError {
    #[error("{0}")]
    Format(String),
    #[error("mapping: {0}")]
    Mapping(String),
}

/// Lead ids and emails → a lead's position in its batch. Keys are compact
/// strings: most ids and emails fit inline, so a million leads' index needs
/// no allocation per key.
pub type LeadIndex = FxHashMap<CompactString, u32>;

/// Leads read from one file, ready to score.
#[derive(Debug, Default)]
pub struct LeadBatch {
    pub headers: Vec<String>,
    pub leads: Vec<Lead>,
    /// The input record of each lead's surviving row, for pass-through.
    pub raw: Vec<csv::StringRecord>,
    /// The input row number of each lead's surviving row.
    pub rows: Vec<usize>,
    pub rejects: Vec<Reject>,
    pub merges: Vec<Merge>,
    pub warnings: Vec<String>,
    /// Lead ids, merged-away ids and emails → position in `leads`.
    pub index: LeadIndex,
}

impl LeadBatch {
    /// Total input records seen (accepted, rejected or merged).
    pub fn records(&self) -> usize {
        self.leads.len()
            + self.rejects.len()
            + self
                .merges
                .iter()
                .map(|m| m.merged_rows.len())
                .sum::<usize>()
    }
}

/// Records cleaned one by one, without de-duplication: what a store needs
/// when it re-builds its own leads (already unique) for a model.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub headers: Vec<String>,
    /// One entry per input record, in input order, with its 1-based row.
    pub results: Vec<(usize, Result<Lead, Reject>)>,
    pub warnings: Vec<String>,
}

/// Reads and cleans every record of `bytes` for `model`, keeping input
/// order and one result per record (unreadable records become rejects).
pub fn clean_records(
    bytes: &[u8],
    format: InputFormat,
    model: &CompiledModel,
    mapping: &Mapping,
) -> Result<Cleaned, IngestError> {
    let table = reader::read_table(bytes, format)?;
    let plan = mapping.plan(&table.headers, model)?;
    let mut results: Vec<(usize, Result<Lead, Reject>)> = table
        .rows
        .par_iter()
        .map(|r| {
            (
                r.row,
                leads::build_lead(r, &table.headers, &plan, mapping, model),
            )
        })
        .collect();
    for (row, line, reason) in &table.broken {
        results.push((
            *row,
            Err(Reject {
                file: "leads",
                row: *row,
                line: *line,
                column: None,
                value: None,
                reason: format!("cannot be read: {reason}"),
            }),
        ));
    }
    results.sort_by_key(|(row, _)| *row);
    Ok(Cleaned {
        headers: table.headers,
        results,
        warnings: plan.warnings,
    })
}

/// Reads, cleans, validates and de-duplicates the leads of one file.
pub fn load_leads(
    bytes: &[u8],
    format: InputFormat,
    model: &CompiledModel,
    mapping: &Mapping,
) -> Result<LeadBatch, IngestError> {
    let table = reader::read_table(bytes, format)?;
    let plan = mapping.plan(&table.headers, model)?;
    let built: Vec<Result<Lead, Reject>> = table
        .rows
        .par_iter()
        .map(|r| leads::build_lead(r, &table.headers, &plan, mapping, model))
        .collect();
    let mut rejects: Vec<Reject> = table
        .broken
        .iter()
        .map(|(row, line, reason)| Reject {
            file: "leads",
            row: *row,
            line: *line,
            column: None,
            value: None,
            reason: format!("cannot be read: {reason}"),
        })
        .collect();
    let mut raw_idx = Vec::with_capacity(built.len());
    for (i, b) in built.iter().enumerate() {
        match b {
            Ok(_) => raw_idx.push(i),
            Err(r) => rejects.push(r.clone()),
        }
    }
    // Collected in place: a million leads are not copied once more.
    let accepted: Vec<Lead> = built.into_iter().filter_map(Result::ok).collect();
    rejects.sort_by_key(|r| r.row);
    let rows: Vec<usize> = raw_idx.iter().map(|&i| table.rows[i].row).collect();
    let (leads, members, merges) = dedupe::dedupe(accepted, &rows, mapping);
    let mut index = LeadIndex::default();
    index.reserve(leads.len() * 2);
    let mut raw = Vec::with_capacity(leads.len());
    let mut out_rows = Vec::with_capacity(leads.len());
    let mut table_rows = table.rows;
    for (li, (lead, m)) in leads.iter().zip(&members).enumerate() {
        let survivor = raw_idx[m[0]];
        raw.push(std::mem::take(&mut table_rows[survivor].fields));
        out_rows.push(rows[m[0]]);
        index.insert(lead.id.clone(), li as u32);
        if let Some(e) = &lead.contact.email {
            index
                .entry(CompactString::new(e.as_str()))
                .or_insert(li as u32);
        }
    }
    for m in &merges {
        if let Some(&pos) = index.get(m.survivor.as_str()) {
            for id in &m.merged_ids {
                index.entry(CompactString::new(id)).or_insert(pos);
            }
        }
    }
    Ok(LeadBatch {
        headers: table.headers,
        leads,
        raw,
        rows: out_rows,
        rejects,
        merges,
        warnings: plan.warnings,
        index,
    })
}
