//! End-to-end tests of the `leadq` command line: every test writes its own
//! data (small hand-written files, or `leadq demo generate`) into a
//! temporary directory and runs the real binary on it.

use assert_cmd::cargo::cargo_bin_cmd;
use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const AS_OF: &str = "2026-11-01T00:00:00Z";
const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/default-model.toml"
);

/// The fixed output columns of the default model, in order.
const SCORE_COLUMNS: [&str; 13] = [
    "lead_id",
    "rank",
    "priority",
    "grade",
    "fit",
    "engagement",
    "score",
    "band",
    "mql",
    "sql",
    "bant_status",
    "bant_unknown",
    "reasons",
];

// ---- helpers ---------------------------------------------------------------

fn leadq() -> Command {
    cargo_bin_cmd!("leadq")
}

fn tmp() -> TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("write a fixture");
    p
}

/// `leadq qualify INPUT --model default --as-of AS_OF`, more args to add.
fn qualify(input: &Path) -> Command {
    let mut c = leadq();
    c.arg("qualify")
        .arg(input)
        .arg("--model")
        .arg(MODEL)
        .arg("--as-of")
        .arg(AS_OF);
    c
}

/// Writes the demo data set (leads.csv, events.csv, outcomes.csv) to `dir`.
fn generate(dir: &Path, leads: usize, seed: u64) {
    leadq()
        .args(["demo", "generate", "--leads"])
        .arg(leads.to_string())
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--out")
        .arg(dir)
        .assert()
        .success();
    for f in ["leads.csv", "events.csv", "outcomes.csv"] {
        assert!(dir.join(f).is_file(), "demo generate wrote no {f}");
    }
}

fn demo_data(dir: &Path) {
    generate(dir, 2000, 3);
}

fn stdout_of(c: &mut Command) -> String {
    let out = c.assert().success().get_output().stdout.clone();
    String::from_utf8(out).expect("UTF-8 output")
}

fn stderr_of(c: &mut Command) -> String {
    let out = c.assert().success().get_output().stderr.clone();
    String::from_utf8(out).expect("UTF-8 output")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// A small RFC 4180 reader: quoted fields, doubled quotes, newlines and
/// delimiters inside quotes, LF or CRLF line ends.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// A CSV file as a header and rows of `column -> value` lookups.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn parse(text: &str) -> Table {
        let mut recs = parse_csv(text);
        assert!(!recs.is_empty(), "an empty CSV:\n{text}");
        let header = recs.remove(0);
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(
                r.len(),
                header.len(),
                "output row {} has {} fields, the header {}",
                i + 1,
                r.len(),
                header.len()
            );
        }
        Table { header, rows: recs }
    }

    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column '{name}' in {:?}", self.header))
    }

    fn column(&self, name: &str) -> Vec<&str> {
        let i = self.col(name);
        self.rows.iter().map(|r| r[i].as_str()).collect()
    }

    /// The value of `column` in the row whose `key_col` is `key`.
    fn get(&self, key_col: &str, key: &str, column: &str) -> &str {
        let (k, c) = (self.col(key_col), self.col(column));
        let row = self
            .rows
            .iter()
            .find(|r| r[k] == key)
            .unwrap_or_else(|| panic!("no row with {key_col} = {key}"));
        &row[c]
    }
}

fn num(s: &str) -> f64 {
    s.parse()
        .unwrap_or_else(|_| panic!("'{s}' is not a number"))
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{text}"))
}

// ---- qualify: the output table --------------------------------------------

#[test]
fn qualify_writes_the_score_columns_then_the_input_columns_with_clashes_renamed() {
    let dir = tmp();
    demo_data(dir.path());
    let out = dir.path().join("out.csv");
    qualify(&dir.path().join("leads.csv"))
        .arg("--events")
        .arg(dir.path().join("events.csv"))
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .assert()
        .success()
        .stdout("");
    let t = Table::parse(&read(&out));
    assert_eq!(&t.header[..SCORE_COLUMNS.len()], &SCORE_COLUMNS[..]);

    let input = read(&dir.path().join("leads.csv"));
    let input_header = &parse_csv(input.lines().next().unwrap())[0];
    let expected: Vec<String> = input_header
        .iter()
        .map(|h| {
            if h == "lead_id" {
                "input.lead_id".to_string()
            } else {
                h.clone()
            }
        })
        .collect();
    assert_eq!(&t.header[SCORE_COLUMNS.len()..], &expected[..]);
    assert!(t.header.iter().filter(|h| *h == "lead_id").count() == 1);

    // The passed-through record is the lead's own record.
    let (id, input_id) = (t.col("lead_id"), t.col("input.lead_id"));
    for r in &t.rows {
        assert_eq!(r[id], r[input_id], "a row carries another lead's input");
    }
}

#[test]
fn qualify_ranks_rows_one_to_n_with_grades_bands_and_flags_consistent_with_the_model() {
    let dir = tmp();
    demo_data(dir.path());
    let mut cmd = qualify(&dir.path().join("leads.csv"));
    cmd.arg("--events").arg(dir.path().join("events.csv"));
    let assert = cmd.assert().success();
    let out = assert.get_output();
    let t = Table::parse(std::str::from_utf8(&out.stdout).unwrap());
    let summary = String::from_utf8_lossy(&out.stderr);

    assert!(t.rows.len() > 1500, "only {} leads", t.rows.len());
    let expected_count = format!("-> {} leads", thousands(t.rows.len()));
    assert!(
        summary.contains(&expected_count),
        "the summary does not say '{expected_count}':\n{summary}"
    );

    let ranks: Vec<usize> = t
        .column("rank")
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    assert_eq!(ranks, (1..=t.rows.len()).collect::<Vec<_>>());

    let mut ids: Vec<&str> = t.column("lead_id");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), t.rows.len(), "a lead appears twice");

    let mut grades_seen = std::collections::BTreeSet::new();
    let mut prev: Option<(String, f64)> = None;
    for r in &t.rows {
        let get = |c: &str| r[t.col(c)].as_str();
        let (grade, band) = (get("grade"), get("band"));
        grades_seen.insert(grade.to_string());
        assert!(["A", "B", "C", "D"].contains(&grade), "grade {grade}");
        assert!(["1", "2", "3", "4"].contains(&band), "band {band}");
        assert!(
            ["true", "false"].contains(&get("mql")),
            "mql {}",
            get("mql")
        );
        assert!(
            ["true", "false"].contains(&get("sql")),
            "sql {}",
            get("sql")
        );
        assert_eq!(get("priority"), format!("{grade}{band}"));

        let (fit, eng, score) = (num(get("fit")), num(get("engagement")), num(get("score")));
        let want_grade = match fit {
            f if f >= 60.0 => "A",
            f if f >= 40.0 => "B",
            f if f >= 20.0 => "C",
            _ => "D",
        };
        assert_eq!(grade, want_grade, "fit {fit} of {}", get("lead_id"));
        let eps = 0.01;
        let want_band_ok = match band {
            "1" => eng >= 40.0 - eps,
            "2" => (20.0 - eps..40.0 + eps).contains(&eng),
            "3" => (8.0 - eps..20.0 + eps).contains(&eng),
            _ => eng < 8.0 + eps,
        };
        assert!(want_band_ok, "engagement {eng} in band {band}");
        assert!(
            (fit + eng - score).abs() < 0.02,
            "score {score} != fit {fit} + engagement {eng}"
        );
        assert!(fit >= 0.0 && eng >= 0.0);

        // Within one priority the higher score ranks first.
        let p = get("priority").to_string();
        if let Some((pp, ps)) = &prev {
            if *pp == p {
                assert!(*ps >= score, "{p}: score {score} ranked below {ps}");
            }
        }
        prev = Some((p, score));
    }
    assert_eq!(grades_seen.len(), 4, "demo data should use every grade");
    assert!(t.column("mql").contains(&"true"));
    assert!(t.column("mql").contains(&"false"));
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let groups: Vec<&str> = s
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap())
        .collect();
    groups.join(",")
}

