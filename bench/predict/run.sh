#!/usr/bin/env bash
# Benchmark of the predictive score: leadq train (GBDT and logistic) versus
# scikit-learn HistGradientBoosting, scikit-learn LogisticRegression and
# LightGBM on the real X Education file, on the same stratified folds, in one
# run; the rules model backtested on the same file; and `leadq train` on a
# `;`-separated yes/no file of 45,000 rows.
#
#   bench/predict/run.sh
#
# 1. builds leadq (release) and leadq-predict's `folds` example, which prints
#    the fold of every row exactly as `leadq train --cv K --seed S` assigns it;
# 2. creates or reuses the virtualenv bench/.venv with
#    bench/peers/requirements.txt (PyPI), the one bench/run.sh uses;
# 3. X Education (DATA, default ../shared/data/x_education/Leads.csv), with
#    --exclude "Tags,Lead Quality,Prospect ID,Lead Number", K=5 folds, SEED=42:
#    - leadq train --algorithm gbdt and --algorithm logistic, --cv 5 --json;
#    - the peers (bench/peers/predict_peers.py) on leadq's folds, and once more
#      on scikit-learn's StratifiedKFold(5, shuffle=True, random_state=42);
#    - leadq backtest of examples/x-education/model.toml;
# 4. a bank-marketing-like file (`;`, quoted strings, label y = yes/no, 45,000
#    rows, 10% yes), generated into bench/out/predict/ since shared/data holds
#    no such real file: leadq train --cv 5 (gbdt), and the peers on its folds;
# 5. prints a markdown report and writes bench/out/predict/results.json (and
#    report.md beside it).
#
# Timing: leadq's figure is the wall time of the whole `leadq train` process
# (/usr/bin/time): reading the file, the leakage guard, the 5-fold CV (each
# fold fits the learner plus 3 calibration folds) and the final calibrated
# model on all rows. A peer's figure is the wall time of its 5-fold CV (5 fits
# and predictions, data already in memory); its single fit on all rows is
# reported beside it.
set -euo pipefail

K=5
SEED="${SEED:-42}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DATA="${DATA:-../shared/data/x_education/Leads.csv}"
EXCLUDE="Tags,Lead Quality,Prospect ID,Lead Number"
OUT="bench/out/predict"
# Binaries come from cargo's target directory (CARGO_TARGET_DIR if set).
TARGET="${CARGO_TARGET_DIR:-target}"
LEADQ="$TARGET/release/leadq"
FOLDS_BIN="$TARGET/release/examples/folds"
VENV="bench/.venv"
PY="$VENV/bin/python"
PEERS="bench/peers/predict_peers.py"
BANK="$OUT/bank-synthetic.csv"
mkdir -p "$OUT"

log() { printf '>> %s\n' "$*" >&2; }

if [[ ! -x /usr/bin/time ]]; then
    echo "bench/predict/run.sh needs /usr/bin/time (GNU time), e.g. apt-get install time" >&2
    exit 1
fi
if [[ ! -f "$DATA" ]]; then
    echo "no $DATA (the X Education file lives in the shared data folder)" >&2
    exit 1
fi

# ---- 1. leadq ----------------------------------------------------------------
log "building leadq and the folds example (release)"
cargo build --release -p leadq
cargo build --release -p leadq-predict --example folds

