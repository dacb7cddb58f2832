//! Reading lead and event files: CSV (any of `,` `;` tab `|`, detected; a
//! UTF-8 BOM; CRLF or LF), a JSON array of objects, or NDJSON. Everything is
//! turned into a header and string records; typing happens later.

use crate::IngestError;
use rayon::prelude::*;
use std::ops::Range;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Csv,
    Json,
    Ndjson,
}

impl InputFormat {
    /// Guesses the format from the file name, then from the first byte.
    pub fn detect(path: &Path, bytes: &[u8]) -> InputFormat {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "json" => return InputFormat::Json,
            "ndjson" | "jsonl" => return InputFormat::Ndjson,
            "csv" | "tsv" | "txt" => return InputFormat::Csv,
            _ => {}
        }
        match strip_bom(bytes).iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => InputFormat::Json,
            Some(b'{') => InputFormat::Ndjson,
            _ => InputFormat::Csv,
        }
    }

    pub fn parse(s: &str) -> Option<InputFormat> {
        match s.to_ascii_lowercase().as_str() {
            "csv" | "tsv" => Some(InputFormat::Csv),
            "json" => Some(InputFormat::Json),
            "ndjson" | "jsonl" => Some(InputFormat::Ndjson),
            _ => None,
        }
    }
}

pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// One input record with where it came from.
#[derive(Debug, Clone)]
pub struct RawRow {
    /// 1-based number of the record among the data records.
    pub row: usize,
    /// 1-based line of the file where the record starts.
    pub line: u64,
    pub fields: csv::StringRecord,
}

/// A whole input file as text records.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<RawRow>,
    /// Records that could not even be split into fields.
    pub broken: Vec<(usize, u64, String)>,
}

/// Picks the delimiter whose count per line is highest and steady over the
/// first lines, ignoring characters inside quotes.
pub fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let sample = &bytes[..bytes.len().min(64 * 1024)];
    let mut best = (b',', 0usize, false);
    for cand in [b',', b';', b'\t', b'|'] {
        let mut counts = Vec::new();
        let mut in_quotes = false;
        let mut n = 0;
        for &b in sample {
            match b {
                b'"' => in_quotes = !in_quotes,
                b'\n' if !in_quotes => {
                    counts.push(n);
                    n = 0;
                    if counts.len() >= 50 {
                        break;
                    }
                }
                _ if b == cand && !in_quotes => n += 1,
                _ => {}
            }
        }
        if n > 0 {
            counts.push(n);
        }
        let Some(&first) = counts.first() else {
            continue;
        };
        let steady = counts.iter().all(|&c| c == first);
        // Prefer steady over merely frequent, then the higher count.
        if first > 0 && ((steady && !best.2) || (steady == best.2 && first > best.1)) {
            best = (cand, first, steady);
        }
    }
    best.0
}

/// Splits `body` into about `parts` ranges that each end at a record
/// boundary: a newline outside quotes.
pub fn record_chunks(body: &[u8], parts: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1);
    if body.is_empty() {
        return vec![];
    }
    let target = body.len() / parts + 1;
    let mut out = Vec::with_capacity(parts);
    if memchr::memchr(b'"', body).is_none() {
        // No quotes anywhere: every newline is a boundary.
        let mut start = 0;
        while start < body.len() {
            let want = (start + target).min(body.len());
            let end = if want >= body.len() {
                body.len()
            } else {
                memchr::memchr(b'\n', &body[want..]).map_or(body.len(), |i| want + i + 1)
            };
            out.push(start..end);
            start = end;
        }
        return out;
    }
    let mut in_quotes = false;
    let mut start = 0;
    let mut next_cut = target;
    for i in memchr::memchr2_iter(b'"', b'\n', body) {
        if body[i] == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && i + 1 >= next_cut {
            out.push(start..i + 1);
            start = i + 1;
            next_cut = start + target;
        }
    }
    if start < body.len() {
        out.push(start..body.len());
    }
    out
}

