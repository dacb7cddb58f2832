//! Reading engagement events, attaching them to leads and dropping repeated
//! deliveries (same idempotency key for the same lead counts once).
//!
//! Only what the model reads is kept: events of kinds no rule listens to are
//! counted and skipped at read time, and only the properties the model's
//! conditions name are stored.

use crate::leads::Reject;
use crate::mapping::{header_key, snake_case};
use crate::reader::{self, InputFormat};
use crate::time::parse_timestamp;
use crate::IngestError;
use compact_str::CompactString;
use leadq_core::event::EventKind;
use leadq_core::event::NO_VALUE;
use leadq_core::{CompiledModel, EventsView, Timestamp};
use rayon::prelude::*;
use std::hash::{Hash, Hasher};

/// Events grouped by lead, in the columnar layout the scorer reads.
#[derive(Debug, Default)]
pub struct EventStore {
    offsets: Vec<u32>,
    kinds: Vec<u16>,
    at: Vec<Timestamp>,
    /// Value ids into `values`, `props_per_event` per event.
    props: Vec<u32>,
    values: Vec<CompactString>,
    props_per_event: usize,
}

/// Distinct property values, each kept once, and their ids.
#[derive(Default)]
struct Dictionary {
    ids: rustc_hash::FxHashMap<CompactString, u32>,
    values: Vec<CompactString>,
}

impl Dictionary {
    fn id(&mut self, value: &str) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        self.insert(CompactString::new(value))
    }

    fn insert(&mut self, value: CompactString) -> u32 {
        if let Some(&id) = self.ids.get(&value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.clone());
        self.ids.insert(value, id);
        id
    }
}

/// A kind index no model uses: marks a dropped duplicate in place.
pub const TOMBSTONE: u16 = u16::MAX;

impl EventStore {
    /// An empty store for `leads` leads.
    pub fn empty(leads: usize, props_per_event: usize) -> Self {
        EventStore {
            offsets: vec![0; leads + 1],
            props_per_event,
            ..Default::default()
        }
    }

    pub fn view(&self, lead: usize) -> EventsView<'_> {
        let (a, b) = (self.offsets[lead] as usize, self.offsets[lead + 1] as usize);
        let w = self.props_per_event;
        EventsView {
            kinds: &self.kinds[a..b],
            at: &self.at[a..b],
            props: &self.props[a * w..b * w],
            values: &self.values,
            props_per_event: w,
        }
    }

    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// Events (duplicates excluded) dated after `as_of`.
    pub fn count_after(&self, as_of: Timestamp) -> u64 {
        self.kinds
            .iter()
            .zip(&self.at)
            .filter(|(k, t)| **k != TOMBSTONE && **t > as_of)
            .count() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }
}

/// What happened to the events of a file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventStats {
    pub read: u64,
    /// Events attached to a lead (duplicates excluded).
    pub used: u64,
    /// Of those, events dated after the scoring instant (ignored by scores).
    pub after_as_of: u64,
    pub duplicates: u64,
    pub unknown_lead: u64,
    pub kinds_not_in_model: u64,
    pub rejected: u64,
}

struct Columns {
    lead: usize,
    /// An email column used when the lead column of a row is empty.
    email: Option<usize>,
    kind: usize,
    at: usize,
    key: Option<usize>,
    props: Vec<Option<usize>>,
    json_props: Option<usize>,
}

fn find_columns(headers: &[String], model: &CompiledModel) -> Result<Columns, IngestError> {
    let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
    let find = |names: &[&str]| names.iter().find_map(|n| keys.iter().position(|k| k == n));
    let lead = find(&[
        "leadid",
        "lead",
        "prospectid",
        "contactid",
        "email",
        "emailaddress",
        "id",
    ])
    .ok_or_else(|| {
        IngestError::Format(format!(
            "the events file has no lead column (lead_id or email); columns: {}",
            headers.join(", ")
        ))
    })?;
    let kind = find(&[
        "type",
        "eventtype",
        "event",
        "kind",
        "activity",
        "activitytype",
        "name",
        "eventname",
    ])
    .ok_or_else(|| IngestError::Format("the events file has no event type column (type)".into()))?;
    let at = find(&[
        "timestamp",
        "occurredat",
        "at",
        "time",
        "eventtime",
        "date",
        "datetime",
        "createdat",
    ])
    .ok_or_else(|| {
        IngestError::Format("the events file has no timestamp column (timestamp)".into())
    })?;
    let key = find(&["idempotencykey", "eventid", "key", "messageid", "dedupekey"]);
    let props = model
        .event_properties
        .iter()
        .map(|p| {
            headers
                .iter()
                .position(|h| snake_case(h) == *p || header_key(h) == header_key(p))
                // A nested JSON `properties` object arrives flattened.
                .or_else(|| {
                    headers
                        .iter()
                        .position(|h| h.rsplit_once('.').is_some_and(|(_, last)| last == p))
                })
        })
        .collect();
    let json_props = find(&["properties", "props", "data", "payload"]);
    let email = find(&["email", "emailaddress"]).filter(|&e| e != lead);
    Ok(Columns {
        lead,
        email,
        kind,
        at,
        key,
        props,
        json_props,
    })
}

