//! Writing qualified leads, rejects, merges and the summary.

use crate::cli::OutputFormat;
use crate::pipeline::Run;
use anyhow::Result;
use leadq_core::scoring::{format_points, RuleKind};
use leadq_core::Score;
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use std::io::Write;

/// The fixed columns at the front of every output row.
pub fn score_columns(run: &Run) -> Vec<String> {
    let mut cols: Vec<String> = [
        "lead_id",
        "rank",
        "priority",
        "grade",
        "fit",
        "engagement",
        "score",
        "band",
        "mql",
    ]
    .map(String::from)
    .into();
    if run.model.sql.is_some() {
        cols.push("sql".into());
    }
    for f in &run.model.frameworks {
        let p = f.column_prefix();
        cols.push(format!("{p}_status"));
        cols.push(format!("{p}_unknown"));
    }
    cols.push("reasons".into());
    cols
}

fn num(x: f64) -> String {
    let mut s = String::new();
    write_num(&mut s, x);
    s
}

/// Writes the fixed score columns of one lead into `w`; `buf` is scratch.
fn write_score_fields(
    w: &mut csv::Writer<Vec<u8>>,
    buf: &mut String,
    run: &Run,
    lead: usize,
    rank: usize,
) -> csv::Result<()> {
    use std::fmt::Write;
    let s = &run.scores[lead];
    let field = |w: &mut csv::Writer<Vec<u8>>, buf: &mut String, f: &dyn Fn(&mut String)| {
        buf.clear();
        f(buf);
        w.write_field(buf.as_bytes())
    };
    w.write_field(run.batch.leads[lead].id.as_bytes())?;
    field(w, buf, &|b| {
        let _ = write!(b, "{rank}");
    })?;
    w.write_field(s.priority.as_str())?;
    w.write_field(s.grade.as_str())?;
    for x in [s.fit, s.engagement, s.score] {
        field(w, buf, &|b| write_num(b, x))?;
    }
    w.write_field([b'0' + s.band])?;
    w.write_field(if s.mql { "true" } else { "false" })?;
    if let Some(sql) = s.sql {
        w.write_field(if sql { "true" } else { "false" })?;
    }
    for (fw, e) in run.model.frameworks.iter().zip(&s.frameworks) {
        w.write_field(e.status.as_str())?;
        field(w, buf, &|b| {
            for (i, k) in e.unknown(fw).iter().enumerate() {
                if i > 0 {
                    b.push(' ');
                }
                b.push_str(k);
            }
        })?;
    }
    field(w, buf, &|b| run.model.write_reasons(s, b))
}

fn write_num(b: &mut String, x: f64) {
    if x < 0.0 && (x * 100.0).round() != 0.0 {
        b.push('-');
    }
    leadq_core::scoring::write_cents(b, x.abs(), false);
}

/// Input headers renamed where they clash with an output column.
fn passthrough_headers(run: &Run, fixed: &[String]) -> Vec<String> {
    run.batch
        .headers
        .iter()
        .map(|h| {
            if fixed.iter().any(|c| c.eq_ignore_ascii_case(h)) {
                format!("input.{h}")
            } else {
                h.clone()
            }
        })
        .collect()
}

fn reasons_json(run: &Run, s: &Score) -> Value {
    Value::Array(
        s.reasons
            .iter()
            .map(|r| {
                let mut o = Map::new();
                o.insert("rule".into(), json!(run.model.rule_name(r)));
                o.insert(
                    "kind".into(),
                    json!(match r.kind {
                        RuleKind::Fit => "fit",
                        RuleKind::Engagement => "engagement",
                    }),
                );
                o.insert("points".into(), json!((r.points * 100.0).round() / 100.0));
                if r.kind == RuleKind::Engagement {
                    o.insert("events".into(), json!(r.events));
                    o.insert(
                        "points_before_decay".into(),
                        json!((r.raw_points * 100.0).round() / 100.0),
                    );
                    o.insert("capped".into(), json!(r.capped));
                }
                Value::Object(o)
            })
            .collect(),
    )
}