#[test]
fn no_passthrough_leaves_only_the_score_columns() {
    let dir = tmp();
    let input = write(
        dir.path(),
        "leads.csv",
        "lead_id,email,company,employees,country\nP1,pia@acme.io,Acme,300,US\n",
    );
    let out = stdout_of(qualify(&input).args(["--no-passthrough", "-q"]));
    let t = Table::parse(&out);
    assert_eq!(t.header, SCORE_COLUMNS);
    assert_eq!(t.column("lead_id"), ["P1"]);
}

// ---- rejects ---------------------------------------------------------------

/// Row 1 spans two lines, so every later row starts on line row + 2.
const BAD_ROWS: &str = "lead_id,email,first_name,last_name,company,employees,country\n\
S1,ann@acme.io,Ann,Lee,\"Acme\nLabs\",500,US\n\
S2,bob at acme.io,Bob,Ray,Acme,300,US\n\
S3,cat@beta.io,Cat,Moe,Beta,many,GB\n\
,,Dan,Fox,Gamma,20,US\n\
S5,eve@delta.io,Eve,Kim,Delta,1200\n\
S6,fay@eps.io,Fay,Orr,Eps,40,DE\n";

#[test]
fn rejects_file_lists_each_bad_row_with_its_row_line_column_and_reason() {
    let dir = tmp();
    let input = write(dir.path(), "leads.csv", BAD_ROWS);
    let rejects = dir.path().join("rejects.csv");
    let out = stdout_of(
        qualify(&input)
            .arg("--rejects")
            .arg(&rejects)
            .arg("--quiet"),
    );

    let r = Table::parse(&read(&rejects));
    assert_eq!(
        r.header,
        ["file", "row", "line", "column", "value", "reason"]
    );
    let got: Vec<(&str, &str, &str, &str, &str)> = r
        .rows
        .iter()
        .map(|x| {
            (
                x[0].as_str(),
                x[1].as_str(),
                x[2].as_str(),
                x[3].as_str(),
                x[4].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("leads", "2", "4", "email", "bob at acme.io"),
            ("leads", "3", "5", "employees", "many"),
            ("leads", "4", "6", "", ""),
            ("leads", "5", "7", "", ""),
        ]
    );
    let reasons = r.column("reason");
    assert!(reasons[0].contains("not a valid email") && reasons[0].contains('@'));
    assert!(reasons[1].contains("'many'") && reasons[1].contains("number"));
    assert!(reasons[2].contains("lead id, an email or a phone"));
    assert!(reasons[3].contains("6 fields") && reasons[3].contains("7"));

    let t = Table::parse(&out);
    let mut ids = t.column("lead_id");
    ids.sort_unstable();
    assert_eq!(ids, ["S1", "S6"], "the good rows are all kept");
    assert_eq!(t.get("lead_id", "S1", "company"), "Acme\nLabs");
}

#[test]
fn without_a_rejects_file_the_summary_counts_and_shows_the_rejected_rows() {
    let dir = tmp();
    let input = write(dir.path(), "leads.csv", BAD_ROWS);
    let err = stderr_of(&mut qualify(&input));
    for want in [
        "6 records -> 2 leads (4 rejected",
        "rejects: 4 (all of them with --rejects FILE)",
        "leads row 2 (line 4), column 'email'",
        "leads row 3 (line 5), column 'employees'",
        "leads row 4 (line 6): a lead needs a lead id",
        "leads row 5 (line 7): cannot be read",
    ] {
        assert!(err.contains(want), "stderr lacks '{want}':\n{err}");
    }
}

#[test]
fn with_a_rejects_file_the_summary_points_to_it() {
    let dir = tmp();
    let input = write(dir.path(), "leads.csv", BAD_ROWS);
    let rejects = dir.path().join("bad-rows.csv");
    let err = stderr_of(qualify(&input).arg("--rejects").arg(&rejects));
    assert!(err.contains("rejects: 4 written to"), "{err}");
    assert!(err.contains("bad-rows.csv"), "{err}");
    assert!(
        !err.contains("leads row 2"),
        "rows are listed in the file only"
    );
}

#[test]
fn rejects_of_a_large_file_point_at_the_lines_that_hold_them() {
    // The generated file has one record per line, so record n is on line
    // n + 1; it is large enough to be read in parallel chunks.
    let dir = tmp();
    demo_data(dir.path());
    let leads = read(&dir.path().join("leads.csv"));
    let lines: Vec<&str> = leads.lines().collect();
    let width = parse_csv(lines[0])[0].len();
    let rejects = dir.path().join("rejects.csv");
    qualify(&dir.path().join("leads.csv"))
        .arg("--rejects")
        .arg(&rejects)
        .arg("-q")
        .assert()
        .success();
    let r = Table::parse(&read(&rejects));
    assert!(r.rows.len() >= 10, "only {} rejects", r.rows.len());
    let mut prev_row = 0;
    for x in &r.rows {
        let (row, line) = (num(&x[1]) as usize, num(&x[2]) as usize);
        assert_eq!(x[0], "leads");
        assert_eq!(line, row + 1, "{x:?}");
        assert!(row > prev_row, "rejects are not in file order: {x:?}");
        prev_row = row;
        let text = lines[line - 1];
        let fields = &parse_csv(text)[0];
        if x[3].is_empty() {
            assert!(
                fields.len() != width || x[5].contains("lead id, an email or a phone"),
                "line {line} looks fine: {text}"
            );
        } else {
            let col = lines[0].split(',').position(|h| h == x[3]).unwrap();
            assert_eq!(fields[col], x[4], "line {line}: {text}");
        }
    }
}

#[test]
fn a_reject_in_a_json_array_names_the_line_its_object_starts_on() {
    let dir = tmp();
    let input = write(
        dir.path(),
        "leads.json",
        "[\n  {\"lead_id\": \"J1\", \"email\": \"a@acme.io\"},\n  {\"lead_id\": \"J2\", \"email\": \"bad at acme.io\"}\n]\n",
    );
    let rejects = dir.path().join("rejects.csv");
    qualify(&input)
        .arg("--rejects")
        .arg(&rejects)
        .arg("-q")
        .assert()
        .success()
        .stdout(predicate::str::contains("J1"));
    let r = Table::parse(&read(&rejects));
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.rows[0][1], "2", "J2 is the second object");
    assert_eq!(r.rows[0][2], "3", "J2 starts on line 3 of the file");
}

