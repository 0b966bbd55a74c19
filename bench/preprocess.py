"""Benchmark the whole preprocessing (ingest + vocab + encode, all 325 Criteo crosses).

    .venv/bin/python bench/preprocess.py --rows 1000000

Generates a Criteo-format TSV of N rows (cached under --work; not timed), then, in a fresh child
process so peak RSS is the pipeline's own, times one plain DuckDB scan of the file and the three
stages, and prints a table: rows/s, CPU seconds, the ratio to the plain scan (the machine may be
shared, the ratio is the steadier figure), peak RSS and output bytes per row.

Field cardinalities follow the real Criteo DAC train set; values are drawn log-uniformly
(P(k) ~ 1/k), so frequent values and long tails both occur, with Criteo-like empty shares.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

CARDINALITY = [1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
               27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142]
EMPTY_SHARE = [0, 0, .03, .03, 0, .12, 0, 0, 0, 0, 0, .03, 0, 0, 0, .03, 0, 0, .44, .44, .03, .76,
               0, .03, .44, .44]
CHUNK = 200_000


def _hex8(x: np.ndarray) -> pa.Array:
    """uint32 -> 8 lowercase hex characters, vectorised."""
    nib = np.stack([(x >> (28 - 4 * k)) & 15 for k in range(8)], axis=1).astype(np.uint8)
    asc = np.frombuffer(b"0123456789abcdef", np.uint8)[nib]
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(8), len(x), [None, pa.py_buffer(asc.tobytes())])
    return fixed.cast(pa.binary()).cast(pa.string())


def write_criteo_like(path: Path, rows: int, seed: int) -> None:
    """A Criteo DAC-format file: label, I1-I13 (ints, some empty, some negative), C1-C26 hex."""
    rng = np.random.default_rng(seed)
    int_empty, int_scale = rng.uniform(0, .45, 13), rng.uniform(0, 5, 13)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            cols = {"label": pa.array((rng.random(n) < .25).astype(np.int8))}
            for i in range(13):
                v = np.floor(np.exp(rng.normal(int_scale[i], 1.5, n))).astype(np.int64) - 2 * (i == 1)
                cols[f"I{i + 1}"] = pa.array(v, mask=rng.random(n) < int_empty[i])
            for j, card in enumerate(CARDINALITY):
                idx = np.floor(np.power(float(card), rng.random(n))).astype(np.uint64) - 1
                h = ((idx * np.uint64(2654435761) + np.uint64((j + 1) * 40503)) % np.uint64(1 << 32))
                vals = _hex8(h.astype(np.uint32))
                empty = pa.array(rng.random(n) < EMPTY_SHARE[j])
                cols[f"C{j + 1}"] = pa.compute.if_else(empty, pa.scalar(None, pa.string()), vals)
            pacsv.write_csv(pa.table(cols), f, pacsv.WriteOptions(
                include_header=False, delimiter="\t", quoting_style="none"))
    tmp.replace(path)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn, *args) -> tuple[float, float]:
    t, c = time.perf_counter(), _cpu()
    fn(*args)
    return time.perf_counter() - t, _cpu() - c


def child(source: Path, work: Path, duckdb_cfg: dict, min_count: int) -> dict:
    """Runs in a fresh process: the plain scan, then the three stages; returns the figures."""
    import duckdb

    from optinter.data.encode import encode
    from optinter.data.ingest import ingest
    from optinter.data.vocab import build_vocab

    def scan() -> None:
        con = duckdb.connect(config={"threads": duckdb_cfg["threads"]})
        cols = {"label": "VARCHAR", **{f"I{i}": "VARCHAR" for i in range(1, 14)},
                **{f"C{i}": "VARCHAR" for i in range(1, 27)}}
        con.execute("SELECT count(*), max(length(C26)) FROM read_csv($p, delim = chr(9), header = false, "
                    "quote = '', escape = '', auto_detect = false, columns = $c)",
                    {"p": str(source), "c": cols}).fetchall()
        con.close()

    split = {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 2022}
    raw, vocab, out = work / "raw.parquet", work / "vocab", work / "processed"
    figures = {"scan": _timed(scan),
               "ingest": _timed(ingest, "criteo", source, raw, duckdb_cfg),
               "vocab": _timed(build_vocab, raw, vocab, split, min_count, min_count, False, duckdb_cfg),
               "encode": _timed(encode, raw, vocab, out, duckdb_cfg)}
    fmap = json.loads((out / "feature_map.json").read_text())
    figures["pairs"] = len(fmap["pairs"])
    figures["rows"] = sum(fmap["rows"].values())
    figures["out_bytes"] = sum((out / f).stat().st_size for f in fmap["files"].values())
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-count", type=int, default=20, help="field and cross threshold (Criteo: 20)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--work", type=Path, default=Path("tmp/bench_preprocess"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = args.work.resolve() / f"n{args.rows}_s{args.seed}"
    source = work / "train.txt"
    cfg = {"threads": args.threads, "memory_limit": args.memory_limit,
           "temp_directory": str(work / "duckdb_tmp")}
    if args.child:
        print(json.dumps(child(source, work, cfg, args.min_count)))
        return
    work.mkdir(parents=True, exist_ok=True)
    if not source.exists():
        t = time.perf_counter()
        write_criteo_like(source, args.rows, args.seed)
        print(f"generated {source} ({source.stat().st_size / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - t:.1f} s", file=sys.stderr)
    cmd = [sys.executable, __file__, "--child", "--rows", str(args.rows), "--seed", str(args.seed),
           "--min-count", str(args.min_count), "--threads", str(args.threads),
           "--memory-limit", args.memory_limit, "--work", str(args.work.resolve())]
    fig = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    report(args, fig, source.stat().st_size)


def report(args, fig: dict, source_bytes: int) -> None:
    wall = sum(fig[s][0] for s in ("ingest", "vocab", "encode"))
    cpu = sum(fig[s][1] for s in ("ingest", "vocab", "encode"))
    scan_wall, scan_cpu = fig["scan"]
    rows = fig["rows"]
    print(f"| rows | pairs | threads | source MiB | rows/s | wall s | CPU s | x scan (wall) | "
          f"x scan (CPU) | peak RSS MiB | out bytes/row |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {rows:,} | {fig['pairs']} | {args.threads} | {source_bytes / 2**20:.0f} | "
          f"{rows / wall:,.0f} | {wall:.1f} | {cpu:.1f} | {wall / scan_wall:.1f} | "
          f"{cpu / max(scan_cpu, 1e-9):.1f} | {fig['peak_rss_mb']:,.0f} | {fig['out_bytes'] / rows:.0f} |")
    print()
    print("| stage | wall s | CPU s |")
    print("|---|---:|---:|")
    for s in ("scan", "ingest", "vocab", "encode"):
        print(f"| {s if s != 'scan' else 'plain DuckDB scan'} | {fig[s][0]:.2f} | {fig[s][1]:.2f} |")


if __name__ == "__main__":
    main()