/// Runs `f` over each chunk of CSV records in parallel. `f` gets a reader
/// over the chunk (no header) and the 1-based file line its first record
/// starts on; results come back in file order.
pub fn par_chunks<T: Send>(
    body: &[u8],
    line_offset: u64,
    delimiter: u8,
    f: impl Fn(&mut csv::Reader<&[u8]>, &[u8], u64) -> T + Sync,
) -> Vec<T> {
    par_chunks_at(body, line_offset, delimiter, f)
        .into_iter()
        .map(|(_, t)| t)
        .collect()
}

/// Reads the one CSV record in `bytes` (a range a chunk reader reported)
/// again, as text; bytes that are not UTF-8 are replaced, as on first read.
pub fn reread_record(bytes: &[u8], delimiter: u8) -> csv::StringRecord {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut rec = csv::ByteRecord::new();
    // The range held a whole record when it was first read.
    let _ = rdr.read_byte_record(&mut rec);
    csv::StringRecord::from_byte_record_lossy(rec)
}

/// The 1-based file line each chunk of `body` starts on, the body itself
/// starting on `line_offset`.
pub fn first_lines(body: &[u8], chunks: &[Range<usize>], line_offset: u64) -> Vec<u64> {
    let lines: Vec<u64> = chunks
        .par_iter()
        .map(|r| memchr::memchr_iter(b'\n', &body[r.clone()]).count() as u64)
        .collect();
    let mut first_lines = Vec::with_capacity(chunks.len());
    let mut acc = line_offset;
    for n in &lines {
        first_lines.push(acc);
        acc += n;
    }
    first_lines
}

/// [`par_chunks`], each result paired with the offset in `body` where its
/// chunk starts.
pub fn par_chunks_at<T: Send>(
    body: &[u8],
    line_offset: u64,
    delimiter: u8,
    f: impl Fn(&mut csv::Reader<&[u8]>, &[u8], u64) -> T + Sync,
) -> Vec<(usize, T)> {
    let parts = rayon::current_num_threads() * 8;
    let chunks = record_chunks(body, parts);
    let first_lines = first_lines(body, &chunks, line_offset);
    chunks
        .into_par_iter()
        .zip(first_lines)
        .map(|(r, first)| {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .delimiter(delimiter)
                .from_reader(&body[r.clone()]);
            (r.start, f(&mut rdr, &body[r], first))
        })
        .collect()
}

/// A CSV file split after its header: the header names, the body, the
/// detected delimiter and the line the body starts on.
pub type CsvStart<'a> = (Vec<String>, &'a [u8], u8, u64);

/// The 1-based file line a record starts on. The csv reader stamps a
/// record with the position before any blank lines it skipped, so those are
/// stepped over here. `first_line` is the line the chunk starts on.
pub fn record_line(chunk: &[u8], first_line: u64, pos: Option<&csv::Position>) -> u64 {
    let Some(pos) = pos else { return first_line };
    let mut line = first_line + pos.line() - 1;
    let mut i = pos.byte() as usize;
    while i < chunk.len() {
        match chunk[i] {
            b'\n' => line += 1,
            b'\r' => {}
            _ => break,
        }
        i += 1;
    }
    line
}

/// Splits a CSV file into its header and the rest; also returns the
/// delimiter and the 1-based line the first data record starts on.
pub fn csv_header(bytes: &[u8]) -> Result<CsvStart<'_>, IngestError> {
    let bytes = strip_bom(bytes);
    let delimiter = sniff_delimiter(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut rec = csv::ByteRecord::new();
    let ok = rdr
        .read_byte_record(&mut rec)
        .map_err(|e| IngestError::Format(format!("cannot read the header line: {e}")))?;
    if !ok {
        return Err(IngestError::Format("the file is empty".into()));
    }
    let headers: Vec<String> = rec
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(IngestError::Format("the header line is empty".into()));
    }
    let consumed = rdr.position().byte() as usize;
    // The reader's position is now the start of the first data record.
    let lines = rdr.position().line();
    Ok((headers, &bytes[consumed..], delimiter, lines))
}

