//! Open-loop load against a running `leadq serve`: requests are sent at a
//! fixed rate whatever the server's replies do, and each latency is counted
//! from the instant its request was due, not from when a free connection
//! sent it. A closed-loop tool (wrk) only sends when a reply came back, so a
//! stalled server is asked less and its stall is counted once instead of
//! for every request that should have gone out meanwhile; it also measures
//! latency at saturation, where it is set by the number of connections.
//! This answers "at N requests a second, how slow is the slowest 1%?".
//!
//! `cargo bench -p leadq-server --bench load -- --url http://127.0.0.1:18090
//! --token TOKEN --rate 3000 --seconds 15 [--connections 64] [--kind lead|events]
//! [--leads 2000] [--warmup 2] [--timeline MS]`
//!
//! `--timeline MS` lists every tenth of a second whose slowest request
//! took longer than MS milliseconds: a tail spread evenly and a few
//! periodic stalls look alike in percentiles and not at all alike here.
//!
//! `--kind lead` POSTs one new lead per request (a unique email, as
//! `bench/serve/post_lead.lua`); `--kind events` POSTs batches of 1,000 events
//! over `--leads` demo leads (as `post_events.lua`). The client runs on one
//! thread so that the server keeps the other core.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

mod common;
use common::{arg, arg_or, COUNTRIES, INDUSTRIES};

const EVENT_KINDS: [&str; 5] = [
    "page_view",
    "pricing_page_view",
    "email_open",
    "email_click",
    "content_download",
];

fn lead_body(run: u64, i: u64) -> String {
    format!(
        r#"{{"email":"p{run}-{i}@corp{c}.example.com","first_name":"Pat","last_name":"Lee","company":"Corp {c}","industry":"{ind}","employees":{emp},"country":"{country}","job_title":"VP Engineering","lead_source":"Web"}}"#,
        c = i % 997,
        ind = INDUSTRIES[(i % 5) as usize],
        emp = (i * 37) % 5000 + 1,
        country = COUNTRIES[(i % 5) as usize],
    )
}

fn events_body(run: u64, i: u64, leads: u64) -> String {
    let mut body = String::with_capacity(1000 * 140);
    body.push_str(r#"{"events":["#);
    for k in 0..1000u64 {
        let n = i * 1000 + k;
        // A cheap spread over the leads that does not need a random source.
        let lead = (n.wrapping_mul(2_654_435_761) >> 7) % leads + 1;
        if k > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"lead_id":"L{lead:07}","type":"{kind}","properties":{{"url":"/docs/{u}"}},"idempotency_key":"o-{run}-{n}"}}"#,
            kind = EVENT_KINDS[(n % 5) as usize],
            u = n % 50,
        ));
    }
    body.push_str("]}");
    body
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() {
    let url = arg("--url").unwrap_or_else(|| "http://127.0.0.1:18090".into());
    let token = arg("--token")
        .or_else(|| std::env::var("LEADQ_TOKEN").ok())
        .expect("--token or LEADQ_TOKEN");
    let rate: f64 = arg_or("--rate", 3000.0);
    let seconds: f64 = arg_or("--seconds", 15.0);
    let connections: usize = arg_or("--connections", 64);
    let leads: u64 = arg_or("--leads", 2000);
    let kind = arg("--kind").unwrap_or_else(|| "lead".into());
    let path = match kind.as_str() {
        "lead" => "/api/v1/leads",
        "events" => "/api/v1/events/batch",
        other => panic!("--kind: lead or events, not {other:?}"),
    };
    let warmup: f64 = arg_or("--warmup", 2.0);
    let total = (rate * (seconds + warmup)).round() as u64;
    // Requests in the first `--warmup` seconds open the connections and are
    // not counted.
    let uncounted = (rate * warmup).round() as u64;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        let endpoint = format!("{url}{path}");
        let next = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let start = Instant::now() + Duration::from_millis(50);
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut workers = Vec::new();
        for _ in 0..connections {
            let (client, endpoint, token, next, failed, kind) = (
                client.clone(),
                endpoint.clone(),
                token.clone(),
                next.clone(),
                failed.clone(),
                kind.clone(),
            );
            workers.push(tokio::spawn(async move {
                let mut latencies_us = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return latencies_us;
                    }
                    let due = start + interval.mul_f64(i as f64);
                    tokio::time::sleep_until(due).await;
                    let body = if kind == "lead" {
                        lead_body(run, i)
                    } else {
                        events_body(run, i, leads)
                    };
                    let reply = client
                        .post(&endpoint)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    let ok = match reply {
                        Ok(r) => {
                            let good = r.status().is_success();
                            // Read the body so the connection is reused.
                            let _ = r.bytes().await;
                            good
                        }
                        Err(_) => false,
                    };
                    if !ok && i >= uncounted {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    if i >= uncounted {
                        latencies_us.push((i - uncounted, due.elapsed().as_micros() as u64));
                    }
                }
            }));
        }
        let mut by_request = Vec::with_capacity(total as usize);
        for w in workers {
            by_request.extend(w.await.expect("a load worker"));
        }
        let elapsed = start.elapsed().as_secs_f64() - warmup;
        if let Some(over_ms) = arg("--timeline").and_then(|v| v.parse::<f64>().ok()) {
            // Worst latency per tenth of a second of due time: shows whether
            // a tail is spread out or a few stalls.
            let mut worst = vec![0u64; (seconds * 10.0).ceil() as usize + 1];
            for &(i, us) in &by_request {
                let slot = (((i as f64 / rate) * 10.0) as usize).min(worst.len() - 1);
                worst[slot] = worst[slot].max(us);
            }
            for (slot, us) in worst.iter().enumerate() {
                if *us as f64 > over_ms * 1000.0 {
                    println!("  at {:.1} s: worst {:.1} ms", slot as f64 / 10.0, *us as f64 / 1000.0);
                }
            }
        }
        let mut all: Vec<u64> = by_request.into_iter().map(|(_, us)| us).collect();
        all.sort_unstable();
        let failed = failed.load(Ordering::Relaxed);
        println!(
            "open loop: {kind} POST {endpoint}, asked {rate:.0}/s for {seconds:.0} s (after {warmup:.0} s not counted) over {connections} connections"
        );
        println!(
            "sent {} in {elapsed:.2} s = {:.0}/s achieved; non-2xx or failed: {failed}",
            all.len(),
            all.len() as f64 / elapsed
        );
        println!(
            "latency from due time, ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            percentile(&all, 50.0),
            percentile(&all, 90.0),
            percentile(&all, 99.0),
            percentile(&all, 99.9),
            percentile(&all, 100.0),
        );
    });
}
