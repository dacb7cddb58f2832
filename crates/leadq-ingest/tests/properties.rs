//! Invariants of ingest that must hold for any input.

use leadq_core::CompiledModel;
use leadq_ingest::events::read_events;
use leadq_ingest::normalize::{fold, parse_number};
use leadq_ingest::{clean_records, load_leads, load_leads_with, reader, InputFormat, Mapping};
use proptest::prelude::*;

const MODEL: &str = r#"
name = "p"
[grades]
A = 30
B = 20
C = 10
[bands]
1 = 30
2 = 10
3 = 1
[[fit]]
name = "big"
when = "employees >= 100"
points = 10
[[engagement]]
name = "views"
event = "page_view"
points = 2
half_life_days = 10
[[engagement]]
name = "demo"
event = "demo_request"
points = 20
half_life_days = 30
cap = 20
cap_window_days = 7
[mql]
when = "fit > 0"
"#;

const AS_OF: i64 = 1_772_366_400; // 2026-03-01T12:00:00Z

fn leads_csv(n: usize) -> String {
    let mut s = String::from("lead_id,email,employees\n");
    for i in 0..n {
        s.push_str(&format!("L{i},p{i}@acme{i}.com,{}\n", i * 37 % 500));
    }
    s
}

fn events_csv(events: &[(usize, bool, u32)], repeat: &[bool]) -> String {
    let mut s = String::from("event_id,lead_id,type,timestamp\n");
    for (k, (lead, demo, age_hours)) in events.iter().enumerate() {
        let ts = jiff::Timestamp::from_second(AS_OF - *age_hours as i64 * 3600).unwrap();
        let line = format!(
            "E{k},L{lead},{},{ts}\n",
            if *demo { "demo_request" } else { "page_view" }
        );
        s.push_str(&line);
        if repeat.get(k).copied().unwrap_or(false) {
            s.push_str(&line);
        }
    }
    s
}

fn engagement(leads: &str, events: &str) -> Vec<f64> {
    let model = CompiledModel::from_toml(MODEL).unwrap();
    let batch = load_leads(
        leads.as_bytes(),
        InputFormat::Csv,
        &model,
        &Mapping::default(),
    )
    .unwrap();
    let (store, _, _) = read_events(
        events.as_bytes(),
        InputFormat::Csv,
        &model,
        &batch.index,
        batch.leads.len(),
    )
    .unwrap();
    (0..batch.leads.len())
        .map(|i| {
            model
                .score(&batch.leads[i], store.view(i), leadq_core::Timestamp(AS_OF))
                .engagement
        })
        .collect()
}

