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

/// Reads, cleans, validates and de-duplicates the leads of one file,
/// keeping each lead's input record in `raw` (see [`load_leads_with`]).
pub fn load_leads(
    bytes: &[u8],
    format: InputFormat,
    model: &CompiledModel,
    mapping: &Mapping,
) -> Result<LeadBatch, IngestError> {
    load_leads_with(bytes, format, model, mapping, true)
}

/// Where the input record of an accepted lead is found again.
enum RawSource {
    /// The records of a JSON/NDJSON file, already held whole.
    Table(Vec<reader::RawRow>),
    /// A CSV file: the byte range of each accepted record in the body,
    /// read again only for the survivors and only when asked for.
    Csv {
        body_start: usize,
        delimiter: u8,
        ranges: Vec<std::ops::Range<usize>>,
    },
}

/// Reads, cleans, validates and de-duplicates the leads of one file.
/// With `keep_input_rows` false, `raw` stays empty: a CSV file's records
/// are then never held in memory beyond the chunk being read, which is
/// most of the memory (and on a fresh machine, much of the time) a large
/// file takes.
pub fn load_leads_with(
    bytes: &[u8],
    format: InputFormat,
    model: &CompiledModel,
    mapping: &Mapping,
    keep_input_rows: bool,
) -> Result<LeadBatch, IngestError> {
    let (headers, accepted, rows, mut rejects, warnings, source) = match format {
        InputFormat::Csv => read_csv_leads(bytes, model, mapping)?,
        InputFormat::Json | InputFormat::Ndjson => {
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
                .map(|(row, line, reason)| broken_reject(*row, *line, reason))
                .collect();
            let mut kept_rows = Vec::with_capacity(built.len());
            for (b, r) in built.iter().zip(&table.rows) {
                match b {
                    Ok(_) => kept_rows.push(r.row),
                    Err(reject) => rejects.push(reject.clone()),
                }
            }
            // Collected in place: a million leads are not copied once more.
            let accepted: Vec<Lead> = built.into_iter().filter_map(Result::ok).collect();
            let mut table_rows = table.rows;
            table_rows.retain(|r| kept_rows.binary_search(&r.row).is_ok());
            (
                table.headers,
                accepted,
                kept_rows,
                rejects,
                plan.warnings,
                RawSource::Table(table_rows),
            )
        }
    };
    rejects.sort_by_key(|r| r.row);
    let (leads, members, merges) = dedupe::dedupe(accepted, &rows, mapping);
    let mut index = LeadIndex::default();
    index.reserve(leads.len() * 2);
    let out_rows: Vec<usize> = members.iter().map(|m| rows[m[0]]).collect();
    for (li, lead) in leads.iter().enumerate() {
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
    let raw = if !keep_input_rows {
        Vec::new()
    } else {
        match source {
            RawSource::Table(mut table_rows) => members
                .iter()
                .map(|m| std::mem::take(&mut table_rows[m[0]].fields))
                .collect(),
            RawSource::Csv {
                body_start,
                delimiter,
                ranges,
            } => {
                let body = &reader::strip_bom(bytes)[body_start..];
                members
                    .par_iter()
                    .map(|m| reader::reread_record(&body[ranges[m[0]].clone()], delimiter))
                    .collect()
            }
        }
    };
    Ok(LeadBatch {
        headers,
        leads,
        raw,
        rows: out_rows,
        rejects,
        merges,
        warnings,
        index,
    })
}

fn broken_reject(row: usize, line: u64, reason: &str) -> Reject {
    Reject {
        file: "leads",
        row,
        line,
        column: None,
        value: None,
        reason: format!("cannot be read: {reason}"),
    }
}

/// What one chunk of a CSV file gave, apart from its leads (which are
/// written straight into their slots of the batch).
#[derive(Default)]
struct CsvChunk {
    /// Per record: its byte range within the chunk, when it became a lead.
    accepted: Vec<Option<std::ops::Range<usize>>>,
    /// Rows numbered within the chunk (1-based) until the chunks are joined.
    rejects: Vec<Reject>,
}

type CsvLeads = (
    Vec<String>,
    Vec<Lead>,
    Vec<usize>,
    Vec<Reject>,
    Vec<String>,
    RawSource,
);

/// Calls `each` for every data record of a chunk, in order: blank lines are
/// skipped, a record that cannot be split is passed as `Err` with its line.
fn for_each_record(
    rdr: &mut csv::Reader<&[u8]>,
    chunk: &[u8],
    first_line: u64,
    mut each: impl FnMut(Result<(&mut csv::ByteRecord, u64, std::ops::Range<usize>), (u64, String)>),
) {
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let line = reader::record_line(chunk, first_line, rec.position());
                if rec.len() == 1 && rec.get(0).is_some_and(|f| f.is_empty()) {
                    continue; // blank line
                }
                let start = rec.position().map_or(0, |p| p.byte() as usize);
                let end = rdr.position().byte() as usize;
                each(Ok((&mut rec, line, start..end)));
            }
            Err(e) => {
                let line = first_line + e.position().map_or(1, |p| p.line()) - 1;
                each(Err((line, e.to_string())));
            }
        }
    }
}