/// Reads a whole file of the given format.
pub fn read_table(bytes: &[u8], format: InputFormat) -> Result<Table, IngestError> {
    match format {
        InputFormat::Csv => read_csv(bytes),
        InputFormat::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(strip_bom(bytes)).map_err(|e| {
                    IngestError::Format(format!(
                        "invalid JSON at line {}, column {}: {e}",
                        e.line(),
                        e.column()
                    ))
                })?;
            let serde_json::Value::Array(items) = value else {
                return Err(IngestError::Format(
                    "a JSON lead file must be an array of objects".into(),
                ));
            };
            let lines = array_element_lines(strip_bom(bytes));
            Ok(json_rows(items.into_iter().enumerate().map(|(i, v)| {
                (lines.get(i).copied().unwrap_or(i as u64 + 1), Ok(v))
            })))
        }
        InputFormat::Ndjson => {
            // The standard check first: it is quicker than the lossy
            // converter's, which is kept for text that is not UTF-8.
            let body = strip_bom(bytes);
            let text = match std::str::from_utf8(body) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) => String::from_utf8_lossy(body),
            };
            let mut columns = Columns::default();
            let mut table = Table::default();
            let mut flat_rows = Vec::new();
            let lines = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty());
            for (row0, (i, l)) in lines.enumerate() {
                let (row, line) = (row0 + 1, i as u64 + 1);
                match flatten_object(l, &mut columns) {
                    Ok(pairs) => flat_rows.push((row, line, pairs)),
                    Err(why) => table.broken.push((row, line, why)),
                }
            }
            Ok(finish_rows(table, columns, flat_rows))
        }
    }
}

/// Column names of flattened JSON records, in the order first seen.
#[derive(Default)]
struct Columns {
    headers: Vec<String>,
    index: rustc_hash::FxHashMap<String, usize>,
}

impl Columns {
    fn slot(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.headers.len();
        self.index.insert(name.to_string(), i);
        self.headers.push(name.to_string());
        i
    }
}

/// One JSON object as (column, value) pairs, nested objects flattened to
/// dotted names, read straight from the text (no document tree is built).
/// On anything but an object, the reason is the one [`json_rows`] gives.
fn flatten_object(text: &str, columns: &mut Columns) -> Result<Vec<(usize, String)>, String> {
    use serde::de::DeserializeSeed;
    let mut pairs = Vec::new();
    let mut name = String::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let flat = FlatValue {
        columns,
        name: &mut name,
        out: &mut pairs,
        top: true,
    };
    match flat.deserialize(&mut de).and_then(|()| de.end()) {
        Ok(()) => Ok(pairs),
        // The rare failure is read again as a document, for the same
        // message a whole-document read gives.
        Err(_) => match serde_json::from_str::<serde_json::Value>(text) {
            Err(e) => Err(format!("invalid JSON: {e}")),
            Ok(v) if !v.is_object() => Err("is not a JSON object".into()),
            Ok(v) => {
                let mut flat = Vec::new();
                flatten("", &v, &mut flat);
                Ok(flat
                    .into_iter()
                    .map(|(k, v)| (columns.slot(&k), v))
                    .collect())
            }
        },
    }
}

/// Reads a JSON value into `out` under the dotted name `name`: a nested
/// object is flattened further, each value under `name` + its key; anything
/// else is recorded as [`flatten`] writes it (null as empty, strings as they
/// are, the rest as compact JSON). The top of a record must be an object.
struct FlatValue<'a> {
    columns: &'a mut Columns,
    name: &'a mut String,
    out: &'a mut Vec<(usize, String)>,
    top: bool,
}

impl FlatValue<'_> {
    fn put(self, value: String) {
        let slot = self.columns.slot(self.name);
        self.out.push((slot, value));
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for FlatValue<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.top {
            d.deserialize_map(self)
        } else {
            d.deserialize_any(self)
        }
    }
}

/// Appends a key to the dotted name being built.
struct KeyInto<'a> {
    name: &'a mut String,
    dot: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for KeyInto<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyInto<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<(), E> {
        if self.dot {
            self.name.push('.');
        }
        self.name.push_str(key);
        Ok(())
    }
}

