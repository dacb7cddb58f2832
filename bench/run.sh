#!/usr/bin/env bash
# Benchmark: leadq versus the same model in DuckDB SQL and in pandas, on the
# same generated files, in one run.
#
#   bench/run.sh [LEADS] [SEED]        (defaults: 1000000 leads, seed 1)
#
# 1. builds leadq (release);
# 2. generates LEADS people (about 10 events each) into bench/out/data-LEADS
#    unless that folder already holds the data of this seed;
# 3. creates or reuses the virtualenv bench/.venv with
#    bench/peers/requirements.txt (PyPI);
# 4. runs leadq, the DuckDB peer and the pandas peer one after the other,
#    each under /usr/bin/time (wall seconds, peak RSS) after an untimed read
#    of the input files so that every tool starts with them in the page cache;
# 5. prints a markdown report (machine, data, commands, timings, agreement of
#    each peer with leadq from bench/compare.py) and saves it as
#    bench/out/report-LEADS.md.
#
# Environment: THREADS (default: nproc) is given to DuckDB; leadq uses every
# core; AS_OF (default 2026-11-01T00:00:00Z) is the scoring instant.
set -euo pipefail

LEADS="${1:-1000000}"
SEED="${2:-1}"
AS_OF="${AS_OF:-2026-11-01T00:00:00Z}"
THREADS="${THREADS:-$(nproc)}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="bench/out"
DATA="$OUT/data-$LEADS"
MODEL="examples/default-model.toml"
LEADQ="target/release/leadq"
VENV="bench/.venv"
PY="$VENV/bin/python"
REPORT="$OUT/report-$LEADS.md"
mkdir -p "$OUT"

log() { printf '>> %s\n' "$*" >&2; }

if [[ ! -x /usr/bin/time ]]; then
    echo "bench/run.sh needs /usr/bin/time (GNU time), e.g. apt-get install time" >&2
    exit 1
fi

# ---- 1. leadq ----------------------------------------------------------------
log "building leadq (release)"
cargo build --release -p leadq

# ---- 2. data -----------------------------------------------------------------
if [[ -f "$DATA/leads.csv" && -f "$DATA/events.csv" && "$(cat "$DATA/.seed" 2>/dev/null)" == "$SEED" ]]; then
    log "reusing $DATA (seed $SEED)"
else
    log "generating $LEADS leads (seed $SEED) into $DATA"
    rm -rf "$DATA"
    "$LEADQ" demo generate --leads "$LEADS" --seed "$SEED" --as-of "$AS_OF" --out "$DATA"
    echo "$SEED" > "$DATA/.seed"
fi

# ---- 3. virtualenv -----------------------------------------------------------
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

# ---- 4. the runs -------------------------------------------------------------
LEADQ_CMD=("$LEADQ" qualify "$DATA/leads.csv" --events "$DATA/events.csv" --model "$MODEL"
           --as-of "$AS_OF" --no-passthrough --out "$OUT/leadq-$LEADS.csv" --merges "$OUT/merges-$LEADS.csv")
DUCKDB_CMD=("$PY" bench/peers/duckdb_qualify.py "$DATA/leads.csv" --events "$DATA/events.csv"
            --as-of "$AS_OF" --threads "$THREADS" --out "$OUT/duckdb-$LEADS.csv")
PANDAS_CMD=("$PY" bench/peers/pandas_qualify.py "$DATA/leads.csv" --events "$DATA/events.csv"
            --as-of "$AS_OF" --out "$OUT/pandas-$LEADS.csv")

declare -A WALL RSS STATUS
run_timed() {
    local name="$1"; shift
    log "warming the page cache, then timing $name"
    cat "$DATA/leads.csv" "$DATA/events.csv" > /dev/null
    local status=0
    /usr/bin/time -f '%e %M' -o "$OUT/time-$name-$LEADS.txt" "$@" 2> "$OUT/log-$name-$LEADS.txt" || status=$?
    read -r WALL[$name] RSS[$name] < <(tail -n 1 "$OUT/time-$name-$LEADS.txt")
    STATUS[$name]=$status
    if (( status != 0 )); then
        log "$name failed (exit $status); see $OUT/log-$name-$LEADS.txt"
        tail -n 5 "$OUT/log-$name-$LEADS.txt" >&2 || true
    fi
}
run_timed leadq "${LEADQ_CMD[@]}"
run_timed duckdb "${DUCKDB_CMD[@]}"
run_timed pandas "${PANDAS_CMD[@]}"

