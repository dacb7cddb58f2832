#!/usr/bin/env python3
"""Peers of `leadq train` for bench/predict/run.sh.

    predict_peers.py cv --data FILE --label COL [--exclude A,B] [--folds FOLDS.txt]
                        [--k 5] [--seed 42] [--n-jobs 2] [--json OUT.json]
        5-fold (stratified) cross-validation of scikit-learn
        HistGradientBoostingClassifier, scikit-learn LogisticRegression and
        LightGBM on the same folds. With --folds, the folds are read from the
        file (one fold number per line, in row order: the folds `leadq train
        --cv K --seed S` uses, printed by leadq-predict's `folds` example);
        without it, StratifiedKFold(k, shuffle=True, random_state=seed).
        Prints one JSON object per model.

    predict_peers.py labels --data FILE --label COL [--positive VALUE]
        Prints the label of every row (1 or 0), in row order.

    predict_peers.py make-bank --out FILE [--rows 45000] [--seed 7]
        Writes a synthetic bank-marketing-like file: `;`-separated, quoted
        strings, label `y` in yes/no, about 10% yes.

Reading, as leadq does: the delimiter is sniffed (`,` `;` tab); "Select" and
blanks are missing; a column whose present values all parse as numbers is
numeric, any other one categorical (pandas `category` dtype, which
HistGradientBoosting (categorical_features="from_dtype") and LightGBM both
treat as categorical). The label's positive value is 1, yes or true (or
--positive).

Metrics per fold, then mean and population std over folds, as leadq reports
them: ROC AUC (scikit-learn) and ECE (10 equal-width bins: sum over bins of
|mean predicted - observed rate| x share of rows in the bin). The peers'
probabilities are their raw predict_proba (no extra calibration).

Timing: wall seconds (time.perf_counter) of the whole K-fold CV of a model —
K fits on the training rows plus predict_proba on the held-out rows — after
the data is read and encoded; and, separately, one fit on all rows (the
final model `leadq train` also trains).

`lightgbm_isotonic_cv3` is LightGBM doing the work `leadq train --cv K`
does: each fit is scikit-learn CalibratedClassifierCV(method="isotonic",
cv=3, ensemble=False) — three inner fits whose held-out predictions fit the
isotonic map, plus one fit on all the fold's training rows — and a final
model fitted once on all rows (leadq calibrates it on the CV's out-of-fold
scores, which costs no fit). Its `protocol_seconds` (CV plus the final
model) is the figure to set beside leadq's.
"""

import argparse
import csv
import json
import sys
import time

import numpy as np
import pandas as pd

MISSING = {"", "select"}
POSITIVE = {"1", "yes", "true"}


def sniff_delimiter(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        head = f.readline()
    counts = {d: head.count(d) for d in (",", ";", "\t")}
    return max(counts, key=counts.get)


def read_raw(path):
    sep = sniff_delimiter(path)
    return pd.read_csv(
        path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )


def labels_of(raw, label, positive=None):
    values = raw[label].str.strip().str.lower()
    pos = {positive.lower()} if positive else POSITIVE
    return values.isin(pos).to_numpy().astype(np.int64)


def features_of(raw, label, exclude):
    """Numeric columns as float64 (NaN = missing), others as `category`."""
    drop = set(exclude) | {label}
    out = {}
    kinds = {}
    for col in raw.columns:
        if col in drop:
            continue
        s = raw[col].str.strip()
        s = s.where(~s.str.lower().isin(MISSING), None)
        present = s.dropna()
        if present.nunique() <= 1:
            continue  # a constant carries nothing (leadq drops it too)
        num = pd.to_numeric(present, errors="coerce")
        if num.notna().all():
            out[col] = pd.to_numeric(s, errors="coerce").astype("float64")
            kinds[col] = "numeric"
        else:
            out[col] = s.astype("category")
            kinds[col] = "categorical"
    return pd.DataFrame(out), kinds


def ece(p, y, bins=10):
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    b = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            total += abs(p[m].sum() - y[m].sum()) / len(p)
    return total


def make_models(kinds, seed, n_jobs):
    from lightgbm import LGBMClassifier
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    num = [c for c, k in kinds.items() if k == "numeric"]
    cat = [c for c, k in kinds.items() if k == "categorical"]

    def as_object(frame):
        return frame.astype(object).where(frame.notna(), "(missing)")

    logistic = make_pipeline(
        ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
                (
                    "cat",
                    make_pipeline(
                        FunctionTransformer(as_object),
                        OneHotEncoder(handle_unknown="ignore"),
                    ),
                    cat,
                ),
            ]
        ),
        LogisticRegression(max_iter=10000),
    )
    return {
        "sklearn_hist_gradient_boosting": HistGradientBoostingClassifier(
            categorical_features="from_dtype", random_state=seed
        ),
        "sklearn_logistic_regression": logistic,
        "lightgbm": LGBMClassifier(random_state=seed, n_jobs=n_jobs, verbose=-1),
        # leadq's protocol: 3 inner fits for the calibration map plus one on
        # all the rows (ensemble=False); the inner folds are stratified.
        "lightgbm_isotonic_cv3": CalibratedClassifierCV(
            LGBMClassifier(random_state=seed, n_jobs=n_jobs, verbose=-1),
            method="isotonic",
            cv=3,
            ensemble=False,
        ),
    }