impl<'de> serde::de::Visitor<'de> for FlatValue<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(if self.top {
            "a JSON object"
        } else {
            "a JSON value"
        })
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let base = self.name.len();
        while map
            .next_key_seed(KeyInto {
                name: self.name,
                dot: base > 0,
            })?
            .is_some()
        {
            map.next_value_seed(FlatValue {
                columns: self.columns,
                name: self.name,
                out: self.out,
                top: false,
            })?;
            self.name.truncate(base);
        }
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.put(String::new());
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.put(v.to_string());
        Ok(())
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<(), E> {
        self.put(v);
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.put(v.to_string());
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.put(v.to_string());
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.put(v.to_string());
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.put(serde_json::Value::from(v).to_string());
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        use serde::Deserialize;
        let items =
            serde_json::Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        self.put(items.to_string());
        Ok(())
    }
}

/// A record's number, its line and its (column, value) pairs.
type FlatRow = (usize, u64, Vec<(usize, String)>);

/// Rows of (column, value) pairs as text records over every column seen,
/// values trimmed, a later value of a repeated key winning.
fn finish_rows(mut table: Table, columns: Columns, flat_rows: Vec<FlatRow>) -> Table {
    let width = columns.headers.len();
    let mut slots: Vec<Option<usize>> = vec![None; width];
    for (row, line, pairs) in flat_rows {
        slots.iter_mut().for_each(|s| *s = None);
        let mut bytes = 0;
        for (i, (col, v)) in pairs.iter().enumerate() {
            slots[*col] = Some(i);
            bytes += v.len();
        }
        let mut fields = csv::StringRecord::with_capacity(bytes, width);
        for slot in &slots {
            fields.push_field(slot.map_or("", |i| pairs[i].1.trim()));
        }
        table.rows.push(RawRow { row, line, fields });
    }
    table.headers = columns.headers;
    table
}

fn read_csv(bytes: &[u8]) -> Result<Table, IngestError> {
    let (headers, body, delimiter, header_lines) = csv_header(bytes)?;
    let width = headers.len();
    let chunks = par_chunks(body, header_lines, delimiter, |rdr, chunk, first_line| {
        let mut rows = Vec::new();
        let mut broken = Vec::new();
        let mut rec = csv::ByteRecord::new();
        loop {
            match rdr.read_byte_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {
                    let line = record_line(chunk, first_line, rec.position());
                    if rec.len() == 1 && rec.get(0).is_some_and(|f| f.is_empty()) {
                        continue; // blank line
                    }
                    if rec.len() != width {
                        broken.push((
                            line,
                            format!("has {} fields but the header has {width}", rec.len()),
                        ));
                        continue;
                    }
                    // Values are trimmed where they are read; the record is
                    // kept verbatim for pass-through.
                    let taken =
                        std::mem::replace(&mut rec, csv::ByteRecord::with_capacity(256, width));
                    rows.push((line, csv::StringRecord::from_byte_record_lossy(taken)));
                }
                Err(e) => {
                    let line = first_line + e.position().map_or(1, |p| p.line()) - 1;
                    broken.push((line, e.to_string()));
                }
            }
        }
        (rows, broken)
    });
    let mut table = Table {
        headers,
        ..Table::default()
    };
    // Number records across chunks in file order, broken ones included, so
    // that a row number always matches the data record a user counts.
    let mut row = 0;
    for (rows, broken) in chunks {
        let mut merged: Vec<(u64, Result<csv::StringRecord, String>)> = rows
            .into_iter()
            .map(|(l, r)| (l, Ok(r)))
            .chain(broken.into_iter().map(|(l, e)| (l, Err(e))))
            .collect();
        merged.sort_by_key(|(l, _)| *l);
        for (line, r) in merged {
            row += 1;
            match r {
                Ok(fields) => table.rows.push(RawRow { row, line, fields }),
                Err(e) => table.broken.push((row, line, e)),
            }
        }
    }
    Ok(table)
}