# ---- 2. virtualenv -----------------------------------------------------------
REQ_HASH="$(sha256sum bench/peers/requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$PY" ]]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
fi
if [[ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$REQ_HASH" ]]; then
    log "installing bench/peers/requirements.txt into $VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check -r bench/peers/requirements.txt
    echo "$REQ_HASH" > "$VENV/.requirements.sha256"
fi

# Runs a command under /usr/bin/time; its stdout goes to $1, wall seconds
# and peak RSS (KB) to $1.time.
timed() {
    local out="$1"
    shift
    /usr/bin/time -f '%e %M' -o "$out.time" "$@" > "$out"
}

# ---- 3. X Education ------------------------------------------------------------
log "leadq's folds of $DATA (K=$K, seed $SEED)"
# Untimed read first: every tool starts with the file in the page cache.
cat "$DATA" > /dev/null
"$PY" "$PEERS" labels --data "$DATA" --label Converted | "$FOLDS_BIN" "$K" "$SEED" > "$OUT/folds-xedu.txt"

GBDT_CMD=("$LEADQ" train --data "$DATA" --label Converted --exclude "$EXCLUDE" --cv "$K" --seed "$SEED" --json)
LOGI_CMD=("${GBDT_CMD[@]}" --algorithm logistic)
# Like for like with the peers' plain CV (no calibration step).
PLAIN_CMD=("${GBDT_CMD[@]}" --calibration none)
PEERS_LQ_CMD=("$PY" "$PEERS" cv --data "$DATA" --label Converted --exclude "$EXCLUDE"
              --folds "$OUT/folds-xedu.txt" --seed "$SEED" --n-jobs 2 --json "$OUT/peers-xedu-leadq-folds.json")
PEERS_SK_CMD=("$PY" "$PEERS" cv --data "$DATA" --label Converted --exclude "$EXCLUDE"
              --k "$K" --seed "$SEED" --n-jobs 2 --json "$OUT/peers-xedu-sklearn-folds.json")
BACKTEST_CMD=("$LEADQ" backtest --model examples/x-education/model.toml
              --mapping examples/x-education/mapping.toml --data "$DATA" --label Converted --json)

log "leadq train (gbdt)";      timed "$OUT/leadq-gbdt.json" "${GBDT_CMD[@]}"
log "leadq train (logistic)";  timed "$OUT/leadq-logistic.json" "${LOGI_CMD[@]}"
log "leadq train (gbdt, uncalibrated)"; timed "$OUT/leadq-gbdt-plain.json" "${PLAIN_CMD[@]}"
log "peers on leadq's folds";  "${PEERS_LQ_CMD[@]}"
log "peers on StratifiedKFold(5, shuffle=True, random_state=$SEED)"; "${PEERS_SK_CMD[@]}"
log "leadq backtest (rules)";  timed "$OUT/backtest.json" "${BACKTEST_CMD[@]}"

# ---- 4. a ;-separated yes/no file --------------------------------------------
if [[ -n "$(find ../shared/data -iname '*.csv' ! -path '*x_education*' 2>/dev/null | head -1)" ]]; then
    log "note: ../shared/data holds other CSV files; this run still uses the generated one"
fi
log "generating $BANK"
"$PY" "$PEERS" make-bank --out "$BANK" --rows 45000 --seed 7
cat "$BANK" > /dev/null
"$PY" "$PEERS" labels --data "$BANK" --label y | "$FOLDS_BIN" "$K" "$SEED" > "$OUT/folds-bank.txt"
BANK_CMD=("$LEADQ" train --data "$BANK" --label y --cv "$K" --seed "$SEED" --json)
BANK_PEERS_CMD=("$PY" "$PEERS" cv --data "$BANK" --label y --folds "$OUT/folds-bank.txt"
                --seed "$SEED" --n-jobs 2 --json "$OUT/peers-bank-leadq-folds.json")
log "leadq train on $BANK";    timed "$OUT/leadq-bank.json" "${BANK_CMD[@]}"
log "peers on $BANK";          "${BANK_PEERS_CMD[@]}"

# ---- 5. report ---------------------------------------------------------------
q() { printf '%q ' "$@"; }
export CMD_GBDT="$(q "${GBDT_CMD[@]}")" CMD_LOGI="$(q "${LOGI_CMD[@]}")" CMD_PLAIN="$(q "${PLAIN_CMD[@]}")"
export CMD_PEERS_LQ="$(q "${PEERS_LQ_CMD[@]}")" CMD_PEERS_SK="$(q "${PEERS_SK_CMD[@]}")"
export CMD_BACKTEST="$(q "${BACKTEST_CMD[@]}")" CMD_BANK="$(q "${BANK_CMD[@]}")"
export CMD_BANK_PEERS="$(q "${BANK_PEERS_CMD[@]}")"
export OUT DATA K SEED LEADQ
"$PY" - <<'PYEOF' | tee "$OUT/report.md"
import json, os, platform, subprocess

out = os.environ["OUT"]
def load(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)
def timing(name):
    wall, rss = open(os.path.join(out, name + ".time")).read().split()[-2:]
    return float(wall), int(rss)

gb, lo, bt, bank, plain = (load(n) for n in ("leadq-gbdt.json", "leadq-logistic.json", "backtest.json", "leadq-bank.json", "leadq-gbdt-plain.json"))
peers_lq = load("peers-xedu-leadq-folds.json")
peers_sk = load("peers-xedu-sklearn-folds.json")
peers_bank = load("peers-bank-leadq-folds.json")
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except Exception:
    cpu = platform.processor()
load1 = os.getloadavg()[0]
leadq_version = subprocess.run([os.environ["LEADQ"], "--version"], capture_output=True, text=True).stdout.strip()

rows = []
def leadq_row(name, r, timing_file, what="whole `leadq train` process: read + guard + 5-fold CV (calibrated: each fold's learner + 3 inner fits for isotonic calibration) + final model (1 fit, calibrated on the CV's out-of-fold scores)"):
    wall, rss = timing(timing_file)
    return {"model": name, "folds": "leadq", "auc": r["auc"], "auc_std": r["auc_std"],
            "ece": r["ece"], "ece_std": r["ece_std"], "seconds": wall,
            "seconds_what": what,
            "train_seconds_reported": r["train_seconds"], "peak_rss_kb": rss}
def peer_rows(doc, folds):
    rows = []
    for p in doc["results"]:
        same_work = p.get("protocol") == "leadq"
        rows.append({"model": p["model"], "folds": folds, "auc": p["auc"], "auc_std": p["auc_std"],
                     "ece": p["ece"], "ece_std": p["ece_std"],
                     "seconds": p["protocol_seconds"] if same_work else p["cv_seconds"],
                     "seconds_what": ("leadq's protocol: 5-fold CV, each fit = 3 inner fits for isotonic "
                                      "calibration + 1 fit, plus one final fit; data in memory"
                                      if same_work else "5-fold CV (5 fits + predict_proba), data in memory"),
                     "final_fit_seconds": p["final_fit_seconds"]})
    return rows

xedu = [leadq_row("leadq gbdt", gb, "leadq-gbdt.json"),
        leadq_row("leadq gbdt --calibration none", plain, "leadq-gbdt-plain.json",
                  "whole `leadq train` process: read + guard + 5-fold CV (5 fits, no calibration) + final model"),
        leadq_row("leadq logistic", lo, "leadq-logistic.json")]
xedu += peer_rows(peers_lq, "leadq") + peer_rows(peers_sk, "sklearn StratifiedKFold")
bank_rows = [leadq_row("leadq gbdt", bank, "leadq-bank.json")] + peer_rows(peers_bank, "leadq")
bt_wall, _ = timing("backtest.json")

results = {
    "machine": {"cpus": os.cpu_count(), "cpu": cpu, "load_avg_1min_at_report": load1},
    "versions": {"leadq": leadq_version, **peers_lq["versions"]},
    "x_education": {"data": os.environ["DATA"], "rows": gb["rows"], "positives": gb["positives"],
                    "features_leadq": gb["features"], "features_peers": peers_lq["results"][0]["features"],
                    "k": int(os.environ["K"]), "seed": int(os.environ["SEED"]), "results": xedu,
                    "backtest": {k: bt[k] for k in ("model", "leads", "converted", "auc", "auc_fit",
                                                     "auc_engagement", "lift_top10", "top20_share",
                                                     "mql", "mql_precision", "mql_recall")},
                    "backtest_seconds": bt_wall},
    "bank_synthetic": {"data": os.path.join(out, "bank-synthetic.csv"), "rows": bank["rows"],
                       "positives": bank["positives"], "features": bank["features"],
                       "refused": bank["refused"], "results": bank_rows},
    "commands": {k[4:].lower(): v.strip() for k, v in os.environ.items() if k.startswith("CMD_")},
}
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(results, f, indent=2)

def table(rs):
    lines = ["| model | folds | ROC AUC (mean ± std) | ECE (mean ± std) | seconds | what the seconds cover |",
             "|---|---|---|---|---|---|"]
    for r in rs:
        extra = f"; one fit on all rows {r['final_fit_seconds']:.2f} s" if "final_fit_seconds" in r else ""
        lines.append(f"| {r['model']} | {r['folds']} | {r['auc']:.4f} ± {r['auc_std']:.4f} | "
                     f"{r['ece']:.4f} ± {r['ece_std']:.4f} | {r['seconds']:.2f} | {r['seconds_what']}{extra} |")
    return "\n".join(lines)

v = results["versions"]
print(f"# Predictive score benchmark\n")
print(f"Machine: {os.cpu_count()} CPUs ({cpu}); 1-min load average at report time {load1:.2f} "
      f"(other work may have been running). {v['leadq']}; Python {v['python']}, scikit-learn {v['scikit-learn']}, "
      f"LightGBM {v['lightgbm']}, numpy {v['numpy']}, pandas {v['pandas']}, scipy {v['scipy']}.\n")
print(f"## X Education ({gb['rows']} rows, {gb['positives']} converted; 5-fold stratified CV, seed {os.environ['SEED']})\n")
print(table(xedu) + "\n")
print(f"Rules model backtest ({bt['model']}): ROC AUC {bt['auc']:.4f} (fit {bt['auc_fit']:.4f}, engagement "
      f"{bt['auc_engagement']:.4f}), lift top 10% {bt['lift_top10']:.2f}, top-20% share {bt['top20_share']:.3f}, "
      f"MQL {bt['mql']} (precision {bt['mql_precision']:.3f}, recall {bt['mql_recall']:.3f}); {bt_wall:.2f} s.\n")
print(f"## `;`-separated yes/no file (synthetic bank-marketing-like, {bank['rows']} rows, {bank['positives']} yes)\n")
print(table(bank_rows) + "\n")
print("## Commands\n")
for k, c in results["commands"].items():
    print(f"- {k}: `{c}`")
PYEOF
log "wrote $OUT/results.json and $OUT/report.md"
