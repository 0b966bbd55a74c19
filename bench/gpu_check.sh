#!/usr/bin/env bash
# The CUDA path in one go, meant to take under 5 minutes on one GPU; prints one table.
#
#   bash bench/gpu_check.sh               # on a machine with a GPU
#   bash bench/gpu_check.sh --cpu-only    # as if there were none (what runs where none is)
#   bash bench/gpu_check.sh --quick       # tiny settings of every part (the tests use it)
#
# Parts (each logged to $LOGS/<part>.log):
#   tests      the CUDA-marked tests (tests/test_cuda.py: CUDA vs CPU on the tiny fixture)
#   step       bench/train_step.py --device cuda (Criteo shape: bare MLP, search, re-train)
#   loader     bench/loader_rate.py: samples/s the ParquetBatches loader delivers to the GPU,
#              Criteo shape and batch, against the search step's rate (is the GPU starved?)
#   demo       the demo workflow with train.device=cuda, in a copy of the repository under a
#              temporary folder (results/ here stay untouched); then its runs per model
#   full_size  bench/full_size.py at a bounded number of steps: every Table V model and both
#              searches at Criteo and Avazu size (params, memory estimate vs peak, step and
#              loader samples/s, projected hours; the device-resident loader on the GPU)
# Without a GPU (or with --cpu-only) it says so and runs the CPU-only parts: the tests'
# harness (C kernels vs PyTorch ops; the CUDA tests skip), both benchmarks on the CPU at a
# small shape, and a dry run of the demo command with the CUDA override.
#
# Environment: PYTHON (default .venv/bin/python, else python3), GPU_CHECK_LOGS (default
# $OUT/gpu_check when $OUT is set, else a temporary folder, kept and named at the end),
# DEMO_TIMEOUT (seconds, default 210), DEMO_CORES (default 8), DEMO_CONFIG (more --config
# words for the demo, e.g. "seeds=[1]"), FULL_SIZE_TIMEOUT (seconds, default 600).
# Exit status: 0 when every part that ran passed.

set -uo pipefail

CPU_ONLY=0
QUICK=0
for arg in "$@"; do
  case "$arg" in
    --cpu-only) CPU_ONLY=1 ;;
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
PY=${PYTHON:-$ROOT/.venv/bin/python}
[[ -x "$PY" ]] || PY=$(command -v python3)
PATH="$(dirname "$PY"):$PATH"
export PATH PYTHONUNBUFFERED=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
if [[ -n "${GPU_CHECK_LOGS:-}" ]]; then LOGS=$GPU_CHECK_LOGS
elif [[ -n "${OUT:-}" ]]; then LOGS=$OUT/gpu_check
else LOGS=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_logs.XXXXXX"); fi
mkdir -p "$LOGS"
DEMO_TIMEOUT=${DEMO_TIMEOUT:-210}
DEMO_CORES=${DEMO_CORES:-8}

ROWS=()   # part|status|seconds|result
FAILED=0
row() { ROWS+=("$1|$2|$3|$4"); [[ "$2" == FAIL || "$2" == TIMEOUT ]] && FAILED=1; return 0; }

# run_part NAME CMD...: run with output to $LOGS/NAME.log; sets SECS and RC
run_part() {
  local name=$1; shift
  local t0=$SECONDS
  echo "gpu_check: $name: $*" >&2
  "$@" >"$LOGS/$name.log" 2>&1
  RC=$?
  SECS=$((SECONDS - t0))
}
status_of() { [[ $RC -eq 0 ]] && echo PASS || { [[ $RC -eq 124 ]] && echo TIMEOUT || echo FAIL; }; }
last_line() { grep -E "$2" "$LOGS/$1.log" | tail -1 | sed -E 's/^=+ //; s/ =+$//'; }

# ------------------------------------------------------------------ device
GPU=""
if [[ $CPU_ONLY -eq 0 ]]; then
  GPU=$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>/dev/null)