#[test]
fn blank_lines_do_not_shift_the_line_numbers_of_later_rejects() {
    let dir = tmp();
    // Lines 3 and 4 are blank; S3 is on line 5 and S4 on line 6.
    let input = write(
        dir.path(),
        "leads.csv",
        "lead_id,email,company,employees\n\
         S1,ann@acme.io,Acme,500\n\
         \n\
         \n\
         S3,cat@beta.io,Beta,many\n\
         S4,dan@beta.io,Beta,lots\n",
    );
    let rejects = dir.path().join("rejects.csv");
    qualify(&input)
        .arg("--rejects")
        .arg(&rejects)
        .arg("-q")
        .assert()
        .success();
    let r = Table::parse(&read(&rejects));
    let got: Vec<(&str, &str, &str)> = r
        .rows
        .iter()
        .map(|x| (x[1].as_str(), x[2].as_str(), x[4].as_str()))
        .collect();
    assert_eq!(
        got,
        [("2", "5", "many"), ("3", "6", "lots")],
        "(row, line, value) of each reject"
    );
}

#[test]
fn blank_lines_do_not_shift_the_line_numbers_of_later_event_rejects() {
    let dir = tmp();
    write(dir.path(), "leads.csv", EVENT_LEADS);
    // Lines 3 and 4 are blank; the bad timestamps are on lines 5 and 6.
    let events = write(
        dir.path(),
        "events.csv",
        "event_id,lead_id,type,timestamp,url\n\
         E1,K1,page_view,2026-10-20T10:00:00Z,/pricing\n\
         \n\
         \n\
         E5,K2,email_click,yesterday,\n\
         E6,K2,email_click,nope,\n",
    );
    let rejects = dir.path().join("rejects.csv");
    qualify(&dir.path().join("leads.csv"))
        .arg("--events")
        .arg(&events)
        .arg("--rejects")
        .arg(&rejects)
        .arg("-q")
        .assert()
        .success();
    let r = Table::parse(&read(&rejects));
    let lines: Vec<(&str, &str)> = r
        .rows
        .iter()
        .map(|x| (x[2].as_str(), x[4].as_str()))
        .collect();
    assert_eq!(lines, [("5", "yesterday"), ("6", "nope")], "(line, value)");
}

// ---- exit codes ------------------------------------------------------------

const BROKEN_MODEL: &str = r#"name = "Broken"
[grades]
A = 60
B = 40
C = 20
[bands]
1 = 40
2 = 20
3 = 8

[[fit]]
name = "Big company"
when = "employees >= 1000"
points = 20

[[fit]]
name = "Weird rule"
when = "employees >= && industry"
points = 5

[mql]
when = 'grade == "A"'
"#;

fn small_leads(dir: &Path) -> PathBuf {
    write(
        dir,
        "leads.csv",
        "lead_id,email,company,employees,country\nP1,pia@acme.io,Acme,300,US\n",
    )
}

#[test]
fn an_invalid_rule_exits_1_and_names_the_rule_and_its_line() {
    let dir = tmp();
    let model = write(dir.path(), "broken.toml", BROKEN_MODEL);
    leadq()
        .arg("qualify")
        .arg(small_leads(dir.path()))
        .arg("--model")
        .arg(&model)
        .args(["--as-of", AS_OF])
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::contains("broken.toml")
                .and(predicate::str::contains("fit rule 'Weird rule'"))
                .and(predicate::str::contains("syntax error"))
                .and(predicate::str::contains("line 18, column")),
        );
}

#[test]
fn a_syntax_error_column_points_at_the_offending_token() {
    // `when = "employees >= && industry"`: the expression starts at column
    // 9 of line 18, and `&&` is its 14th character, column 22 of the line.
    let dir = tmp();
    let model = write(dir.path(), "broken.toml", BROKEN_MODEL);
    leadq()
        .arg("qualify")
        .arg(small_leads(dir.path()))
        .arg("--model")
        .arg(&model)
        .args(["--as-of", AS_OF])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "line 18, column 22 of the model; column 14 of the expression",
        ));
}

#[test]
fn an_unknown_field_error_points_at_the_field() {
    let dir = tmp();
    let model = write(
        dir.path(),
        "typo.toml",
        BROKEN_MODEL.replace(
            "employees >= && industry",
            "employees >= 1 && industy == \\\"x\\\"",
        ),
    );
    // `industy` is the 19th character of the expression, column 27 of line 18.
    leadq()
        .arg("qualify")
        .arg(small_leads(dir.path()))
        .arg("--model")
        .arg(&model)
        .args(["--as-of", AS_OF])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("unknown field 'industy'")
                .and(predicate::str::contains("did you mean 'industry'"))
                .and(predicate::str::contains(
                    "line 18, column 27 of the model; column 19 of the expression",
                )),
        );
}

#[test]
fn a_missing_input_file_exits_1() {
    let dir = tmp();
    qualify(&dir.path().join("no-such-leads.csv"))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("cannot read input")
                .and(predicate::str::contains("no-such-leads.csv")),
        );
}