pub fn lead_json(run: &Run, lead: usize, rank: usize, passthrough: bool) -> Value {
    let s = &run.scores[lead];
    let mut o = Map::new();
    o.insert("lead_id".into(), json!(run.batch.leads[lead].id));
    o.insert("rank".into(), json!(rank));
    o.insert("priority".into(), json!(s.priority.to_string()));
    o.insert("grade".into(), json!(s.grade.to_string()));
    o.insert("fit".into(), json!((s.fit * 100.0).round() / 100.0));
    o.insert(
        "engagement".into(),
        json!((s.engagement * 100.0).round() / 100.0),
    );
    o.insert("score".into(), json!((s.score * 100.0).round() / 100.0));
    o.insert("band".into(), json!(s.band));
    o.insert("mql".into(), json!(s.mql));
    if let Some(sql) = s.sql {
        o.insert("sql".into(), json!(sql));
    }
    if !s.frameworks.is_empty() {
        let mut fw = Map::new();
        for (f, e) in run.model.frameworks.iter().zip(&s.frameworks) {
            fw.insert(f.column_prefix(), json!({ "status": e.status.to_string(), "satisfied": e.satisfied, "unknown": e.unknown(f) }));
        }
        o.insert("frameworks".into(), Value::Object(fw));
    }
    o.insert("reasons".into(), reasons_json(run, s));
    if passthrough {
        let input: Map<String, Value> = run
            .batch
            .headers
            .iter()
            .zip(run.batch.raw[lead].iter())
            .map(|(h, v)| (h.clone(), json!(v)))
            .collect();
        o.insert("input".into(), Value::Object(input));
    }
    Value::Object(o)
}

/// Writes leads in `order` (best first). Rows are formatted in parallel
/// blocks and written in order, which keeps a million-row output fast.
pub fn write_leads(
    run: &Run,
    order: &[usize],
    format: OutputFormat,
    passthrough: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        OutputFormat::Csv => {
            let fixed = score_columns(run);
            let mut header = fixed.clone();
            if passthrough {
                header.extend(passthrough_headers(run, &fixed));
            }
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(&header)?;
            out.write_all(&w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
            write_in_blocks(order, out, |first_rank, chunk| {
                let mut w = csv::Writer::from_writer(Vec::with_capacity(chunk.len() * 200));
                let mut buf = String::new();
                for (k, &lead) in chunk.iter().enumerate() {
                    write_score_fields(&mut w, &mut buf, run, lead, first_rank + k)?;
                    if passthrough {
                        for v in run.batch.raw[lead].iter() {
                            w.write_field(v)?;
                        }
                    }
                    w.write_record(None::<&[u8]>)?;
                }
                w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
            })?;
        }
        OutputFormat::Ndjson => {
            write_in_blocks(order, out, |first_rank, chunk| {
                let mut buf = Vec::new();
                for (k, &lead) in chunk.iter().enumerate() {
                    let v = lead_json(run, lead, first_rank + k, passthrough);
                    serde_json::to_writer(&mut buf, &v)?;
                    buf.push(b'\n');
                }
                Ok(buf)
            })?;
        }
        OutputFormat::Json => {
            out.write_all(b"[\n")?;
            for (i, &lead) in order.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",\n")?;
                }
                serde_json::to_writer(&mut *out, &lead_json(run, lead, i + 1, passthrough))?;
            }
            out.write_all(b"\n]\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Formats the leads of `order` in blocks on every core and writes them in
/// order. A few blocks per core are formatted at a time and written before
/// the next ones, so the output never sits in memory whole (a million
/// explained leads are a third of a gigabyte). `format` gets the rank of the
/// block's first lead and the block.
fn write_in_blocks(
    order: &[usize],
    out: &mut dyn Write,
    format: impl Fn(usize, &[usize]) -> Result<Vec<u8>> + Sync,
) -> Result<()> {
    const BLOCK: usize = 8192;
    let group = BLOCK * 4 * rayon::current_num_threads();
    for (gi, leads) in order.chunks(group).enumerate() {
        let blocks: Vec<Result<Vec<u8>>> = leads
            .par_chunks(BLOCK)
            .enumerate()
            .map(|(bi, chunk)| format(gi * group + bi * BLOCK + 1, chunk))
            .collect();
        for b in blocks {
            out.write_all(&b?)?;
        }
    }
    Ok(())
}

pub fn write_rejects(rejects: &[&leadq_ingest::Reject], out: &mut dyn Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["file", "row", "line", "column", "value", "reason"])?;
    for r in rejects {
        w.write_record([
            r.file,
            &r.row.to_string(),
            &r.line.to_string(),
            r.column.as_deref().unwrap_or(""),
            r.value.as_deref().unwrap_or(""),
            &r.reason,
        ])?;
    }
    w.flush()?;
    Ok(())
}

pub fn write_merges(merges: &[leadq_ingest::Merge], out: &mut dyn Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "survivor",
        "survivor_row",
        "merged_rows",
        "merged_ids",
        "matched_on",
        "confidence",
    ])?;
    for m in merges {
        let rows: Vec<String> = m.merged_rows.iter().map(|r| r.to_string()).collect();
        w.write_record([
            m.survivor.as_str(),
            &m.survivor_row.to_string(),
            &rows.join(" "),
            &m.merged_ids.join(" "),
            &m.matched_on,
            &format!("{:.3}", m.confidence),
        ])?;
    }
    w.flush()?;
    Ok(())
}