struct Parsed {
    lead: Vec<u32>,
    kind: Vec<u16>,
    at: Vec<Timestamp>,
    key: Vec<u64>,
    /// Ids into `dictionary`, which is this part's own.
    props: Vec<u32>,
    dictionary: Dictionary,
    stats: EventStats,
    rejects: Vec<Reject>,
}

fn kind_index(model: &CompiledModel, raw: &str) -> Option<u16> {
    if let Some(i) = model.event_kind_index(raw) {
        return Some(i);
    }
    EventKind::parse(raw).and_then(|k| model.event_kind_index(k.as_str()))
}

fn hash_of(parts: &[&[u8]]) -> u64 {
    // Keys are compared within one lead's events only, so a fast 64-bit hash
    // is plenty.
    let mut h = rustc_hash::FxHasher::default();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

fn parse_record(
    rec: &csv::ByteRecord,
    cols: &Columns,
    model: &CompiledModel,
    index: &crate::LeadIndex,
    row: usize,
    line: u64,
    out: &mut Parsed,
) {
    out.stats.read += 1;
    let field = |i: usize| {
        rec.get(i)
            .map(|b| std::str::from_utf8(b).unwrap_or("").trim())
            .unwrap_or("")
    };
    let reject = |out: &mut Parsed, col: &str, value: &str, reason: String| {
        out.stats.rejected += 1;
        // Keep the first few thousand rejects in full; count the rest.
        if out.rejects.len() < 10_000 {
            out.rejects.push(Reject {
                file: "events",
                row,
                line,
                column: Some(col.to_string()),
                value: Some(value.to_string()),
                reason,
            });
        }
    };
    let kind_raw = field(cols.kind);
    if kind_raw.is_empty() {
        return reject(out, "type", "", "the event type is empty".into());
    }
    let Some(kind) = kind_index(model, kind_raw) else {
        out.stats.kinds_not_in_model += 1;
        return;
    };
    let mut lead_raw = field(cols.lead);
    if lead_raw.is_empty() {
        lead_raw = cols.email.map(field).unwrap_or("");
    }
    let lead = match index.get(lead_raw) {
        Some(&l) => l,
        None => match index.get(lead_raw.to_lowercase().as_str()) {
            Some(&l) => l,
            None => {
                out.stats.unknown_lead += 1;
                return;
            }
        },
    };
    let at_raw = field(cols.at);
    let Some(at) = parse_timestamp(at_raw) else {
        return reject(
            out,
            "timestamp",
            at_raw,
            format!("'{at_raw}' is not a timestamp (use RFC 3339, e.g. 2026-03-01T12:00:00Z)"),
        );
    };
    let key = match cols.key.map(field) {
        Some(k) if !k.is_empty() => hash_of(&[k.as_bytes()]),
        // Without a key, an identical record is the same delivery.
        _ => hash_of(&rec.iter().collect::<Vec<_>>()),
    };
    let json: Option<serde_json::Map<String, serde_json::Value>> = match cols.json_props {
        Some(j) if cols.props.iter().any(Option::is_none) && !field(j).is_empty() => {
            serde_json::from_str(field(j)).ok()
        }
        _ => None,
    };
    for (pi, col) in cols.props.iter().enumerate() {
        let id = match col {
            Some(c) => match field(*c) {
                "" => NO_VALUE,
                v => out.dictionary.id(v),
            },
            None => match json
                .as_ref()
                .and_then(|m| m.get(&model.event_properties[pi]))
            {
                None => NO_VALUE,
                Some(serde_json::Value::String(v)) => out.dictionary.id(v),
                Some(other) => out.dictionary.insert(CompactString::new(other.to_string())),
            },
        };
        out.props.push(id);
    }
    out.lead.push(lead);
    out.kind.push(kind);
    out.at.push(at);
    out.key.push(key);
}

/// Reads an events file and groups its events under the leads of `index`
/// (lead ids and emails → lead position). `leads` is the number of leads.
pub fn read_events(
    bytes: &[u8],
    format: InputFormat,
    model: &CompiledModel,
    index: &crate::LeadIndex,
    leads: usize,
) -> Result<(EventStore, EventStats, Vec<Reject>), IngestError> {
    let w = model.event_properties.len();
    // Reserve for the rows a chunk likely holds, so the columns do not
    // grow by copying (an event row is rarely under 40 bytes).
    let new_parsed = |bytes: usize| Parsed {
        lead: Vec::with_capacity(bytes / 40),
        kind: Vec::with_capacity(bytes / 40),
        at: Vec::with_capacity(bytes / 40),
        key: Vec::with_capacity(bytes / 40),
        props: Vec::with_capacity(bytes / 40 * w),
        dictionary: Dictionary::default(),
        stats: EventStats::default(),
        rejects: vec![],
    };
    let parts: Vec<Parsed> = match format {
        InputFormat::Csv => {
            let (headers, body, delimiter, first_line) = reader::csv_header(bytes)?;
            let header_lines = first_line;
            let cols = find_columns(&headers, model)?;
            reader::par_chunks(body, header_lines, delimiter, |rdr, chunk, first_line| {
                let mut out = new_parsed(chunk.len());
                let mut rec = csv::ByteRecord::new();
                loop {
                    match rdr.read_byte_record(&mut rec) {
                        Ok(false) => break,
                        Ok(true) => {
                            let line = reader::record_line(chunk, first_line, rec.position());
                            if rec.len() == 1 && rec[0].is_empty() {
                                continue;
                            }
                            // Rows are numbered by line here: counting records
                            // across parallel chunks would need a second pass.
                            parse_record(
                                &rec,
                                &cols,
                                model,
                                index,
                                (line + 1 - header_lines) as usize,
                                line,
                                &mut out,
                            );
                        }
                        Err(e) => {
                            out.stats.read += 1;
                            out.stats.rejected += 1;
                            let line = first_line + e.position().map_or(1, |p| p.line()) - 1;
                            out.rejects.push(Reject {
                                file: "events",
                                row: (line + 1 - header_lines) as usize,
                                line,
                                column: None,
                                value: None,
                                reason: e.to_string(),
                            });
                        }
                    }
                }
                out
            })
        }
        InputFormat::Json | InputFormat::Ndjson => {
            let table = reader::read_table(bytes, format)?;
            let cols = find_columns(&table.headers, model)?;
            let mut out = new_parsed(0);
            for (row, line, reason) in &table.broken {
                out.stats.read += 1;
                out.stats.rejected += 1;
                out.rejects.push(Reject {
                    file: "events",
                    row: *row,
                    line: *line,
                    column: None,
                    value: None,
                    reason: reason.clone(),
                });
            }
            for r in &table.rows {
                parse_record(
                    r.fields.as_byte_record(),
                    &cols,
                    model,
                    index,
                    r.row,
                    r.line,
                    &mut out,
                );
            }
            vec![out]
        }
    };
    // Counting sort by lead keeps file order within each lead.
    let mut counts = vec![0u32; leads + 1];
    let mut stats = EventStats::default();
    let mut rejects = Vec::new();
    for p in &parts {
        for &l in &p.lead {
            counts[l as usize + 1] += 1;
        }
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    let offsets = counts.clone();
    let total = *offsets.last().unwrap_or(&0) as usize;
    let mut kinds = vec![0u16; total];
    let mut at = vec![Timestamp(0); total];
    let mut keys = vec![0u64; total];
    let mut props: Vec<u32> = vec![NO_VALUE; total * w];
    let mut dictionary = Dictionary::default();
    let mut cursor = counts;
    for mut p in parts {
        // This part's value ids → the ids of the whole file.
        let global: Vec<u32> = std::mem::take(&mut p.dictionary.values)
            .into_iter()
            .map(|v| dictionary.insert(v))
            .collect();
        drop(p.dictionary);
        for i in 0..p.lead.len() {
            let slot = &mut cursor[p.lead[i] as usize];
            let pos = *slot as usize;
            *slot += 1;
            kinds[pos] = p.kind[i];
            at[pos] = p.at[i];
            keys[pos] = p.key[i];
            for j in 0..w {
                let id = p.props[i * w + j];
                if id != NO_VALUE {
                    props[pos * w + j] = global[id as usize];
                }
            }
        }
        stats.read += p.stats.read;
        stats.unknown_lead += p.stats.unknown_lead;
        stats.kinds_not_in_model += p.stats.kinds_not_in_model;
        stats.rejected += p.stats.rejected;
        rejects.append(&mut p.rejects);
    }
    // Repeated deliveries: the first one of a key per lead counts.
    let dups: Vec<usize> = (0..leads)
        .into_par_iter()
        .flat_map_iter(|l| {
            let (a, b) = (offsets[l] as usize, offsets[l + 1] as usize);
            let ks = &keys[a..b];
            let mut found = Vec::new();
            if ks.len() > 1 {
                let mut seen: Vec<(u64, usize)> = ks.iter().copied().zip(a..b).collect();
                seen.sort_unstable();
                for pair in seen.windows(2) {
                    if pair[0].0 == pair[1].0 {
                        found.push(pair[1].1.max(pair[0].1));
                    }
                }
            }
            found
        })
        .collect();
    for &d in &dups {
        kinds[d] = TOMBSTONE;
    }
    stats.duplicates = dups.len() as u64;
    stats.used = total as u64 - stats.duplicates;
    rejects.sort_by_key(|r| r.line);
    Ok((
        EventStore {
            offsets,
            kinds,
            at,
            props,
            values: dictionary.values,
            props_per_event: w,
        },
        stats,
        rejects,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = r#"
name = "e"
[grades]
A = 3
B = 2
C = 1
[bands]
1 = 30
2 = 10
3 = 1
[[engagement]]
name = "pricing"
event = "page_view"
when = 'event.url.startsWith("/pricing")'
points = 10
[[engagement]]
name = "demo"
event = "demo_request"
points = 30
[mql]
when = "band <= 2"
"#;

    fn index() -> crate::LeadIndex {
        [
            (CompactString::new("A1"), 0u32),
            (CompactString::new("bob@gmail.com"), 1u32),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn ndjson_events_read_nested_properties_and_fall_back_to_email() {
        let model = CompiledModel::from_toml(MODEL).unwrap();
        let text = br#"{"lead_id": "A1", "type": "page_view", "timestamp": "2026-10-30T00:00:00Z", "properties": {"url": "/pricing"}, "event_id": "e1"}
{"lead_id": "A1", "type": "page_view", "timestamp": "2026-10-30T00:00:00Z", "properties": {"url": "/pricing"}, "event_id": "e1"}
{"email": "Bob@Gmail.com", "type": "Demo Request", "timestamp": "2026-10-31T00:00:00Z", "event_id": "e2"}
"#;
        let (store, stats, rejects) =
            read_events(text, InputFormat::Ndjson, &model, &index(), 2).unwrap();
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(
            (stats.read, stats.used, stats.duplicates, stats.unknown_lead),
            (3, 2, 1, 0)
        );
        let a1 = store.view(0);
        assert_eq!(a1.prop(0, 0), Some("/pricing"));
        assert_eq!(
            store.view(1).len(),
            1,
            "the demo request reached bob through his email"
        );
    }

    #[test]
    fn a_bad_timestamp_is_rejected_with_its_line_and_the_rest_is_kept() {
        let model = CompiledModel::from_toml(MODEL).unwrap();
        let text = b"lead_id,type,timestamp\nA1,demo_request,2026-10-01\nA1,demo_request,yesterday\nA1,demo_request,2026-10-02\n";
        let (store, stats, rejects) =
            read_events(text, InputFormat::Csv, &model, &index(), 2).unwrap();
        assert_eq!(stats.rejected, 1);
        assert_eq!((rejects[0].row, rejects[0].line), (2, 3));
        assert!(
            rejects[0].reason.contains("'yesterday' is not a timestamp"),
            "{}",
            rejects[0].reason
        );
        assert_eq!(store.view(0).len(), 2);
    }
}