/// The 1-based line on which each element of a top-level JSON array
/// starts, found by a scan that respects strings and nesting.
fn array_element_lines(bytes: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let (mut depth, mut line) = (0u32, 1u64);
    let (mut in_string, mut escaped, mut expecting) = (false, false, false);
    for &b in bytes {
        if b == b'\n' {
            line += 1;
        }
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if expecting && !b.is_ascii_whitespace() && b != b']' {
            out.push(line);
            expecting = false;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth == 1 && b == b'[' {
                    expecting = true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    out
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::Null => out.push((prefix.to_string(), String::new())),
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn json_rows(items: impl Iterator<Item = (u64, Result<serde_json::Value, String>)>) -> Table {
    let mut columns = Columns::default();
    let mut flat_rows = Vec::new();
    let mut table = Table::default();
    for (row0, (line, item)) in items.enumerate() {
        let row = row0 + 1;
        let value = match item {
            Ok(v) => v,
            Err(e) => {
                table.broken.push((row, line, format!("invalid JSON: {e}")));
                continue;
            }
        };
        if !value.is_object() {
            table
                .broken
                .push((row, line, "is not a JSON object".into()));
            continue;
        }
        let mut pairs = Vec::new();
        flatten("", &value, &mut pairs);
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| (columns.slot(&k), v))
            .collect();
        flat_rows.push((row, line, pairs));
    }
    finish_rows(table, columns, flat_rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delimiter_is_detected() {
        assert_eq!(sniff_delimiter(b"a,b,c\n1,2,3\n"), b',');
        assert_eq!(sniff_delimiter(b"a;b;c\n1;2,5;3\n"), b';');
        assert_eq!(sniff_delimiter(b"a\tb\n1\t2\n"), b'\t');
        assert_eq!(sniff_delimiter(b"\"x,y\";b\n\"1,2\";3\n"), b';');
    }

    #[test]
    fn a_csv_with_bom_and_crlf_reads_clean() {
        let t = read_table(
            b"\xEF\xBB\xBFname;email\r\nAda;ada@x.io\r\nBob;bob@y.io\r\n",
            InputFormat::Csv,
        )
        .unwrap();
        assert_eq!(t.headers, vec!["name", "email"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(&t.rows[1].fields[1], "bob@y.io");
        assert_eq!((t.rows[1].row, t.rows[1].line), (2, 3));
    }

    #[test]
    fn a_ragged_row_is_reported_with_its_row_and_line_and_the_rest_is_kept() {
        let t = read_table(b"a,b\n1,2\n\"multi\nline\",3\n4\n5,6\n", InputFormat::Csv).unwrap();
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.broken.len(), 1);
        assert_eq!(t.broken[0].0, 3, "third data record");
        assert_eq!(t.broken[0].1, 5, "starts on line 5 after a two-line record");
        assert_eq!(t.rows[2].row, 4);
    }

    #[test]
    fn chunks_never_split_a_quoted_record() {
        let mut body = Vec::new();
        for i in 0..500 {
            body.extend_from_slice(format!("{i},\"line one\nline two, with comma\"\n").as_bytes());
        }
        let chunks = record_chunks(&body, 7);
        assert!(chunks.len() > 1);
        let mut total = 0;
        for c in &chunks {
            let n = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(&body[c.clone()])
                .records()
                .filter(|r| r.as_ref().map(|r| r.len() == 2).unwrap_or(false))
                .count();
            total += n;
        }
        assert_eq!(total, 500);
        assert_eq!(chunks.last().unwrap().end, body.len());
    }

    #[test]
    fn json_array_elements_know_the_line_they_start_on() {
        let text = b"[\n  {\"a\": \"x,\\\"]\"},\n\n  {\"b\": [1, {\"c\": 2}]},\n  {}\n]";
        assert_eq!(array_element_lines(text), vec![2, 4, 5]);
    }

    #[test]
    fn an_ndjson_record_reads_like_the_same_record_in_a_json_array_whatever_its_values() {
        let text = r#"{"a":" x ","n":{"k":1.50,"deep":{"z":-3}},"t":true,"l":[1,"two",null],"e":{},"a":"again","\u00e9t\u00e9":null,"big":1e400}"#;
        let mut as_lines = read_table(
            format!("{text}\n\n[1,2]\n{{\"b\":\n").as_bytes(),
            InputFormat::Ndjson,
        )
        .unwrap();
        let array = read_table(format!("[{text}]").as_bytes(), InputFormat::Json);
        // 1e400 is out of range for both readers alike.
        assert!(array.is_err());
        assert_eq!(as_lines.broken.len(), 3, "{:?}", as_lines.broken);
        assert!(
            as_lines.broken[0].2.starts_with("invalid JSON"),
            "{:?}",
            as_lines.broken
        );
        assert_eq!(as_lines.broken[1], (2, 3, "is not a JSON object".into()));
        let ok = text.replace(",\"big\":1e400", "");
        as_lines = read_table(format!("{ok}\n").as_bytes(), InputFormat::Ndjson).unwrap();
        let array = read_table(format!("[{ok}]").as_bytes(), InputFormat::Json).unwrap();
        assert_eq!(as_lines.headers, array.headers);
        assert_eq!(
            as_lines.headers,
            vec!["a", "n.k", "n.deep.z", "t", "l", "\u{e9}t\u{e9}"]
        );
        let fields: Vec<&str> = as_lines.rows[0].fields.iter().collect();
        assert_eq!(
            fields,
            vec!["again", "1.5", "-3", "true", "[1,\"two\",null]", ""]
        );
        assert_eq!(as_lines.rows[0].fields, array.rows[0].fields);
    }

    proptest::proptest! {
        #[test]
        fn ndjson_and_json_array_readers_agree_on_any_records(
            records in proptest::collection::vec(json_object(), 1..6)
        ) {
            let lines: Vec<String> = records.iter().map(|r| r.to_string()).collect();
            let ndjson = read_table(lines.join("\n").as_bytes(), InputFormat::Ndjson).unwrap();
            let array = read_table(format!("[{}]", lines.join(",")).as_bytes(), InputFormat::Json).unwrap();
            proptest::prop_assert_eq!(&ndjson.headers, &array.headers);
            proptest::prop_assert_eq!(ndjson.rows.len(), array.rows.len());
            for (a, b) in ndjson.rows.iter().zip(&array.rows) {
                proptest::prop_assert_eq!(&a.fields, &b.fields);
                proptest::prop_assert_eq!(a.row, b.row);
            }
        }
    }

    fn json_object() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e9f64..1e9).prop_map(serde_json::Value::from),
            "[ a-zA-Z\\u{e9}\"\\\\]{0,8}".prop_map(serde_json::Value::from),
            proptest::collection::vec(any::<u8>(), 0..3).prop_map(serde_json::Value::from),
        ];
        let value = leaf.prop_recursive(3, 16, 4, |inner| {
            proptest::collection::vec(("[a-c]{1,2}", inner), 0..4)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect()))
        });
        proptest::collection::vec(("[a-e]{1,2}", value), 0..6)
            .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect()))
    }

    #[test]
    fn json_and_ndjson_flatten_nested_objects() {
        let t = read_table(br#"[{"email":"a@x.io","bant":{"budget":"confirmed"},"n":3},{"email":"b@x.io","extra":null}]"#, InputFormat::Json).unwrap();
        assert_eq!(t.headers, vec!["email", "bant.budget", "n", "extra"]);
        assert_eq!(&t.rows[0].fields[1], "confirmed");
        assert_eq!(&t.rows[0].fields[2], "3");
        let n = read_table(
            b"{\"email\":\"a@x.io\"}\nnot json\n{\"email\":\"b@x.io\"}\n",
            InputFormat::Ndjson,
        )
        .unwrap();
        assert_eq!(n.rows.len(), 2);
        assert_eq!(n.broken.len(), 1);
        assert_eq!(n.broken[0].1, 2);
    }
}
