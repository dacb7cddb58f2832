//! `leadq train`, `predict` and `evaluate` on files the tests generate.

use assert_cmd::Command;
use std::path::Path;

/// A `;`-separated file with yes/no outcomes that depend on visits and source.
fn write_leads(path: &Path, n: usize, leaky: bool) {
    let mut s = String::from("id;visits;source;newsletter;outcome");
    if leaky {
        s.push_str(";notes");
    }
    s.push('\n');
    for i in 0..n {
        let visits = (i * 7919 % 23) as f64;
        let source = ["Google", "Referral", "Ads", "Select"][i * 31 % 4];
        let score = visits / 23.0 + if source == "Referral" { 0.5 } else { 0.0 };
        let noise = (i * 104729 % 100) as f64 / 100.0;
        let y = score + 0.6 * noise > 0.9;
        s.push_str(&format!(
            "L{i};{visits};{source};{};{}",
            if i % 3 == 0 { "yes" } else { "no" },
            if y { "yes" } else { "no" }
        ));
        if leaky {
            s.push_str(if y { ";Closed" } else { ";Open" });
        }
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

fn leadq() -> Command {
    Command::cargo_bin("leadq").unwrap()
}

#[test]
fn train_with_cv_prints_json_metrics_and_writes_a_model_that_predicts_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("leads.csv");
    let model = dir.path().join("model.json");
    write_leads(&data, 600, false);
    let out = leadq()
        .args(["train", "--data"])
        .arg(&data)
        .args([
            "--label",
            "outcome",
            "--exclude",
            "id",
            "--cv",
            "3",
            "--seed",
            "5",
            "--json",
            "--out",
        ])
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "auc",
        "auc_std",
        "pr_auc",
        "log_loss",
        "brier",
        "ece",
        "lift_top10",
        "top20_share",
        "train_seconds",
    ] {
        assert!(v[key].is_number(), "{key} missing in {v}");
    }
    assert_eq!(v["rows"], 600);
    assert_eq!(v["features"], 3);
    assert!(v["auc"].as_f64().unwrap() > 0.8, "{v}");
    let text = std::fs::read_to_string(&model).unwrap();
    assert!(text.contains("\"format\": \"leadq-predict\""));

    let scored = dir.path().join("scored.csv");
    leadq()
        .args(["predict", "--model"])
        .arg(&model)
        .arg(&data)
        .arg("--out")
        .arg(&scored)
        .assert()
        .success();
    let csv = std::fs::read_to_string(&scored).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.ends_with("probability,factor_1,factor_1_value,factor_1_effect,factor_2,factor_2_value,factor_2_effect,factor_3,factor_3_value,factor_3_effect"), "{header}");
    assert_eq!(lines.count(), 600);

    let eval = leadq()
        .args(["evaluate", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .args(["--label", "outcome", "--json"])
        .output()
        .unwrap();
    assert!(eval.status.success());
    let e: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    // In-sample, the final model ranks at least as well as cross-validation said.
    assert!(
        e["auc"].as_f64().unwrap() >= v["auc"].as_f64().unwrap() - 0.02,
        "{e}"
    );
}

#[test]
fn the_same_seed_writes_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("leads.csv");
    write_leads(&data, 300, false);
    let run = |name: &str| {
        let path = dir.path().join(name);
        leadq()
            .args([
                "train",
                "--algorithm",
                "logistic",
                "--holdout",
                "0.25",
                "--data",
            ])
            .arg(&data)
            .args(["--label", "outcome", "--exclude", "id", "--out"])
            .arg(&path)
            .assert()
            .success();
        std::fs::read_to_string(path).unwrap()
    };
    assert_eq!(run("a.json"), run("b.json"));
}

#[test]
fn a_leaky_column_is_refused_with_a_reason_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("leads.csv");
    write_leads(&data, 300, true);
    let base = |extra: &[&str]| {
        leadq()
            .args([
                "train",
                "--cv",
                "2",
                "--json",
                "--exclude",
                "id",
                "--label",
                "outcome",
                "--data",
            ])
            .arg(&data)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = base(&[]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("column 'notes' refused") && err.contains("AUC 1.000"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["features"], 3);
    let allowed = base(&["--allow-leaky", "notes"]);
    let v: serde_json::Value = serde_json::from_slice(&allowed.stdout).unwrap();
    assert_eq!(v["features"], 4);
}

#[test]
fn usage_mistakes_exit_with_code_two() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("leads.csv");
    write_leads(&data, 50, false);
    leadq()
        .args(["train", "--label", "nope", "--data"])
        .arg(&data)
        .assert()
        .code(2);
    leadq()
        .args(["train", "--label", "outcome", "--cv", "1", "--data"])
        .arg(&data)
        .assert()
        .code(2);
    leadq()
        .args(["predict", "--model"])
        .arg(dir.path().join("missing.json"))
        .arg(&data)
        .assert()
        .code(1);
}

#[test]
fn the_calibration_method_is_chosen_on_the_command_line_and_kept_in_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("leads.csv");
    write_leads(&data, 400, false);
    let mut methods = Vec::new();
    for method in ["isotonic", "platt", "none"] {
        let model = dir.path().join(format!("{method}.json"));
        let out = leadq()
            .args(["train", "--data"])
            .arg(&data)
            .args([
                "--label",
                "outcome",
                "--exclude",
                "id",
                "--cv",
                "3",
                "--calibration",
                method,
                "--out",
            ])
            .arg(&model)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
        methods.push(m["calibrator"]["method"].clone());
    }
    assert_eq!(
        methods,
        vec![
            serde_json::json!("isotonic"),
            serde_json::json!("platt"),
            serde_json::Value::Null
        ]
    );
    let bad = leadq()
        .args(["train", "--data"])
        .arg(&data)
        .args(["--label", "outcome", "--calibration", "magic"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