def cmd_cv(a):
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    raw = read_raw(a.data)
    y = labels_of(raw, a.label, a.positive)
    exclude = [c for c in a.exclude.split(",") if c] if a.exclude else []
    X, kinds = features_of(raw, a.label, exclude)
    if a.folds:
        folds = np.loadtxt(a.folds, dtype=np.int64)
        if len(folds) != len(y):
            sys.exit(f"{a.folds}: {len(folds)} folds for {len(y)} rows")
        k = int(folds.max()) + 1
        splits = [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in range(k)]
        fold_source = f"read from {a.folds} (leadq's stratified folds, seed {a.seed})"
    else:
        k = a.k
        splits = list(StratifiedKFold(k, shuffle=True, random_state=a.seed).split(X, y))
        fold_source = f"StratifiedKFold({k}, shuffle=True, random_state={a.seed})"

    results = []
    for name, model in make_models(kinds, a.seed, a.n_jobs).items():
        aucs, eces = [], []
        t0 = time.perf_counter()
        for tr, te in splits:
            m = clone(model).fit(X.iloc[tr], y[tr])
            p = m.predict_proba(X.iloc[te])[:, 1]
            aucs.append(roc_auc_score(y[te], p))
            eces.append(ece(p, y[te]))
        cv_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        # The final model: one fit on all rows (for the calibrated model,
        # its learner alone, as leadq fits it).
        final = model.estimator if hasattr(model, "estimator") else model
        clone(final).fit(X, y)
        final_seconds = time.perf_counter() - t0
        r = {
            "model": name,
            "auc": float(np.mean(aucs)),
            "auc_std": float(np.std(aucs)),
            "ece": float(np.mean(eces)),
            "ece_std": float(np.std(eces)),
            "fold_auc": [float(v) for v in aucs],
            "cv_seconds": cv_seconds,
            "final_fit_seconds": final_seconds,
            # The whole of what `leadq train --cv K` times: CV and the final model.
            "protocol_seconds": cv_seconds + final_seconds,
            "protocol": "leadq" if name.endswith("_isotonic_cv3") else "plain",
            "rows": int(len(y)),
            "positives": int(y.sum()),
            "features": int(X.shape[1]),
            "folds": fold_source,
        }
        results.append(r)
        print(
            f"{name}: AUC {r['auc']:.4f} ± {r['auc_std']:.4f}, ECE {r['ece']:.4f}, "
            f"{k}-fold CV {cv_seconds:.2f} s, final fit {final_seconds:.2f} s",
            file=sys.stderr,
        )
    doc = {"results": results, "versions": versions(), "feature_kinds": kinds}
    text = json.dumps(doc, indent=2)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


def versions():
    import lightgbm
    import scipy
    import sklearn

    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__,
    }


def cmd_labels(a):
    raw = read_raw(a.data)
    y = labels_of(raw, a.label, a.positive)
    sys.stdout.write("".join(f"{v}\n" for v in y))


