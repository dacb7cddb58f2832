//! The whole pipeline on generated tables: infer, guard, fit, calibrate,
//! predict, serialise.

use leadq_predict::calibrate::CalibrationMethod;
use leadq_predict::features::parse_label;
use leadq_predict::gbdt::GbdtParams;
use leadq_predict::metrics::ece;
use leadq_predict::{
    leakage, train, Algorithm, FeatureSet, InferOptions, Model, TextTable, TrainOptions,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Leads whose conversion depends on visits (non-linearly), source and a
/// yes/no flag; 15% of visits missing. `leaky` adds a column that is the
/// outcome itself in disguise.
fn leads(n: usize, seed: u64, leaky: bool) -> TextTable {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut headers: Vec<String> = ["id", "visits", "source", "newsletter", "converted"]
        .map(String::from)
        .to_vec();
    if leaky {
        headers.push("rep_notes".into());
    }
    let sources = ["Google", "google", "Referral", "Ads", "Select"];
    let rows = (0..n)
        .map(|i| {
            let visits: f64 = rng.random_range(0.0..20.0);
            let source = sources[rng.random_range(0..sources.len())];
            let news = rng.random::<bool>();
            let z: f64 =
                -1.0 + if (5.0..12.0).contains(&visits) {
                    2.0
                } else {
                    -0.5
                } + if source == "Referral" { 1.5 } else { 0.0 }
                    + if news { 0.5 } else { 0.0 };
            let y = rng.random::<f64>() < 1.0 / (1.0 + (-z).exp());
            let mut r = vec![
                format!("L{i}"),
                if rng.random::<f64>() < 0.15 {
                    String::new()
                } else {
                    format!("{visits:.1}")
                },
                source.to_string(),
                if news { "Yes" } else { "No" }.to_string(),
                if y { "1" } else { "0" }.to_string(),
            ];
            if leaky {
                r.push(if y { "Closed won" } else { "No answer" }.to_string());
            }
            r
        })
        .collect();
    TextTable { headers, rows }
}

fn prepare(t: &TextTable) -> (FeatureSet, leadq_predict::Matrix, Vec<bool>) {
    let y = parse_label(t, "converted", None).unwrap();
    let fs = FeatureSet::infer(t, &["converted".into()], &InferOptions::default()).unwrap();
    let x = fs.encode(t).unwrap();
    (fs, x, y)
}

fn quick(algorithm: Algorithm) -> TrainOptions {
    TrainOptions {
        algorithm,
        gbdt: GbdtParams {
            n_trees: 60,
            learning_rate: 0.1,
            max_depth: 3,
            ..GbdtParams::default()
        },
        ..TrainOptions::default()
    }
}

#[test]
fn the_leakage_guard_refuses_a_planted_leaky_column_and_says_why() {
    let t = leads(600, 1, true);
    let (fs, x, y) = prepare(&t);
    let report = leakage::check(&fs, &x, &y, &[]);
    assert_eq!(report.refused(), vec!["rep_notes"]);
    let why = &report.findings[0].reasons;
    assert!(why[0].contains("AUC 1.000"), "{why:?}");
    assert!(
        why.iter()
            .any(|r| r.contains("closed won") && r.contains("100.0%")),
        "{why:?}"
    );
    let allowed = leakage::check(&fs, &x, &y, &["rep_notes".into()]);
    assert!(allowed.refused().is_empty());
    assert!(allowed.findings[0].allowed);
}

#[test]
fn gradient_boosting_beats_a_constant_and_logistic_on_a_nonlinear_problem() {
    let (fs, x, y) = prepare(&leads(3000, 2, false));
    let gb = train::cross_validate(&fs, &x, &y, 3, &quick(Algorithm::Gbdt)).unwrap();
    let lr = train::cross_validate(&fs, &x, &y, 3, &quick(Algorithm::Logistic)).unwrap();
    assert!(gb.mean.auc > 0.7, "{}", gb.mean.auc);
    assert!(
        gb.mean.auc > lr.mean.auc + 0.02,
        "{} vs {}",
        gb.mean.auc,
        lr.mean.auc
    );
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let (fs, x, y) = prepare(&leads(800, 3, false));
    let a = train::fit(&fs, &x, &y, &quick(Algorithm::Gbdt)).unwrap();
    let b = train::fit(&fs, &x, &y, &quick(Algorithm::Gbdt)).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    let other = TrainOptions {
        seed: 7,
        ..quick(Algorithm::Gbdt)
    };
    let c = train::fit(&fs, &x, &y, &other).unwrap();
    assert_ne!(a.to_json(), c.to_json());
}

#[test]
fn training_on_one_thread_or_several_gives_the_same_model_and_folds() {
    // The CV folds and calibration folds are fitted in parallel; the
    // result must not depend on how the fits were scheduled.
    let (fs, x, y) = prepare(&leads(900, 11, false));
    let opts = quick(Algorithm::Gbdt);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let cv = train::cross_validate(&fs, &x, &y, 3, &opts).unwrap();
                let m = train::fit(&fs, &x, &y, &opts).unwrap();
                (
                    cv.oof,
                    serde_json::to_string(&cv.folds).unwrap(),
                    m.to_json(),
                )
            })
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, run(2));
}