# ---- 5. report -----------------------------------------------------------------
quote() {
    local out="" a
    for a in "$@"; do
        if [[ "$a" =~ ^[A-Za-z0-9_./:=+,@-]+$ ]]; then out+="$a "; else out+="'${a//\'/\'\\\'\'}' "; fi
    done
    echo "${out% }"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
ratio() { awk -v t="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", t / b; else print "-" }'; }

LEADQ_VERSION="$("$LEADQ" --version)"
DUCKDB_VERSION="duckdb $("$PY" -c 'import duckdb; print(duckdb.__version__)') (Python $("$PY" -c 'import platform; print(platform.python_version())'))"
PANDAS_VERSION="$("$PY" -c 'import pandas, numpy, pyarrow; print(f"pandas {pandas.__version__}, numpy {numpy.__version__}, pyarrow {pyarrow.__version__}")')"
CPU="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
MEM="$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
LEAD_ROWS=$(( $(wc -l < "$DATA/leads.csv") - 1 ))
EVENT_ROWS=$(( $(wc -l < "$DATA/events.csv") - 1 ))
FIT_RULES=$(grep -c '^\[\[fit\]\]' "$MODEL")
ENG_RULES=$(grep -c '^\[\[engagement\]\]' "$MODEL")
DECAYING=$(grep -c '^half_life_days' "$MODEL")

row() {
    local name="$1" label="$2" version="$3"
    if (( ${STATUS[$name]} != 0 )); then
        echo "| $label | $version | failed (exit ${STATUS[$name]}) | - | - |"
    else
        echo "| $label | $version | ${WALL[$name]} | $(mib "${RSS[$name]}") | $(ratio "${WALL[$name]}" "${WALL[leadq]}") |"
    fi
}

{
    echo "## leadq vs DuckDB vs pandas: $LEADS generated leads (seed $SEED)"
    echo
    echo "- machine: $(nproc) CPUs ($CPU), $MEM RAM, $(uname -sr)"
    echo "- data: $DATA: $LEAD_ROWS lead rows, $EVENT_ROWS events ($(du -sh "$DATA/leads.csv" | cut -f1) + $(du -sh "$DATA/events.csv" | cut -f1))"
    echo "- model: $MODEL: $FIT_RULES fit rules, $ENG_RULES engagement rules ($DECAYING with a half-life), scored as of $AS_OF"
    echo "- each tool reads the raw CSV files and writes its ranked scores; the files were read once (untimed) before each run"
    echo "- wall time and peak resident memory from \`/usr/bin/time -f '%e %M'\`; ratio = wall time / leadq's wall time"
    echo
    echo "| tool | version | wall s | peak RSS MiB | time vs leadq (x) |"
    echo "|---|---|---:|---:|---:|"
    row leadq leadq "$LEADQ_VERSION"
    row duckdb "DuckDB SQL (threads $THREADS)" "$DUCKDB_VERSION"
    row pandas pandas "$PANDAS_VERSION"
    echo
    echo "Commands (from $ROOT):"
    echo
    echo '```'
    echo "$(quote /usr/bin/time -f '%e %M' "${LEADQ_CMD[@]}")"
    echo "$(quote /usr/bin/time -f '%e %M' "${DUCKDB_CMD[@]}")"
    echo "$(quote /usr/bin/time -f '%e %M' "${PANDAS_CMD[@]}")"
    echo '```'
    echo
    echo "leadq's own summary:"
    echo
    echo '```'
    cat "$OUT/log-leadq-$LEADS.txt"
    echo '```'
    echo
    for peer in duckdb pandas; do
        if (( ${STATUS[$peer]} == 0 && ${STATUS[leadq]} == 0 )); then
            label=$([[ $peer == duckdb ]] && echo "DuckDB" || echo "pandas")
            "$PY" bench/compare.py "$OUT/leadq-$LEADS.csv" "$OUT/$peer-$LEADS.csv" \
                --merges "$OUT/merges-$LEADS.csv" --label "$label"
        fi
    done
} | tee "$REPORT"
log "report saved as $REPORT"

for name in leadq duckdb pandas; do
    (( ${STATUS[$name]} == 0 )) || exit 1
done
