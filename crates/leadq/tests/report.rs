//! `--report FILE.html` of `leadq train` and `leadq backtest` on data the
//! tests generate.

use assert_cmd::Command;
use std::path::Path;

const AS_OF: &str = "2026-11-01T00:00:00Z";
const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/default-model.toml"
);

fn leadq() -> Command {
    Command::cargo_bin("leadq").unwrap()
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn read(path: &Path) -> String {
    assert!(path.is_file(), "no report at {}", path.display());
    std::fs::read_to_string(path).unwrap()
}

fn assert_self_contained(page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(!page.contains("<script") && !page.contains("<link"));
    for title in ["ROC curve", "Cumulative gain", "Lift by decile"] {
        assert!(page.contains(&format!("<h2>{title}</h2>")), "{title}");
    }
    assert!(page.contains("<h2>Score distribution by outcome</h2>"));
}

/// A `;`-separated file with yes/no outcomes that depend on visits and source.
fn write_leads(path: &Path, n: usize) {
    let mut s = String::from("id;visits;source;newsletter;outcome\n");
    for i in 0..n {
        let visits = (i * 7919 % 23) as f64;
        let source = ["Google", "Referral", "Ads", "Select"][i * 31 % 4];
        let score = visits / 23.0 + if source == "Referral" { 0.5 } else { 0.0 };
        let noise = (i * 104729 % 100) as f64 / 100.0;
        let y = score + 0.6 * noise > 0.9;
        s.push_str(&format!(
            "L{i};{visits};{source};{};{}\n",
            if i % 3 == 0 { "yes" } else { "no" },
            if y { "yes" } else { "no" }
        ));
    }
    std::fs::write(path, s).unwrap();
}

fn train(data: &Path, report: &Path, extra: &[&str]) -> Command {
    let mut c = leadq();
    c.args(["train", "--data"])
        .arg(data)
        .args(["--label", "outcome", "--exclude", "id", "--seed", "5"])
        .args(extra)
        .arg("--report")
        .arg(report);
    c
}

#[test]
fn train_report_shows_the_out_of_fold_predictions_with_a_reliability_plot() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("leads.csv");
    let report = dir.path().join("report.html");
    write_leads(&data, 500);
    let out = run_ok(&mut train(&data, &report, &["--cv", "3", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["report"], report.display().to_string());
    let page = read(&report);
    assert_self_contained(&page);
    assert!(page.contains("<h2>Reliability (calibration)</h2>"));
    assert!(page.contains("out-of-fold predictions"));
    assert!(page.contains("3-fold stratified cross-validation"));
    // ROC, gain, lift, reliability and one distribution.
    assert_eq!(page.matches("<svg").count(), 5);
    // The summary shows the same AUC as the JSON (4 decimals).
    let auc = v["auc"].as_f64().unwrap();
    assert!(auc > 0.6, "auc {auc}");
    // Out-of-fold AUC over all rows is close to, not equal to, the fold mean.
    assert!(page.contains("ROC AUC"));
    // Same inputs, same bytes.
    let again = dir.path().join("again.html");
    run_ok(&mut train(&data, &again, &["--cv", "3", "--json"]));
    assert_eq!(page, read(&again));
}

#[test]
fn train_report_with_holdout_covers_the_held_out_rows_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("leads.csv");
    let report = dir.path().join("holdout.html");
    write_leads(&data, 500);
    let out = run_ok(&mut train(&data, &report, &["--holdout", "0.3"]));
    assert!(out.contains("report written to"), "{out}");
    let page = read(&report);
    assert_self_contained(&page);
    assert!(page.contains("holdout predictions"));
    assert!(
        page.contains("<th scope=\"row\">rows</th><td>150</td>"),
        "held-out rows: {page}"
    );
}

fn generate(dir: &Path) {
    leadq()
        .args(["demo", "generate", "--leads", "500", "--seed", "3", "--out"])
        .arg(dir)
        .assert()
        .success();
}

fn backtest(dir: &Path, report: &Path) -> Command {
    let mut c = leadq();
    c.args(["backtest", "--model", MODEL, "--data"])
        .arg(dir.join("leads.csv"))
        .arg("--events")
        .arg(dir.join("events.csv"))
        .arg("--outcomes")
        .arg(dir.join("outcomes.csv"))
        .args(["--label", "converted", "--as-of", AS_OF, "--report"])
        .arg(report);
    c
}

#[test]
fn backtest_report_has_no_reliability_plot_for_rules_scores() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let report = dir.path().join("backtest.html");
    let out = run_ok(backtest(dir.path(), &report).arg("--json"));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let page = read(&report);
    assert_self_contained(&page);
    assert!(page.contains("Default B2B model"));
    assert!(!page.contains("Reliability"));
    assert_eq!(page.matches("<svg").count(), 4);
    // The summary's AUC is the backtest's.
    let auc = v["auc"].as_f64().unwrap();
    let row = "<th scope=\"row\">ROC AUC</th><td>";
    let at = page.find(row).expect("an AUC row") + row.len();
    let shown: f64 = page[at..at + 6].parse().unwrap();
    assert!((shown - auc).abs() < 2e-4, "report {shown}, backtest {auc}");
}

#[test]
fn backtest_report_with_against_draws_both_models_on_the_same_charts() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    // A second model: the default with a different name and no engagement.
    let other = std::fs::read_to_string(MODEL)
        .unwrap()
        .replace(
            "name = \"Default B2B model\"",
            "name = \"Fit <only> challenger\"",
        )
        .replace("engagement_weight = 1.0", "engagement_weight = 0.0");
    assert!(other.contains("Fit <only> challenger"));
    let other_path = dir.path().join("challenger.toml");
    std::fs::write(&other_path, other).unwrap();
    let report = dir.path().join("both.html");
    let out = run_ok(
        backtest(dir.path(), &report)
            .arg("--against")
            .arg(&other_path),
    );
    assert!(out.contains("ROC AUC"), "{out}");
    let page = read(&report);
    assert_self_contained(&page);
    assert!(page.contains("Default B2B model"));
    assert!(page.contains("Fit &lt;only&gt; challenger"));
    assert!(!page.contains("Fit <only>"));
    // ROC, gain and lift shared; one distribution per model.
    assert_eq!(page.matches("<svg").count(), 5);
    let roc = &page
        [page.find("<h2>ROC curve</h2>").unwrap()..page.find("<h2>Cumulative gain</h2>").unwrap()];
    assert!(roc.contains("Default B2B model") && roc.contains("Fit &lt;only&gt; challenger"));
    // Two dashed/solid series plus the diagonal.
    assert!(roc.matches("<polyline").count() >= 3);
}