fi
TORCH=$("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null)
if [[ -n "$GPU" ]]; then
  DEV=cuda
  echo "gpu_check: GPU found: $GPU (torch $TORCH)"
else
  DEV=cpu
  why="torch.cuda.is_available() is False"
  [[ $CPU_ONLY -eq 1 ]] && why="--cpu-only"
  echo "gpu_check: no GPU found ($why; torch $TORCH): running the CPU-only parts"
fi

# ------------------------------------------------------------------ shapes
# full size: every model at Criteo / Avazu size, bounded steps (bench/full_size.py; not with
# --quick)
if [[ $DEV == cuda ]]; then   # ~15 s a model (a fresh process each), ~8 min in all
  FULL=(--shapes criteo,avazu,avazu_released --steps 20 --warmup 3 --loader-rows 400000 --budget-mb 130000)
else                            # the whole table on a CPU takes ~40 min: run bench/full_size.py
  FULL=(--shapes criteo --models lr,fnn,optinter,supernet --steps 2 --warmup 1 --loader-rows 100000)
fi
if [[ $QUICK -eq 1 ]]; then
  SHAPE=(--cont 2 --cat 6)
  STEP=(--batch 256 --mlp 32,32 --cat-rows 2000 --cross-rows 10000,50000 --steps 2 --warmup 1)
  LOADER=(--batch 256 --rows 4000 --epochs 1)
elif [[ $DEV == cuda ]]; then
  SHAPE=(--cont 13 --cat 26)   # Criteo's shape and batch: train_step.py's defaults
  STEP=(--steps 20 --warmup 3)
  LOADER=(--batch 2000 --rows 400000 --epochs 2)
else
  SHAPE=(--cont 13 --cat 26)
  STEP=(--batch 500 --mlp 64,64 --cat-rows 20000 --cross-rows 100000,1000000 --steps 3 --warmup 1)
  LOADER=(--batch 500 --rows 20000 --epochs 1)
fi

# ------------------------------------------------------------------ tests
if [[ $QUICK -eq 1 ]]; then
  row "tests" skip 0 "--quick"
else
  if [[ $DEV == cuda ]]; then
    run_part tests "$PY" -m pytest -q -p no:cacheprovider -m cuda tests
  else
    run_part tests "$PY" -m pytest -q -p no:cacheprovider -rs tests/test_cuda.py
  fi
  row "tests ($DEV)" "$(status_of)" "$SECS" "$(last_line tests '(passed|failed|error|skipped|no tests ran)')"
fi

# ------------------------------------------------------------------ train step
run_part step "$PY" bench/train_step.py --device "$DEV" "${SHAPE[@]}" "${STEP[@]}"
SEARCH_RATE=$(grep -E '^search step, cross' "$LOGS/step.log" | head -1 | awk '{print $(NF-1)}' | tr -d ,)
if [[ $RC -eq 0 && -n "$SEARCH_RATE" ]]; then
  mlp=$(grep -E '^bare MLP \(random input\)' "$LOGS/step.log" | awk '{print $(NF-1)}')
  ratio=$(grep -oE 'search / bare MLP: [0-9.]+' "$LOGS/step.log" | awk '{print $NF}')
  big=$(grep -oE '^step time .*: [0-9.]+' "$LOGS/step.log" | awk '{print $NF}')
  row "train_step ($DEV)" PASS "$SECS" "search $SEARCH_RATE samples/s, bare MLP $mlp; search/MLP $ratio (>= 0.70), big/small cross ${big:-?} (<= 1.10)"
else
  row "train_step ($DEV)" FAIL "$SECS" "$(tail -1 "$LOGS/step.log")"
fi

# ------------------------------------------------------------------ loader
VERSUS=()
[[ -n "$SEARCH_RATE" ]] && VERSUS=(--versus "$SEARCH_RATE")
run_part loader "$PY" bench/loader_rate.py --device "$DEV" "${SHAPE[@]}" "${LOADER[@]}" "${VERSUS[@]}"
if [[ $RC -eq 0 ]]; then
  while IFS= read -r line; do
    mode=$(awk '{print $2}' <<<"$line")
    rest=${line#*: }
    row "loader $mode ($DEV)" PASS "$SECS" "$rest"
  done < <(grep -E '^loader ' "$LOGS/loader.log")
else
  row "loader ($DEV)" FAIL "$SECS" "$(tail -1 "$LOGS/loader.log")"
fi

# ------------------------------------------------------------------ full size
if [[ $QUICK -eq 1 ]]; then
  row "full_size" skip 0 "--quick (bench/full_size.py builds full-size tables)"
else
run_part full_size timeout "${FULL_SIZE_TIMEOUT:-600}" "$PY" bench/full_size.py --device "$DEV" "${FULL[@]}" --json "$LOGS/full_size.json"
if [[ $RC -eq 0 ]]; then
  n_ok=$(grep -cE '^\| [a-z_]+ \|.*\| [0-9.]+ \| [0-9.]+ \|$' "$LOGS/full_size.log")
  n_no=$(grep -cE '\*\*(estimate|exit)' "$LOGS/full_size.log")
  opt=$(grep -E '^optinter.json \(proj.\)' "$LOGS/full_size.log" | head -1 | grep -oE '= [0-9,]+ h' )
  row "full_size ($DEV)" PASS "$SECS" "$n_ok models measured, $n_no refused/failed by estimate; optinter.json ${opt:-n/a} (Criteo, proj.); table in $LOGS/full_size.log"
else
  row "full_size ($DEV)" "$(status_of)" "$SECS" "$(tail -1 "$LOGS/full_size.log")"
fi
fi

# ------------------------------------------------------------------ demo
if [[ $QUICK -eq 1 ]]; then
  row "demo" skip 0 "--quick"
else
  COPY=$WORK/repo
  mkdir -p "$COPY"
  tar -C "$ROOT" --exclude=./.venv --exclude=./.git --exclude=./data --exclude=./results \
      --exclude=./logs --exclude=./benchmarks --exclude=./.snakemake --exclude=./tmp \
      --exclude=__pycache__ --exclude=./report.html -cf - . | tar -C "$COPY" -xf -
  # shellcheck disable=SC2206
  CFG=("train={device: cuda}" ${DEMO_CONFIG:-})
  if [[ $DEV == cuda ]]; then
    cd "$COPY" || exit 2
    run_part demo timeout "$DEMO_TIMEOUT" "$PY" -m snakemake --cores "$DEMO_CORES" --config "${CFG[@]}"
    cd "$ROOT" || exit 2
    st=$(status_of)
    done_runs=$(find "$COPY/results/demo/runs" -name 'seed*.json' 2>/dev/null | wc -l)
    row "demo on cuda" "$st" "$SECS" "$(last_line demo '[0-9]+ of [0-9]+ steps')${done_runs:+; $done_runs runs written}"
    mkdir -p "$LOGS/demo_results"
    (cd "$COPY/results" 2>/dev/null && find demo -name '*.json' -o -path '*tables/*.md' | tar -cf - -T - 2>/dev/null) | tar -C "$LOGS/demo_results" -xf - 2>/dev/null
    # one row per model: mean test AUC over its seeds, samples/s, devices recorded
    while IFS= read -r line; do ROWS+=("$line"); done < <("$PY" - "$COPY/results/demo/runs" <<'EOF'
import json, statistics, sys
from pathlib import Path
runs = Path(sys.argv[1])
for d in sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []:
    rs = [json.loads(f.read_text()) for f in sorted(d.glob("seed*.json"))]
    if not rs:
        continue
    auc = statistics.mean(r["test_auc"] for r in rs)
    sps = statistics.mean(r.get("samples_per_second") or 0 for r in rs)
    secs = sum(r.get("train_seconds") or 0 for r in rs)
    devs = ",".join(sorted({str(r.get("device")) for r in rs}))
    print(f"  demo {d.name}|{'PASS' if all(str(r.get('device')).startswith('cuda') for r in rs) else 'FAIL'}"
          f"|{secs:.0f}|test AUC {auc:.4f} over {len(rs)} seeds, {sps:,.0f} samples/s, device {devs}")
EOF
)
  else
    cd "$COPY" || exit 2
    run_part demo "$PY" -m snakemake -n --cores "$DEMO_CORES" --config "${CFG[@]}"
    cd "$ROOT" || exit 2
    jobs=$(grep -E '^total[[:space:]]+[0-9]+' "$LOGS/demo.log" | awk '{print $2}' | tail -1)
    row "demo (dry run, $DEV)" "$(status_of)" "$SECS" "${jobs:-?} jobs planned with --config ${CFG[*]}; not run without a GPU"
  fi
fi

# ------------------------------------------------------------------ table
echo
echo "gpu_check on ${GPU:-no GPU} (torch $TORCH), logs in $LOGS"
printf '%-30s %-7s %6s  %s\n' part status secs result
printf '%-30s %-7s %6s  %s\n' ------------------------------ ------- ------ ------
for r in "${ROWS[@]}"; do
  IFS='|' read -r part st secs res <<<"$r"
  [[ "$st" == FAIL || "$st" == TIMEOUT ]] && FAILED=1
  printf '%-30s %-7s %6s  %s\n' "$part" "$st" "$secs" "$res"
done
exit $FAILED