def cmd_make_bank(a):
    """A bank-marketing-like table (the UCI "bank-full" layout), synthetic."""
    rng = np.random.default_rng(a.seed)
    n = a.rows
    jobs = ["admin.", "blue-collar", "entrepreneur", "housemaid", "management", "retired",
            "self-employed", "services", "student", "technician", "unemployed", "unknown"]
    job_p = np.array([11, 21, 3, 3, 21, 5, 3.5, 9, 2, 17, 3, 0.5])
    job_eff = dict(zip(jobs, [0.1, -0.4, -0.3, -0.2, 0.2, 0.7, 0.0, -0.3, 1.0, 0.0, 0.2, 0.0]))
    marital = ["married", "single", "divorced"]
    education = ["primary", "secondary", "tertiary", "unknown"]
    months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    month_p = np.array([3, 6, 1, 6.5, 30.5, 12, 15, 14, 1.3, 1.6, 9, 0.5])
    month_eff = dict(zip(months, [-0.6, 0.1, 1.4, 0.3, -0.5, -0.1, -0.3, -0.1, 1.3, 1.3, -0.3, 1.2]))
    poutcomes = ["unknown", "failure", "other", "success"]

    job = rng.choice(jobs, n, p=job_p / job_p.sum())
    age = np.clip(np.round(rng.normal(41, 10.5, n) + np.where(job == "retired", 20, 0)
                           - np.where(job == "student", 15, 0)), 18, 95).astype(int)
    mar = rng.choice(marital, n, p=[0.6, 0.28, 0.12])
    edu = rng.choice(education, n, p=[0.15, 0.51, 0.30, 0.04])
    default = rng.choice(["no", "yes"], n, p=[0.982, 0.018])
    balance = np.round(rng.lognormal(6.5, 1.4, n) - 400).astype(int)
    housing = rng.choice(["yes", "no"], n, p=[0.56, 0.44])
    loan = rng.choice(["no", "yes"], n, p=[0.84, 0.16])
    contact = rng.choice(["cellular", "unknown", "telephone"], n, p=[0.65, 0.29, 0.06])
    day = rng.integers(1, 32, n)
    month = rng.choice(months, n, p=month_p / month_p.sum())
    duration = np.round(rng.lognormal(5.2, 0.9, n)).astype(int)
    campaign = 1 + rng.poisson(1.8, n)
    contacted = rng.random(n) < 0.18
    pdays = np.where(contacted, rng.integers(1, 500, n), -1)
    previous = np.where(contacted, 1 + rng.poisson(1.5, n), 0)
    pout = np.where(contacted, rng.choice(poutcomes[1:], n, p=[0.6, 0.22, 0.18]), "unknown")

    z = (-1.97
         + 0.55 * (np.log(duration) - 5.2) / 0.9 * 1.6
         + np.vectorize(job_eff.get)(job)
         + np.vectorize(month_eff.get)(month)
         + np.where(pout == "success", 2.2, 0.0)
         + np.where(housing == "yes", -0.6, 0.0)
         + np.where(loan == "yes", -0.4, 0.0)
         + np.where(contact == "unknown", -1.0, 0.0)
         - 0.12 * (campaign - 1)
         + 0.15 * (edu == "tertiary")
         + 0.02 * np.clip(age - 60, 0, None)
         + 0.1 * np.log1p(np.clip(balance, 0, None)) / 5
         + rng.normal(0, 0.6, n))
    y = rng.random(n) < 1 / (1 + np.exp(-z))

    cols = ["age", "job", "marital", "education", "default", "balance", "housing", "loan",
            "contact", "day", "month", "duration", "campaign", "pdays", "previous",
            "poutcome", "y"]
    data = [age, job, mar, edu, default, balance, housing, loan, contact, day, month,
            duration, campaign, pdays, previous, pout, np.where(y, "yes", "no")]
    quoted = {"job", "marital", "education", "default", "housing", "loan", "contact",
              "month", "poutcome", "y"}
    with open(a.out, "w", newline="") as f:
        f.write(";".join(f'"{c}"' for c in cols) + "\n")
        for i in range(n):
            f.write(";".join(f'"{d[i]}"' if c in quoted else str(d[i])
                             for c, d in zip(cols, data)) + "\n")
    print(f"{a.out}: {n} rows, {int(y.sum())} yes ({y.mean():.1%})", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    cv = sub.add_parser("cv")
    cv.add_argument("--data", required=True)
    cv.add_argument("--label", required=True)
    cv.add_argument("--positive")
    cv.add_argument("--exclude", default="")
    cv.add_argument("--folds")
    cv.add_argument("--k", type=int, default=5)
    cv.add_argument("--seed", type=int, default=42)
    cv.add_argument("--n-jobs", type=int, default=2)
    cv.add_argument("--json")
    lb = sub.add_parser("labels")
    lb.add_argument("--data", required=True)
    lb.add_argument("--label", required=True)
    lb.add_argument("--positive")
    mb = sub.add_parser("make-bank")
    mb.add_argument("--out", required=True)
    mb.add_argument("--rows", type=int, default=45000)
    mb.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    {"cv": cmd_cv, "labels": cmd_labels, "make-bank": cmd_make_bank}[a.cmd](a)


if __name__ == "__main__":
    csv.field_size_limit(1 << 24)
    main()