#[test]
fn a_missing_model_file_exits_1() {
    let dir = tmp();
    leadq()
        .arg("qualify")
        .arg(small_leads(dir.path()))
        .arg("--model")
        .arg(dir.path().join("nope.toml"))
        .args(["--as-of", AS_OF])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("cannot read model")
                .and(predicate::str::contains("nope.toml")),
        );
}

#[test]
fn an_unknown_flag_exits_2() {
    let dir = tmp();
    qualify(&small_leads(dir.path()))
        .arg("--frobnicate")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("--frobnicate"));
}

#[test]
fn a_missing_required_argument_exits_2() {
    let dir = tmp();
    leadq()
        .args(["qualify", "--model", MODEL])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<INPUT>"));
    leadq()
        .arg("qualify")
        .arg(small_leads(dir.path()))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--model"));
    leadq()
        .args(["explain", "--model", MODEL])
        .arg(small_leads(dir.path()))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--lead"));
    leadq().assert().code(2);
}

#[test]
fn an_as_of_that_is_not_a_timestamp_exits_2() {
    let dir = tmp();
    leadq()
        .arg("qualify")
        .arg(small_leads(dir.path()))
        .args(["--model", MODEL, "--as-of", "garbage"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "--as-of 'garbage' is not a timestamp",
        ));
}

#[test]
fn help_exits_0_and_prints_usage() {
    leadq().arg("--help").assert().code(0).stdout(
        predicate::str::contains("Usage")
            .and(predicate::str::contains("qualify"))
            .and(predicate::str::contains("backtest")),
    );
    leadq()
        .args(["qualify", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("--rejects").and(predicate::str::contains("--as-of")));
}

// ---- determinism and JSON output -------------------------------------------

#[test]
fn two_runs_on_the_same_data_give_byte_identical_output() {
    let dir = tmp();
    demo_data(dir.path());
    let run = |name: &str, format: &str| {
        let out = dir.path().join(name);
        qualify(&dir.path().join("leads.csv"))
            .arg("--events")
            .arg(dir.path().join("events.csv"))
            .args(["--format", format, "-q", "--out"])
            .arg(&out)
            .assert()
            .success();
        std::fs::read(out).unwrap()
    };
    for format in ["csv", "json", "ndjson"] {
        let a = run(&format!("a.{format}"), format);
        let b = run(&format!("b.{format}"), format);
        assert!(
            a.len() > 100_000,
            "{format} output is only {} bytes",
            a.len()
        );
        assert!(a == b, "two {format} runs differ");
    }
}

/// Checks one lead object of the JSON or NDJSON output.
fn check_lead_json(v: &Value) {
    let id = v["lead_id"].as_str().expect("lead_id is a string");
    let reasons = v["reasons"].as_array().expect("reasons is an array");
    let (mut fit, mut eng) = (0.0, 0.0);
    for r in reasons {
        assert!(
            r["rule"].as_str().is_some_and(|s| !s.is_empty()),
            "{id}: {r}"
        );
        let p = r["points"].as_f64().unwrap_or_else(|| panic!("{id}: {r}"));
        match r["kind"].as_str() {
            Some("fit") => fit += p,
            Some("engagement") => {
                eng += p;
                assert!(r["events"].is_u64(), "{id}: {r}");
            }
            other => panic!("{id}: kind {other:?}"),
        }
    }
    // Fit and engagement are the sums of their reasons, floored at zero.
    let f = v["fit"].as_f64().unwrap();
    let e = v["engagement"].as_f64().unwrap();
    assert!(
        (f64::max(fit, 0.0) - f).abs() < 0.05,
        "{id}: fit {f}, reasons {fit}"
    );
    assert!(
        (f64::max(eng, 0.0) - e).abs() < 0.1,
        "{id}: engagement {e}, reasons {eng}"
    );
    assert!(v["mql"].is_boolean() && v["sql"].is_boolean());
    assert!(v["input"].is_object());
}

#[test]
fn json_output_parses_with_reasons_that_name_a_rule_and_its_points() {
    let dir = tmp();
    demo_data(dir.path());
    let leads = dir.path().join("leads.csv");
    let events = dir.path().join("events.csv");
    let text = stdout_of(
        qualify(&leads)
            .arg("--events")
            .arg(&events)
            .args(["--format", "json", "-q"]),
    );
    let arr = json(&text);
    let arr = arr.as_array().expect("a JSON array");
    let csv = Table::parse(&stdout_of(
        qualify(&leads).arg("--events").arg(&events).arg("-q"),
    ));
    assert_eq!(arr.len(), csv.rows.len());
    let mut with_engagement = 0;
    for (i, v) in arr.iter().enumerate() {
        assert_eq!(v["rank"].as_u64(), Some(i as u64 + 1));
        assert_eq!(
            v["lead_id"].as_str(),
            Some(csv.rows[i][0].as_str()),
            "JSON and CSV order differ"
        );
        check_lead_json(v);
        with_engagement += v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "engagement") as usize;
    }
    assert!(
        with_engagement > arr.len() / 2,
        "events barely used: {with_engagement}"
    );
}

#[test]
fn ndjson_output_has_one_lead_object_per_line_equal_to_the_json_array() {
    let dir = tmp();
    demo_data(dir.path());
    let leads = dir.path().join("leads.csv");
    let nd_path = dir.path().join("out.ndjson");
    // The format follows the --out extension.
    qualify(&leads)
        .arg("-q")
        .arg("--out")
        .arg(&nd_path)
        .assert()
        .success();
    let nd = read(&nd_path);
    let arr = json(&stdout_of(qualify(&leads).args(["--format", "json", "-q"])));
    let arr = arr.as_array().unwrap();
    let lines: Vec<&str> = nd.lines().collect();
    assert_eq!(lines.len(), arr.len());
    for (line, expected) in lines.iter().zip(arr) {
        let v = json(line);
        check_lead_json(&v);
        assert_eq!(&v, expected);
    }
}

// ---- duplicates ------------------------------------------------------------

const DUPLICATES: &str =
    "lead_id,email,first_name,last_name,job_title,company,employees,country,updated_at
D1,Mary.Jones@Acme.io,Mary,Jones,CTO,Acme,500,US,2026-01-01
D2,jon.smith@initech.com,Jon,Smith,Director,Initech Inc.,300,US,2026-02-01
D3,mary.jones@acme.io,Mary,Jones,,Acme,,US,2026-03-01
D4,,John,Smith,Director of IT,Initech,300,US,2026-01-15
D5,zoe@umbrella.io,Zoe,Park,Manager,Umbrella,80,GB,2026-01-01
";