/// Reads a CSV lead file chunk by chunk in parallel, building each lead
/// from the record just read (no table of records is kept). A first, quick
/// pass counts each chunk's records so that every lead is built in its
/// final slot: a million leads are neither held twice nor copied.
fn read_csv_leads(
    bytes: &[u8],
    model: &CompiledModel,
    mapping: &Mapping,
) -> Result<CsvLeads, IngestError> {
    let (headers, body, delimiter, header_lines) = reader::csv_header(bytes)?;
    let body_start = reader::strip_bom(bytes).len() - body.len();
    let plan = mapping.plan(&headers, model)?;
    let width = headers.len();
    let chunks = reader::record_chunks(body, rayon::current_num_threads() * 8);
    let first_lines = reader::first_lines(body, &chunks, header_lines);
    let reader_of = |r: &std::ops::Range<usize>| {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(&body[r.clone()])
    };
    let counts: Vec<usize> = chunks
        .par_iter()
        .zip(&first_lines)
        .map(|(r, &first)| {
            let mut n = 0;
            for_each_record(&mut reader_of(r), &body[r.clone()], first, |_| n += 1);
            n
        })
        .collect();
    let mut slots: Vec<Lead> = Vec::new();
    slots.resize_with(counts.iter().sum(), Lead::default);
    let mut parts = Vec::with_capacity(chunks.len());
    let mut rest = slots.as_mut_slice();
    for ((r, &first), &n) in chunks.iter().zip(&first_lines).zip(&counts) {
        let (mine, tail) = rest.split_at_mut(n);
        parts.push((r.clone(), first, mine));
        rest = tail;
    }
    let outs: Vec<CsvChunk> = parts
        .into_par_iter()
        .map(|(r, first, mine)| {
            let mut out = CsvChunk {
                accepted: Vec::with_capacity(mine.len()),
                ..CsvChunk::default()
            };
            let mut raw = reader::RawRow {
                row: 0,
                line: 0,
                fields: csv::StringRecord::new(),
            };
            let mut k = 0;
            for_each_record(&mut reader_of(&r), &body[r.clone()], first, |item| {
                // The counting pass saw the same records; never more.
                if k >= mine.len() {
                    return;
                }
                k += 1;
                out.accepted.push(None);
                let (rec, line, range) = match item {
                    Ok(x) => x,
                    Err((line, why)) => return out.rejects.push(broken_reject(k, line, &why)),
                };
                if rec.len() != width {
                    let why = format!("has {} fields but the header has {width}", rec.len());
                    return out.rejects.push(broken_reject(k, line, &why));
                }
                // The record's buffers are handed back and forth, so no
                // record allocates once the first few have grown them.
                let taken = std::mem::take(rec);
                raw.fields = match csv::StringRecord::from_byte_record(taken) {
                    Ok(r) => r,
                    Err(e) => csv::StringRecord::from_byte_record_lossy(e.into_byte_record()),
                };
                raw.row = k;
                raw.line = line;
                match leads::build_lead(&raw, &headers, &plan, mapping, model) {
                    Ok(lead) => {
                        mine[k - 1] = lead;
                        out.accepted[k - 1] = Some(range);
                    }
                    Err(reject) => out.rejects.push(reject),
                }
                *rec = std::mem::take(&mut raw.fields).into_byte_record();
            });
            out
        })
        .collect();
    // Number records across chunks in file order, unreadable ones
    // included, so that a row number always matches the data record a user
    // counts.
    let mut rows = Vec::with_capacity(slots.len());
    let mut ranges = Vec::with_capacity(slots.len());
    let mut keep = Vec::with_capacity(slots.len());
    let mut rejects = Vec::new();
    let mut base = 0;
    for ((chunk, out), &n) in chunks.iter().zip(outs).zip(&counts) {
        for (local, range) in out.accepted.into_iter().enumerate() {
            keep.push(range.is_some());
            if let Some(range) = range {
                rows.push(base + local + 1);
                ranges.push(chunk.start + range.start..chunk.start + range.end);
            }
        }
        for mut r in out.rejects {
            r.row += base;
            rejects.push(r);
        }
        base += n;
    }
    let mut kept = keep.iter();
    slots.retain(|_| kept.next().copied().unwrap_or(false));
    Ok((
        headers,
        slots,
        rows,
        rejects,
        plan.warnings,
        RawSource::Csv {
            body_start,
            delimiter,
            ranges,
        },
    ))
}