/// A lead file mixing every kind of record a real export holds: good rows,
/// duplicates, invalid values, rows without an id, rows of the wrong width,
/// blank lines, quoted fields over several lines and bytes that are not
/// UTF-8.
fn messy_csv(kinds: &[u8]) -> Vec<u8> {
    let mut s = b"lead_id,email,employees\n".to_vec();
    for (i, k) in kinds.iter().enumerate() {
        let line = match k % 8 {
            0 | 1 => format!("L{i},p{i}@acme{i}.com,{}\n", i * 37 % 500),
            2 => format!("D{i},p{}@acme{}.com,\n", i / 2, i / 2),
            3 => format!("B{i},bad{i}@@acme.com,5\n"),
            4 => ",,12\n".to_string(),
            5 => format!("W{i},w{i}@acme.com\n"),
            6 => format!("\"Q{i}\nsecond line\",q{i}@acme.com,7\n\n"),
            _ => {
                s.extend_from_slice(format!("U{i},u{i}@acme.com,\"9").as_bytes());
                s.push(0xFF);
                "\"\n".to_string()
            }
        };
        s.extend_from_slice(line.as_bytes());
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn delivering_events_again_never_changes_a_score(
        events in prop::collection::vec((0usize..8, any::<bool>(), 0u32..2000), 0..60),
        repeat in prop::collection::vec(any::<bool>(), 60),
    ) {
        let leads = leads_csv(8);
        let once = engagement(&leads, &events_csv(&events, &[]));
        let twice = engagement(&leads, &events_csv(&events, &repeat));
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn reading_the_same_file_twice_gives_the_same_leads(n in 1usize..40, dup_every in 2usize..7) {
        // Rows repeated with a different id but the same email merge into one lead.
        let mut text = leads_csv(n);
        for i in (0..n).step_by(dup_every) {
            text.push_str(&format!("X{i},P{i}@ACME{i}.COM,\n"));
        }
        let model = CompiledModel::from_toml(MODEL).unwrap();
        let a = load_leads(text.as_bytes(), InputFormat::Csv, &model, &Mapping::default()).unwrap();
        let b = load_leads(text.as_bytes(), InputFormat::Csv, &model, &Mapping::default()).unwrap();
        prop_assert_eq!(a.leads.len(), n);
        prop_assert_eq!(&a.leads, &b.leads);
        prop_assert_eq!(a.merges.len(), n.div_ceil(dup_every));
        // Merged leads keep the employee count of the record that had one.
        for l in &a.leads {
            prop_assert!(l.company.employees.is_some(), "{} lost its employees", l.id);
        }
    }

    #[test]
    fn folding_is_idempotent(s in "\\PC{0,30}") {
        let once = fold(&s);
        prop_assert_eq!(fold(&once), once.clone());
        prop_assert!(!once.contains("  "));
    }

    #[test]
    fn integers_with_thousands_separators_parse_back(n in 0u64..10_000_000_000) {
        let plain = n.to_string();
        let mut grouped = String::new();
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && (plain.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        prop_assert_eq!(parse_number(&grouped), Some(n as f64));
        prop_assert_eq!(parse_number(&plain), Some(n as f64));
    }

    #[test]
    fn folding_is_unicode_lower_case_with_whitespace_collapsed(raw in "[ \\tA-Za-zÄÖÜäöüßÉéİ0-9.-]{0,24}") {
        let expected = raw
            .split_whitespace()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        prop_assert_eq!(fold(&raw), expected);
    }

    #[test]
    fn csv_leads_built_while_reading_match_the_records_read_whole(
        kinds in prop::collection::vec(0u8..8, 0..300),
    ) {
        let model = CompiledModel::from_toml(MODEL).unwrap();
        let mapping = Mapping::default();
        let text = messy_csv(&kinds);
        let kept = load_leads_with(&text, InputFormat::Csv, &model, &mapping, true).unwrap();
        let lean = load_leads_with(&text, InputFormat::Csv, &model, &mapping, false).unwrap();
        prop_assert_eq!(&kept.leads, &lean.leads);
        prop_assert_eq!(&kept.rows, &lean.rows);
        prop_assert_eq!(&kept.rejects, &lean.rejects);
        prop_assert_eq!(kept.merges.len(), lean.merges.len());
        prop_assert!(lean.raw.is_empty());

        // Every record, cleaned one by one from the whole table: the same
        // rejects with the same rows and lines, the same accepted records.
        let cleaned = clean_records(&text, InputFormat::Csv, &model, &mapping).unwrap();
        let rejected: Vec<_> = cleaned
            .results
            .iter()
            .filter_map(|(_, r)| r.as_ref().err().cloned())
            .collect();
        prop_assert_eq!(&kept.rejects, &rejected);
        let accepted = cleaned.results.iter().filter(|(_, r)| r.is_ok()).count();
        let merged: usize = kept.merges.iter().map(|m| m.merged_rows.len()).sum();
        prop_assert_eq!(kept.leads.len() + merged, accepted);
        prop_assert_eq!(kept.records(), cleaned.results.len());

        // Each survivor's record, read again, is the record the table holds.
        let table = reader::read_table(&text, InputFormat::Csv).unwrap();
        prop_assert_eq!(kept.raw.len(), kept.leads.len());
        for (raw, row) in kept.raw.iter().zip(&kept.rows) {
            let original = table.rows.iter().find(|r| r.row == *row).unwrap();
            prop_assert_eq!(raw, &original.fields);
        }
    }
}