#[test]
fn duplicates_by_email_and_by_similar_name_at_one_company_merge_into_one_lead_each() {
    let dir = tmp();
    let input = write(dir.path(), "leads.csv", DUPLICATES);
    let merges = dir.path().join("merges.csv");
    let assert = qualify(&input)
        .arg("--merges")
        .arg(&merges)
        .assert()
        .success();
    let out = assert.get_output();
    let err = String::from_utf8_lossy(&out.stderr);

    let m = Table::parse(&read(&merges));
    assert_eq!(
        m.header,
        [
            "survivor",
            "survivor_row",
            "merged_rows",
            "merged_ids",
            "matched_on",
            "confidence"
        ]
    );
    assert_eq!(m.rows.len(), 2, "{:?}", m.rows);
    // The newest record of a person survives.
    assert_eq!(m.get("matched_on", "email", "survivor"), "D3");
    assert_eq!(m.get("matched_on", "email", "survivor_row"), "3");
    assert_eq!(m.get("matched_on", "email", "merged_ids"), "D1");
    assert_eq!(m.get("matched_on", "email", "merged_rows"), "1");
    assert_eq!(m.get("matched_on", "email", "confidence"), "1.000");
    assert_eq!(m.get("matched_on", "name+company", "survivor"), "D2");
    assert_eq!(m.get("matched_on", "name+company", "merged_ids"), "D4");
    assert_eq!(m.get("matched_on", "name+company", "merged_rows"), "4");
    let conf = num(m.get("matched_on", "name+company", "confidence"));
    assert!(conf > 0.9 && conf < 1.0, "fuzzy confidence {conf}");

    let t = Table::parse(std::str::from_utf8(&out.stdout).unwrap());
    let mut ids = t.column("lead_id");
    ids.sort_unstable();
    assert_eq!(ids, ["D2", "D3", "D5"], "one lead per person");
    // The survivor is completed from the record it absorbed.
    let reasons = t.get("lead_id", "D3", "reasons");
    assert!(reasons.contains("C-level +15"), "{reasons}");
    assert!(
        reasons.contains("Mid-market (200-999 employees) +15"),
        "{reasons}"
    );

    assert!(
        err.contains("5 records -> 3 leads (0 rejected, 2 merged into 2 leads)"),
        "{err}"
    );
    assert!(err.contains("merges: 2 (email 1, name+company 1)"), "{err}");
}

#[test]
fn explain_finds_a_lead_by_an_id_that_was_merged_away() {
    let dir = tmp();
    let input = write(dir.path(), "leads.csv", DUPLICATES);
    let out = stdout_of(
        leadq()
            .arg("explain")
            .arg(&input)
            .args(["--model", MODEL, "--as-of", AS_OF, "--lead", "D1", "--json"]),
    );
    assert_eq!(json(&out)["lead_id"], "D3");
}

// ---- events ----------------------------------------------------------------

const EVENT_LEADS: &str =
    "lead_id,email,first_name,last_name,job_title,company,industry,employees,country
K1,kim@acme.io,Kim,Park,VP Engineering,Acme,Software,800,US
K2,lou@beta.io,Lou,Diaz,Manager,Beta,Retail,120,GB
";

const EVENTS: &str = "event_id,lead_id,type,timestamp,url
E1,K1,page_view,2026-10-20T10:00:00Z,/pricing
E2,K1,demo_request,2026-10-25T10:00:00Z,
E3,K2,email_click,2026-10-30T10:00:00Z,
";