pub fn write_accounts(run: &Run, out: &mut dyn Write) -> Result<()> {
    let accounts = leadq_core::account::roll_up(&run.batch.leads, &run.scores, |s| {
        run.model.priority_rank(s.priority)
    });
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "domain",
        "company",
        "leads",
        "fit",
        "grade",
        "engagement",
        "engaged_leads",
        "mqls",
        "best_priority",
    ])?;
    for a in accounts {
        w.write_record([
            a.domain.as_str(),
            a.company.as_deref().unwrap_or(""),
            &a.leads.to_string(),
            &num(a.fit),
            a.grade.as_str(),
            &num(a.engagement),
            &a.engaged_leads.to_string(),
            &a.mqls.to_string(),
            &a.best_priority,
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn pct(part: usize, whole: usize) -> String {
    if whole == 0 {
        "0.0%".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

/// The human summary printed on stderr after a run.
pub fn summary(run: &Run, rejects_to: Option<&std::path::Path>) -> String {
    let b = &run.batch;
    let n = b.leads.len();
    let merged: usize = b.merges.iter().map(|m| m.merged_rows.len()).sum();
    let mut s = String::new();
    s.push_str(&format!(
        "{} records -> {} leads ({} rejected, {} merged into {} leads)\n",
        thousands(b.records()),
        thousands(n),
        thousands(b.rejects.len()),
        thousands(merged),
        thousands(b.merges.len())
    ));
    s.push_str(&format!(
        "model: {}; as of {}\n",
        run.model,
        leadq_ingest::time::format_timestamp(run.as_of)
    ));
    if let Some(es) = &run.event_stats {
        s.push_str(&format!(
            "events: {} read, {} used ({} dated after as-of and ignored), {} duplicate deliveries ignored, {} for unknown leads, {} of kinds the model ignores, {} rejected\n",
            thousands(es.read as usize),
            thousands(es.used as usize),
            thousands(es.after_as_of as usize),
            thousands(es.duplicates as usize),
            thousands(es.unknown_lead as usize),
            thousands(es.kinds_not_in_model as usize),
            thousands(es.rejected as usize)
        ));
    }
    let mut grades = [0usize; 4];
    let mut prios = [[0usize; 4]; 4];
    let (mut mql, mut sql) = (0, 0);
    for sc in &run.scores {
        grades[sc.grade as usize] += 1;
        prios[sc.grade as usize][(sc.band - 1) as usize] += 1;
        mql += sc.mql as usize;
        sql += (sc.sql == Some(true)) as usize;
    }
    s.push_str("grade:    ");
    for (g, c) in leadq_core::Grade::ALL.iter().zip(grades) {
        s.push_str(&format!("{g} {} ({})  ", thousands(c), pct(c, n)));
    }
    s.push('\n');
    s.push_str("priority:       band 1    band 2    band 3    band 4\n");
    for (g, row) in leadq_core::Grade::ALL.iter().zip(prios) {
        s.push_str(&format!("          {g}  "));
        for c in row {
            s.push_str(&format!("{:>9} ", thousands(c)));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "qualified: {} MQL ({} of leads)",
        thousands(mql),
        pct(mql, n)
    ));
    if run.model.sql.is_some() {
        s.push_str(&format!(
            ", {} SQL ({} of MQL)",
            thousands(sql),
            pct(sql, mql)
        ));
    }
    s.push('\n');
    if !b.merges.is_empty() {
        let mut kinds: Vec<(String, usize)> = Vec::new();
        for m in &b.merges {
            match kinds.iter_mut().find(|(k, _)| *k == m.matched_on) {
                Some(e) => e.1 += 1,
                None => kinds.push((m.matched_on.clone(), 1)),
            }
        }
        let parts: Vec<String> = kinds.iter().map(|(k, c)| format!("{k} {c}")).collect();
        s.push_str(&format!(
            "merges: {} ({})\n",
            thousands(b.merges.len()),
            parts.join(", ")
        ));
    }
    let total_rejects = b.rejects.len() + run.event_rejects.len();
    if total_rejects > 0 {
        match rejects_to {
            Some(p) => s.push_str(&format!(
                "rejects: {} written to {}\n",
                thousands(total_rejects),
                p.display()
            )),
            None => {
                s.push_str(&format!(
                    "rejects: {} (all of them with --rejects FILE)\n",
                    thousands(total_rejects)
                ));
                for r in b.rejects.iter().chain(&run.event_rejects).take(10) {
                    s.push_str(&format!("  {r}\n"));
                }
            }
        }
    }
    for w in &b.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    let times: Vec<String> = run
        .timings
        .iter()
        .map(|(k, t)| format!("{k} {t:.2}s"))
        .collect();
    s.push_str(&format!("time: {}\n", times.join(", ")));
    s
}

/// `+25` style points for explain output.
pub fn pts(p: f64) -> String {
    format_points(p)
}

/// Writes a command's text output to stdout. A reader that went away
/// (`leadq … | head`) is not an error.
pub fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