#[test]
fn a_model_file_round_trips_exactly() {
    let t = leads(800, 4, false);
    let (fs, x, y) = prepare(&t);
    for algorithm in [Algorithm::Gbdt, Algorithm::Logistic] {
        let m = train::fit(&fs, &x, &y, &quick(algorithm)).unwrap();
        let text = m.to_json();
        assert!(text.contains("\"format\": \"leadq-predict\""));
        let back = Model::from_json(&text).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_json(), text);
        assert_eq!(back.predict(&t, 3).unwrap(), m.predict(&t, 3).unwrap());
    }
    let future = Model::from_json(r#"{"format":"leadq-predict","version":2}"#);
    assert!(future
        .unwrap_err()
        .to_string()
        .contains("unsupported version"));
}

#[test]
fn calibration_fitted_on_held_out_folds_lowers_ece_on_a_skewed_set() {
    // Few positives and deep trees: raw boosted scores are over-confident.
    let (fs, x, y) = {
        let mut t = leads(4000, 5, false);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for r in &mut t.rows {
            if r[4] == "1" && rng.random::<f64>() < 0.8 {
                r[4] = "0".into();
            }
        }
        prepare(&t)
    };
    let raw = TrainOptions {
        calibration: CalibrationMethod::None,
        gbdt: GbdtParams {
            n_trees: 200,
            learning_rate: 0.3,
            max_depth: 6,
            min_rows_leaf: 1,
            ..GbdtParams::default()
        },
        ..TrainOptions::default()
    };
    let iso = TrainOptions {
        calibration: CalibrationMethod::Isotonic,
        ..raw.clone()
    };
    let a = train::cross_validate(&fs, &x, &y, 3, &raw).unwrap();
    let b = train::cross_validate(&fs, &x, &y, 3, &iso).unwrap();
    assert!(
        b.mean.ece < a.mean.ece * 0.7,
        "{} vs {}",
        b.mean.ece,
        a.mean.ece
    );
    assert!(ece(&b.oof, &y, 10) < ece(&a.oof, &y, 10));
}

#[test]
fn predictions_name_their_top_factors_with_values() {
    let t = leads(800, 6, false);
    let (fs, x, y) = prepare(&t);
    let m = train::fit(&fs, &x, &y, &quick(Algorithm::Logistic)).unwrap();
    let new = TextTable {
        headers: t.headers.clone(),
        rows: vec![vec![
            "X".into(),
            "".into(),
            "Carrier pigeon".into(),
            "yes".into(),
            "".into(),
        ]],
    };
    let p = &m.predict(&new, 3).unwrap()[0];
    assert!(p.probability > 0.0 && p.probability < 1.0);
    assert_eq!(p.factors.len(), 3);
    let visits = p.factors.iter().find(|f| f.feature == "visits").unwrap();
    assert_eq!(visits.value, "(missing)");
    let source = p.factors.iter().find(|f| f.feature == "source").unwrap();
    assert_eq!(source.value, "(other)");
    assert!(p.factors[0].contribution.abs() >= p.factors[2].contribution.abs());
}