/// The engagement of every lead after qualifying `leads` with `events`.
fn engagement(dir: &Path, events: &str, name: &str, as_of: &str) -> (Table, String) {
    let leads = dir.join("leads.csv");
    if !leads.exists() {
        write(dir, "leads.csv", EVENT_LEADS);
    }
    let ev = write(dir, name, events);
    let assert = leadq()
        .arg("qualify")
        .arg(&leads)
        .args([
            "--model",
            MODEL,
            "--as-of",
            as_of,
            "--no-passthrough",
            "--events",
        ])
        .arg(ev)
        .assert()
        .success();
    let out = assert.get_output();
    (
        Table::parse(std::str::from_utf8(&out.stdout).unwrap()),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_repeated_event_delivery_with_the_same_event_id_counts_once() {
    let dir = tmp();
    let (once, _) = engagement(dir.path(), EVENTS, "once.csv", AS_OF);
    let repeated = format!("{EVENTS}E2,K1,demo_request,2026-10-25T10:00:00Z,\n");
    let (twice, err) = engagement(dir.path(), &repeated, "twice.csv", AS_OF);
    let k1 = once.get("lead_id", "K1", "engagement");
    assert!(num(k1) > 20.0, "the demo request scores: {k1}");
    assert_eq!(twice.get("lead_id", "K1", "engagement"), k1);
    assert_eq!(
        twice.get("lead_id", "K2", "engagement"),
        once.get("lead_id", "K2", "engagement")
    );
    assert!(err.contains("1 duplicate deliveries ignored"), "{err}");

    // A second demo request with its own id does count.
    let distinct = format!("{EVENTS}E9,K1,demo_request,2026-10-25T10:00:00Z,\n");
    let (more, _) = engagement(dir.path(), &distinct, "distinct.csv", AS_OF);
    assert!(num(more.get("lead_id", "K1", "engagement")) > num(k1) + 20.0);
}

#[test]
fn events_after_as_of_are_ignored() {
    let dir = tmp();
    let (before, _) = engagement(dir.path(), EVENTS, "base.csv", AS_OF);
    let future = format!("{EVENTS}E4,K1,demo_request,2026-11-05T10:00:00Z,\nE5,K2,meeting_booked,2026-11-01T00:00:01Z,\n");
    let (after, _) = engagement(dir.path(), &future, "future.csv", AS_OF);
    for id in ["K1", "K2"] {
        assert_eq!(
            after.get("lead_id", id, "engagement"),
            before.get("lead_id", id, "engagement"),
            "{id}"
        );
        assert_eq!(
            after.get("lead_id", id, "reasons"),
            before.get("lead_id", id, "reasons")
        );
    }
    // The same events count once the clock has passed them.
    let (later_without, _) = engagement(dir.path(), EVENTS, "base2.csv", "2026-11-10T00:00:00Z");
    let (later_with, _) = engagement(dir.path(), &future, "future2.csv", "2026-11-10T00:00:00Z");
    assert!(
        num(later_with.get("lead_id", "K1", "engagement"))
            > num(later_without.get("lead_id", "K1", "engagement")) + 20.0
    );
}

#[test]
fn an_event_with_a_bad_timestamp_is_rejected_as_an_events_row() {
    let dir = tmp();
    write(dir.path(), "leads.csv", EVENT_LEADS);
    let events = write(
        dir.path(),
        "events.csv",
        format!("{EVENTS}E5,K2,email_click,yesterday,\nE6,K2,email_click,2026-10-31T10:00:00Z,\n"),
    );
    let rejects = dir.path().join("rejects.csv");
    let err = stderr_of(
        qualify(&dir.path().join("leads.csv"))
            .arg("--events")
            .arg(&events)
            .arg("--rejects")
            .arg(&rejects),
    );
    let r = Table::parse(&read(&rejects));
    assert_eq!(r.rows.len(), 1, "{:?}", r.rows);
    let row = &r.rows[0];
    assert_eq!(
        (
            row[0].as_str(),
            row[1].as_str(),
            row[2].as_str(),
            row[3].as_str(),
            row[4].as_str()
        ),
        ("events", "4", "5", "timestamp", "yesterday")
    );
    assert!(r.column("reason")[0].contains("not a timestamp"));
    assert!(err.contains("1 rejected"), "{err}");
    // The good event after the bad one is still read.
    assert!(err.contains("events: 5 read, 4 used"), "{err}");
}

// ---- explain ---------------------------------------------------------------

fn explain(dir: &Path, lead: &str, json_out: bool) -> Command {
    write(dir, "leads.csv", EVENT_LEADS);
    let events = write(dir, "events.csv", EVENTS);
    let mut c = leadq();
    c.arg("explain")
        .arg(dir.join("leads.csv"))
        .args(["--model", MODEL, "--as-of", AS_OF, "--events"])
        .arg(events)
        .args(["--lead", lead]);
    if json_out {
        c.arg("--json");
    }
    c
}

#[test]
fn explain_marks_fired_rules_and_shows_decay_thresholds_and_bant() {
    let dir = tmp();
    let out = stdout_of(&mut explain(dir.path(), "K1", false));
    let line = |needle: &str| -> &str {
        out.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with '{needle}':\n{out}"))
    };
    // The mark (✓ fired, · not) in front of a rule's line.
    let mark = |rule: &str| -> char {
        let l = out
            .lines()
            .map(str::trim_start)
            .find(|l| {
                let mut c = l.chars();
                matches!(c.next(), Some('✓' | '·'))
                    && c.as_str().trim_start().starts_with(&format!("{rule} "))
            })
            .unwrap_or_else(|| panic!("no rule line for '{rule}':\n{out}"));
        l.chars().next().unwrap()
    };
    assert!(line("Lead K1").contains("Kim Park"));
    for fired in [
        "Mid-market (200-999 employees)",
        "Core industry",
        "VP",
        "Technical buyer",
        "North America",
        "Business email",
        "Pricing page",
        "Demo request",
    ] {
        assert_eq!(mark(fired), '✓', "{fired} should fire:\n{out}");
    }
    for idle in [
        "Enterprise (1000+ employees)",
        "C-level",
        "Free email",
        "Reachable by phone",
        "Page views",
        "Email opens",
    ] {
        assert_eq!(mark(idle), '·', "{idle} should not fire:\n{out}");
    }
    assert!(line("Mid-market").contains("+15"));
    assert!(line("Fit 64 -> grade A").contains("A >= 60, B >= 40, C >= 20"));
    assert!(
        line("Engagement").contains("band 2")
            && line("Engagement").contains("1 >= 40, 2 >= 20, 3 >= 8")
    );
    // 11.58 days into a 14-day half-life, 6.58 days into a 30-day one.
    assert!(line("2026-10-20T10:00:00Z").contains("+8 × 0.564"), "{out}");
    assert!(
        line("2026-10-25T10:00:00Z").contains("+30 × 0.859"),
        "{out}"
    );
    assert!(line("Priority A2").contains("MQL: yes"));
    assert!(line("BANT:").contains("not_yet"));
    assert!(line("still to ask").contains("budget, authority, need, timeline"));
}

#[test]
fn explain_json_parses_and_lists_fit_and_engagement_rules() {
    let dir = tmp();
    // An email in any case finds the lead too.
    let v = json(&stdout_of(&mut explain(dir.path(), "KIM@Acme.io", true)));
    assert_eq!(v["lead_id"], "K1");
    assert_eq!(v["grade"], "A");
    assert_eq!(v["priority"], "A2");
    let fit = v["fit_rules"].as_array().expect("fit_rules");
    assert_eq!(fit.len(), 22, "every fit rule of the model is listed");
    let rule = |rules: &[Value], name: &str| -> Value {
        rules
            .iter()
            .find(|r| r["rule"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no rule '{name}'"))
    };
    assert_eq!(rule(fit, "VP")["fired"], true);
    assert_eq!(rule(fit, "C-level")["fired"], false);
    let fired_points: f64 = fit
        .iter()
        .filter(|r| r["fired"] == true)
        .map(|r| r["points"].as_f64().unwrap())
        .sum();
    assert_eq!(fired_points, v["fit"].as_f64().unwrap());

    let eng = v["engagement_rules"].as_array().expect("engagement_rules");
    let demo = rule(eng, "Demo request");
    let ev = &demo["events"].as_array().unwrap()[0];
    assert_eq!(ev["at"], "2026-10-25T10:00:00Z");
    let f = ev["decay_factor"].as_f64().unwrap();
    assert!(
        (f - 0.5f64.powf(6.583_333 / 30.0)).abs() < 1e-3,
        "decay {f}"
    );
    assert!((demo["total"].as_f64().unwrap() - 30.0 * f).abs() < 1e-6);
    assert_eq!(
        rule(eng, "Email opens")["events"].as_array().unwrap().len(),
        0
    );
    let total: f64 = eng.iter().map(|r| r["total"].as_f64().unwrap()).sum();
    assert!((total - v["engagement"].as_f64().unwrap()).abs() < 1e-6);
}

#[test]
fn explain_agrees_with_qualify_on_the_score() {
    let dir = tmp();
    let v = json(&stdout_of(&mut explain(dir.path(), "K2", true)));
    let (t, _) = engagement(dir.path(), EVENTS, "events.csv", AS_OF);
    let round = |x: f64| format!("{}", (x * 100.0).round() / 100.0);
    assert_eq!(
        t.get("lead_id", "K2", "engagement"),
        round(v["engagement"].as_f64().unwrap())
    );
    assert_eq!(
        t.get("lead_id", "K2", "fit"),
        round(v["fit"].as_f64().unwrap())
    );
    assert_eq!(
        t.get("lead_id", "K2", "priority"),
        v["priority"].as_str().unwrap()
    );
    assert_eq!(t.get("lead_id", "K2", "rank"), v["rank"].to_string());
}

#[test]
fn explain_of_an_unknown_lead_exits_1_with_a_clear_message() {
    let dir = tmp();
    explain(dir.path(), "NOPE-42", false)
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::contains("no lead 'NOPE-42'")
                .and(predicate::str::contains("leads.csv")),
        );
}

// ---- frameworks ------------------------------------------------------------

#[test]
fn frameworks_list_names_every_shipped_framework() {
    let out = stdout_of(leadq().args(["frameworks", "list"]));
    let keys: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        keys,
        ["BANT", "MEDDIC", "CHAMP", "SPIN", "GPCTBA/C&I", "ANUM"]
    );
    let v = json(&stdout_of(leadq().args(["frameworks", "list", "--json"])));
    assert_eq!(v.as_array().unwrap().len(), 6);
}

#[test]
fn frameworks_show_spin_asks_situation_then_problem_then_implication_then_need_payoff() {
    let out = stdout_of(leadq().args(["frameworks", "show", "SPIN"]));
    let at = |s: &str| out.find(s).unwrap_or_else(|| panic!("no '{s}' in:\n{out}"));
    let pos = [
        at("1. Situation"),
        at("2. Problem"),
        at("3. Implication"),
        at("4. Need-payoff"),
    ];
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
    // Each criterion has its questions before the next criterion starts.
    for w in pos.windows(2) {
        assert!(
            out[w[0]..w[1]].contains("Q1:"),
            "a criterion without questions"
        );
    }
    assert!(out[pos[3]..].contains("Q1:"));
    // The name is matched without regard to case.
    assert_eq!(stdout_of(leadq().args(["frameworks", "show", "spin"])), out);
}

#[test]
fn frameworks_show_of_an_unknown_name_exits_2() {
    leadq()
        .args(["frameworks", "show", "NOPE"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("unknown framework 'NOPE'")
                .and(predicate::str::contains("BANT")),
        );
}

// ---- backtest --------------------------------------------------------------

fn backtest(dir: &Path) -> Command {
    let mut c = leadq();
    c.args(["backtest", "--model", MODEL, "--data"])
        .arg(dir.join("leads.csv"))
        .arg("--outcomes")
        .arg(dir.join("outcomes.csv"))
        .args(["--label", "converted", "--json", "--as-of", AS_OF]);
    c
}

#[test]
fn backtest_on_generated_data_ranks_converters_near_the_top() {
    let dir = tmp();
    demo_data(dir.path());
    let v = json(&stdout_of(&mut backtest(dir.path())));
    let auc = v["auc"].as_f64().expect("auc");
    assert!(auc > 0.6 && auc <= 1.0, "auc {auc}");
    let top20 = v["top20_share"].as_f64().expect("top20_share");
    assert!(top20 > 0.2, "top20_share {top20}");
    let leads = v["leads"].as_u64().unwrap();
    let converted = v["converted"].as_u64().unwrap();
    assert!(leads > 1500 && converted > 0 && converted < leads);
    assert_eq!(v["unlabelled"], 0, "every lead has an outcome");
    let mql = v["mql"].as_u64().expect("mql count");
    assert!(mql > 0 && mql < leads, "mql {mql}");
    let by_grade: u64 = ["A", "B", "C", "D"]
        .iter()
        .map(|g| v["by_grade"][g]["leads"].as_u64().unwrap())
        .sum();
    assert_eq!(by_grade, leads);
    let a_rate = v["by_grade"]["A"]["rate"].as_f64().unwrap();
    let d_rate = v["by_grade"]["D"]["rate"].as_f64().unwrap();
    assert!(a_rate > d_rate, "A converts at {a_rate}, D at {d_rate}");
}

#[test]
fn backtest_against_the_same_model_gives_identical_figures_for_both_sides() {
    let dir = tmp();
    demo_data(dir.path());
    let v = json(&stdout_of(backtest(dir.path()).arg("--against").arg(MODEL)));
    let (a, b) = (&v["model"], &v["against"]);
    assert!(a.is_object() && b.is_object(), "{v}");
    assert!(a["auc"].as_f64().is_some());
    assert_eq!(a, b);
    let single = json(&stdout_of(&mut backtest(dir.path())));
    assert_eq!(&single, a, "--against changes the figures of --model");
}

// ---- input formats and mappings ---------------------------------------------

fn ids_and_grades(out: &str) -> Vec<(String, String, String)> {
    let t = Table::parse(out);
    t.rows
        .iter()
        .map(|r| {
            (
                r[t.col("lead_id")].clone(),
                r[t.col("grade")].clone(),
                r[t.col("fit")].clone(),
            )
        })
        .collect()
}

#[test]
fn the_same_leads_as_csv_with_bom_crlf_and_semicolons_json_and_ndjson_score_the_same() {
    let dir = tmp();
    let csv = write(
        dir.path(),
        "leads.csv",
        "\u{feff}lead_id;email;first_name;last_name;job_title;company;industry;employees;country\r\n\
         F1;ana@acme.io;Ana;Ruiz;CTO;Acme;Software;1500;US\r\n\
         F2;ben@gmail.com;Ben;Cole;Intern;Beta;Education;5;IN\r\n\
         F3;cy@gamma.io;Cy;Wu;Director of IT;Gamma;Healthcare;1,250;Germany\r\n",
    );
    let objects = [
        r#"{"lead_id":"F1","email":"ana@acme.io","first_name":"Ana","last_name":"Ruiz","job_title":"CTO","company":"Acme","industry":"Software","employees":1500,"country":"US"}"#,
        r#"{"lead_id":"F2","email":"ben@gmail.com","first_name":"Ben","last_name":"Cole","job_title":"Intern","company":"Beta","industry":"Education","employees":5,"country":"IN"}"#,
        r#"{"lead_id":"F3","email":"cy@gamma.io","first_name":"Cy","last_name":"Wu","job_title":"Director of IT","company":"Gamma","industry":"Healthcare","employees":1250,"country":"Germany"}"#,
    ];
    let json_file = write(
        dir.path(),
        "leads.json",
        format!("[\n{}\n]\n", objects.join(",\n")),
    );
    let ndjson_file = write(dir.path(), "leads.ndjson", objects.join("\n") + "\n");

    let from_csv_text = stdout_of(qualify(&csv).arg("-q"));
    let from_csv = ids_and_grades(&from_csv_text);
    assert_eq!(
        from_csv,
        [
            ("F1".into(), "A".into(), "72".into()),
            ("F3".into(), "B".into(), "58".into()),
            ("F2".into(), "D".into(), "0".into()),
        ]
    );
    // The BOM is not part of the first header, so it clashes and is renamed.
    let header = Table::parse(&from_csv_text).header;
    assert!(header.contains(&"input.lead_id".to_string()), "{header:?}");
    assert_eq!(
        ids_and_grades(&stdout_of(qualify(&json_file).arg("-q"))),
        from_csv
    );
    assert_eq!(
        ids_and_grades(&stdout_of(qualify(&ndjson_file).arg("-q"))),
        from_csv
    );
    // A file name that tells nothing needs --input-format.
    let unnamed = write(dir.path(), "leads.export", objects.join("\n") + "\n");
    assert_eq!(
        ids_and_grades(&stdout_of(qualify(&unnamed).args([
            "-q",
            "--input-format",
            "ndjson"
        ]))),
        from_csv
    );
}

#[test]
fn the_hubspot_preset_maps_hubspot_export_headers() {
    let dir = tmp();
    let input = write(
        dir.path(),
        "hubspot.csv",
        "Record ID,Email,First Name,Last Name,Company Name,Company Domain Name,Number of Employees,Country/Region\n\
         901,ana@acme.io,Ana,Ruiz,Acme,acme.io,1500,United States\n\
         902,ben@gmail.com,Ben,Cole,Beta,beta-corp.com,5,India\n",
    );
    let accounts = dir.path().join("accounts.csv");
    let out = stdout_of(
        qualify(&input)
            .args(["--preset", "hubspot", "-q", "--accounts"])
            .arg(&accounts),
    );
    let t = Table::parse(&out);
    assert_eq!(t.column("lead_id"), ["901", "902"]);
    let reasons = t.get("lead_id", "901", "reasons");
    for want in [
        "Enterprise (1000+ employees) +20",
        "North America +8",
        "Business email +8",
    ] {
        assert!(reasons.contains(want), "{want} missing: {reasons}");
    }
    let reasons = t.get("lead_id", "902", "reasons");
    assert!(
        reasons.contains("Micro company (under 10) -10"),
        "{reasons}"
    );
    assert!(reasons.contains("Free email -5"), "{reasons}");
    assert_eq!(t.get("lead_id", "902", "Company Name"), "Beta");

    // The company domain of a free-mail contact comes from its own column.
    let a = Table::parse(&read(&accounts));
    let mut domains = a.column("domain");
    domains.sort_unstable();
    assert_eq!(domains, ["acme.io", "beta-corp.com"]);
    assert_eq!(a.get("domain", "beta-corp.com", "company"), "Beta");
}

#[test]
fn a_mapping_file_maps_headers_that_match_no_field() {
    let dir = tmp();
    let input = write(
        dir.path(),
        "odd.csv",
        "Contact Ref,E-Post,Org,Staff,Land,Visits,Rolle\n\
         X1,ana@acme.io,Acme,1500,US,12,CTO\n\
         X2,ben@beta.io,Beta,40,GB,3,Manager\n",
    );
    // Without a mapping there is no identity column at all.
    qualify(&input)
        .arg("-q")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no column gives a lead id"));

    let mapping = write(
        dir.path(),
        "mapping.toml",
        "[columns]\n\
         \"Contact Ref\" = \"lead_id\"\n\
         \"E-Post\" = \"email\"\n\
         \"Org\" = \"company\"\n\
         \"Staff\" = \"employees\"\n\
         \"Land\" = \"country\"\n\
         \"Visits\" = \"custom.total_visits\"\n\
         \"Rolle\" = \"title\"\n",
    );
    let assert = qualify(&input)
        .arg("--mapping")
        .arg(&mapping)
        .assert()
        .success();
    let out = assert.get_output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("warning"), "{err}");
    let t = Table::parse(std::str::from_utf8(&out.stdout).unwrap());
    assert_eq!(t.column("lead_id"), ["X1", "X2"]);
    let x1 = t.get("lead_id", "X1", "reasons");
    for want in [
        "Enterprise (1000+ employees) +20",
        "C-level +15",
        "North America +8",
        "Many visits (file aggregate) +5",
    ] {
        assert!(x1.contains(want), "{want} missing: {x1}");
    }
    let x2 = t.get("lead_id", "X2", "reasons");
    assert!(
        x2.contains("Manager +5") && x2.contains("Europe +6"),
        "{x2}"
    );
    assert!(!x2.contains("Many visits"), "3 visits is not many: {x2}");
}

#[test]
fn a_mapping_with_an_unknown_target_is_refused() {
    let dir = tmp();
    let mapping = write(
        dir.path(),
        "mapping.toml",
        "[columns]\n\"Org\" = \"compnay\"\n",
    );
    qualify(&small_leads(dir.path()))
        .arg("--mapping")
        .arg(&mapping)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown target 'compnay'"));
}

// ---- demo generate ---------------------------------------------------------

#[test]
fn demo_generate_with_the_same_seed_writes_identical_files_and_other_seeds_differ() {
    let dir = tmp();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    generate(&a, 300, 11);
    generate(&b, 300, 11);
    generate(&c, 300, 12);
    for f in ["leads.csv", "events.csv", "outcomes.csv"] {
        let (fa, fb, fc) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            std::fs::read(c.join(f)).unwrap(),
        );
        assert!(!fa.is_empty(), "{f} is empty");
        assert!(fa == fb, "{f} differs for the same seed");
        assert!(fa != fc, "{f} is the same for seeds 11 and 12");
    }
    let leads = read(&a.join("leads.csv"));
    assert!(leads.starts_with("lead_id,email,"), "{}", &leads[..80]);
    // 300 people, plus duplicates and broken rows.
    assert!(leads.lines().count() > 300);
}

#[test]
fn demo_generate_reports_what_it_wrote() {
    let dir = tmp();
    leadq()
        .args(["demo", "generate", "--leads", "50", "--seed", "1", "--out"])
        .arg(dir.path().join("out"))
        .assert()
        .success()
        .stderr(predicate::str::contains("50 people"));
    leadq()
        .args(["demo", "generate", "--leads", "0", "--out"])
        .arg(dir.path().join("zero"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--leads must be at least 1"));
}
