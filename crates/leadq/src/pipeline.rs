//! The shared path of `qualify`, `explain` and `backtest`: load the model,
//! read and clean the leads, attach the events, score everything.

use crate::cli::{InputArgs, UsageError};
use crate::progress;
use anyhow::{Context, Result};
use leadq_core::{CompiledModel, Score, Timestamp};
use leadq_ingest::{EventStats, EventStore, InputFormat, LeadBatch, Mapping, Reject};
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;

pub struct Run {
    pub model: CompiledModel,
    pub batch: LeadBatch,
    pub events: EventStore,
    pub event_stats: Option<EventStats>,
    pub event_rejects: Vec<Reject>,
    pub as_of: Timestamp,
    pub scores: Vec<Score>,
    pub timings: Vec<(&'static str, f64)>,
}

/// The bytes of an input file: mapped into memory when it is a regular file,
/// read otherwise (a pipe, `/dev/stdin`, an empty file).
pub enum InputBytes {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl std::ops::Deref for InputBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            InputBytes::Mapped(map) => map,
            InputBytes::Read(bytes) => bytes,
        }
    }
}

/// Reads an input file. A regular file is mapped rather than copied: reading
/// a 600 MB event file into a fresh buffer costs the copy and, before it, the
/// kernel zeroing every page of the buffer (a tenth of a 1M-lead run).
pub fn read_file(path: &Path, what: &str) -> Result<InputBytes> {
    let context = || format!("cannot read {what} {}", path.display());
    let file = std::fs::File::open(path).with_context(context)?;
    let meta = file.metadata().with_context(context)?;
    if meta.is_file() && meta.len() > 0 {
        if let Some(map) = map_file(&file) {
            return Ok(InputBytes::Mapped(map));
        }
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &file, &mut bytes).with_context(context)?;
    Ok(InputBytes::Read(bytes))
}

#[allow(unsafe_code)]
fn map_file(file: &std::fs::File) -> Option<memmap2::Mmap> {
    // SAFETY: the map is only read. If another process truncated the file
    // while leadq reads it, touching the lost pages would end the process
    // with SIGBUS rather than read freed memory; a changed (not truncated)
    // file gives changed bytes, which the readers treat as any other input.
    let map = unsafe { memmap2::MmapOptions::new().populate().map(file) }.ok()?;
    // The readers go through the file front to back.
    let _ = map.advise(memmap2::Advice::Sequential);
    Some(map)
}

pub fn load_model(path: &Path) -> Result<CompiledModel> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read model {}", path.display()))?;
    CompiledModel::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn load_mapping(mapping: Option<&Path>, preset: Option<&str>) -> Result<Mapping> {
    Ok(match (mapping, preset) {
        (Some(p), _) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read mapping {}", p.display()))?;
            Mapping::from_toml(&text).with_context(|| format!("in {}", p.display()))?
        }
        (None, Some(name)) => Mapping::preset(name)?,
        (None, None) => Mapping::default(),
    })
}

pub fn parse_as_of(raw: Option<&str>) -> Result<Timestamp> {
    match raw {
        None => Ok(Timestamp(jiff::Timestamp::now().as_second())),
        Some(s) => leadq_ingest::time::parse_timestamp(s).ok_or_else(|| UsageError(format!("--as-of '{s}' is not a timestamp (use RFC 3339 such as 2026-11-01T00:00:00Z, or YYYY-MM-DD)")).into()),
    }
}

fn format_of(path: &Path, bytes: &[u8], forced: Option<&str>) -> InputFormat {
    forced
        .and_then(InputFormat::parse)
        .unwrap_or_else(|| InputFormat::detect(path, bytes))
}

/// Reads everything and scores every lead, keeping each lead's input record.
pub fn run(input: &Path, args: &InputArgs) -> Result<Run> {
    run_keeping_input(input, args, true)
}

/// [`run`]; without `keep_input_rows` the input records are freed as soon as
/// the leads are built (`batch.raw` is then empty), so that the events reuse
/// their memory instead of the process growing by it.
pub fn run_keeping_input(input: &Path, args: &InputArgs, keep_input_rows: bool) -> Result<Run> {
    let read = &args.read;
    let as_of = parse_as_of(read.as_of.as_deref())?;
    let model = load_model(&args.model)?;
    let mapping = load_mapping(read.mapping.as_deref(), read.preset.as_deref())?;
    load_and_score(
        input,
        model,
        &mapping,
        read.events.as_deref(),
        as_of,
        read.input_format.as_deref(),
        keep_input_rows,
    )
}

pub fn load_and_score(
    input: &Path,
    model: CompiledModel,
    mapping: &Mapping,
    events: Option<&Path>,
    as_of: Timestamp,
    input_format: Option<&str>,
    keep_input_rows: bool,
) -> Result<Run> {
    let mut timings = Vec::new();
    let t = Instant::now();
    let spin = progress::spinner("reading leads");
    let bytes = read_file(input, "input")?;
    let format = format_of(input, &bytes, input_format);
    let batch = leadq_ingest::load_leads_with(&bytes, format, &model, mapping, keep_input_rows)
        .with_context(|| format!("cannot read leads from {}", input.display()))?;
    drop(bytes);
    spin.finish_and_clear();
    timings.push(("read leads", t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let (events, event_stats, event_rejects) = match events {
        Some(p) => {
            let spin = progress::spinner("reading events");
            let bytes = read_file(p, "events")?;
            let format = format_of(p, &bytes, None);
            let (store, mut stats, rejects) = leadq_ingest::events::read_events(
                &bytes,
                format,
                &model,
                &batch.index,
                batch.leads.len(),
            )
            .with_context(|| format!("cannot read events from {}", p.display()))?;
            spin.finish_and_clear();
            stats.after_as_of = store.count_after(as_of);
            (store, Some(stats), rejects)
        }
        None => (
            EventStore::empty(batch.leads.len(), model.event_properties.len()),
            None,
            Vec::new(),
        ),
    };
    timings.push(("read events", t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let bar = progress::bar(batch.leads.len() as u64, "scoring");
    let scores: Vec<Score> = batch
        .leads
        .par_iter()
        .enumerate()
        .map(|(i, lead)| {
            if i % 4096 == 0 {
                bar.inc(4096.min((batch.leads.len() - i) as u64));
            }
            model.score(lead, events.view(i), as_of)
        })
        .collect();
    bar.finish_and_clear();
    timings.push(("score", t.elapsed().as_secs_f64()));
    Ok(Run {
        model,
        batch,
        events,
        event_stats,
        event_rejects,
        as_of,
        scores,
        timings,
    })
}
