//! `leadq qualify`: a lead file in, every lead scored, qualified, ranked
//! and explained out.

use crate::cli::{OutputFormat, QualifyArgs};
use crate::output;
use crate::pipeline;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::Instant;

fn create(path: &std::path::Path) -> Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(
        1 << 20,
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    ))
}

pub fn run(args: QualifyArgs) -> Result<()> {
    let started = Instant::now();
    let mut run = pipeline::run_keeping_input(&args.input, &args.common, !args.no_passthrough)?;
    let t = Instant::now();
    let ids: Vec<&str> = run.batch.leads.iter().map(|l| l.id.as_str()).collect();
    let order = leadq_core::scoring::rank(&run.model, &ids, &run.scores);
    let format = args.format.unwrap_or_else(|| {
        match args
            .out
            .as_ref()
            .and_then(|p| p.extension())
            .and_then(|e| e.to_str())
        {
            Some("json") => OutputFormat::Json,
            Some("ndjson") | Some("jsonl") => OutputFormat::Ndjson,
            _ => OutputFormat::Csv,
        }
    });
    match &args.out {
        Some(p) => {
            output::write_leads(&run, &order, format, !args.no_passthrough, &mut create(p)?)?
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = BufWriter::with_capacity(1 << 20, stdout.lock());
            match output::write_leads(&run, &order, format, !args.no_passthrough, &mut lock) {
                Err(e)
                    if e.downcast_ref::<std::io::Error>()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) => {}
                other => other?,
            }
        }
    }
    let all_rejects: Vec<&leadq_ingest::Reject> =
        run.batch.rejects.iter().chain(&run.event_rejects).collect();
    if let Some(p) = &args.rejects {
        output::write_rejects(&all_rejects, &mut create(p)?)?;
    }
    if let Some(p) = &args.merges {
        output::write_merges(&run.batch.merges, &mut create(p)?)?;
    }
    if let Some(p) = &args.accounts {
        output::write_accounts(&run, &mut create(p)?)?;
    }
    run.timings.push(("write", t.elapsed().as_secs_f64()));
    run.timings.push(("total", started.elapsed().as_secs_f64()));
    if !args.quiet {
        let mut err = std::io::stderr().lock();
        write!(err, "{}", output::summary(&run, args.rejects.as_deref()))?;
    }
    // Freeing a million leads one by one takes longer than the process
    // takes to exit; the operating system reclaims it all at once.
    std::mem::forget(run);
    Ok(())
}
