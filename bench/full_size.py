"""Every training stage at full Criteo / Avazu size: parameters, memory, step and loader rates,
projected hours, on this machine, measured in one run.

For each shape it builds the full-size feature map (the vocabularies a full processed dataset
would have, see SHAPES), then for every Table V model and both searches (the OptInter supernet,
AutoFIS's gate search), each in a fresh child process so that its peak RSS is its own:
1. the memory estimate of optinter/model/memory.py (the model on the meta device): a model
   over --budget-mb is refused with that number and not built (what a training job does);
2. the model at full size with its optimisers (train.build_optimizers: LazyAdam on the tables),
   --steps timed training steps on batches of the shape (ids log-uniform over each vocabulary,
   as the data bench draws its values) after --warmup, then a validation pass over
   --eval-rows rows;
3. peak RSS (getrusage of the child), optimiser-state bytes (unique storages of every
   optimiser's state), step samples/s (median step), evaluation samples/s.
The loader is measured once per shape (its cost depends on the column count, not on the
vocabularies): a synthetic processed dataset with the shape's columns (--loader-rows rows) read
by optinter.model.loader.ParquetBatches in each mode; a full split (32 M Criteo rows, 47 GB)
exceeds in_memory_max_mb, so training streams it: "loader/step" is the streaming rate over the
step rate (>= 3 keeps the step fed on this CPU, where the loader's thread shares the cores).

Projections (hours on this machine, marked "proj."): an epoch = train rows / min(step, loader)
+ evals_per_epoch x valid rows / evaluation rate; a run = --epochs epochs (early stopping with
patience 1 stops after the best epoch + 1; Table IV's maximum is 10); optinter.json = the
supernet search + --select-fits re-trains of the validated recipe (search.select) + the final
re-train; Table V = 10 seeds x (every model + the searches of each seed).

    .venv/bin/python bench/full_size.py                       # criteo and avazu, ~15 min
    .venv/bin/python bench/full_size.py --shapes criteo --models lr,optinter --steps 5
    .venv/bin/python bench/full_size.py --device cuda --budget-mb 130000   # one GPU
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from preprocess import CARDINALITY as CRITEO_RAW, EMPTY_SHARE as CRITEO_EMPTY  # noqa: E402

# Avazu's raw per-field cardinalities over its 40,428,967 rows (Kaggle avazu-ctr-prediction
# train.gz; the 21 fields after id/click/hour as tabulated in public Avazu loaders, e.g. the
# TorchRec-style datapipe constant NUM_EMBEDDINGS_PER_FEATURE = "7,7,4737,7745,26,8552,559,
# 36,2686408,6729486,8251,5,4,2626,8,9,435,4,68,172,60"; banner_pos has 7 values there, 8 in
# other tabulations), preceded by the three fields optinter derives from `hour`
# (optinter/data/sql/ingest_avazu.sql): hour of day 24, weekday 7, is_weekend 2.
AVAZU_RAW = [24, 7, 2, 7, 7, 4737, 7745, 26, 8552, 559, 36, 2686408, 6729486, 8251, 5, 4, 2626,
             8, 9, 435, 4, 68, 172, 60]
# shape -> raw data, thresholds, split (config.yaml datasets.<name>), preset, Table VI counts
SHAPES = {
    "criteo": dict(rows=45_840_617, raw=CRITEO_RAW, empty=CRITEO_EMPTY, n_cont=13,
                   min_count=20, cross_min_count=20, split=(0.7, 0.1, 0.2), preset="criteo",
                   counts={"memorize": 117, "factorize": 98, "naive": 110},
                   paper_params={"lr": 0.5e6, "fnn": 13e6, "fm": 10e6, "ipnn": 13e6,
                                 "deepfm": 13e6, "pin": 17e6, "optinter_f": 21e6,
                                 "poly2": 22e6, "optinter_m": 225e6, "autofis": 22e6,
                                 "optinter": 100e6}),
    "avazu": dict(rows=40_428_967, raw=AVAZU_RAW, empty=[0.0] * 24, n_cont=0,
                  min_count=5, cross_min_count=5, split=(0.7, 0.1, 0.2), preset="avazu",
                  counts={"memorize": 107, "factorize": 73, "naive": 96},
                  paper_params={"lr": 1.2e6, "fnn": 51e6, "fm": 49e6, "ipnn": 51e6,
                                "deepfm": 51e6, "pin": 52e6, "optinter_f": 56e6,
                                "poly2": 241e6, "optinter_m": 1012e6, "autofis": 51e6,
                                "optinter": 827e6}),
}
# Avazu with the released code's cross threshold 1: its hard-coded 240 M cross rows (the
# paper's ~1 B parameters of OptInter-M), each pair's vocabulary scaled up to that total
SHAPES["avazu_released"] = dict(SHAPES["avazu"], cross_rows_total=240_000_000,
                                models=["poly2", "optinter_m", "optinter", "supernet"])
MODELS = ["lr", "fm", "poly2", "fnn", "ipnn", "deepfm", "pin", "autofis", "optinter_m",
          "optinter_f", "optinter"]
SEARCHES = ["supernet", "autofis_search"]


def _p_value(card: int) -> np.ndarray:
    """P(k), k = 0..card-2, of bench/preprocess.py's draw floor(card^u) - 1 (u uniform)."""
    k = np.arange(max(card - 1, 1), dtype=np.float64)
    return np.log((k + 2) / (k + 1)) / np.log(max(card, 2))


def vocabularies(shape: dict) -> tuple[list[int], list[int]]:
    """Expected field and cross vocabularies of the full dataset's train split: values (pairs of
    values) whose expected count there reaches the threshold, + OOV (+ one for empty), with the
    values drawn as the data bench draws them (log-uniform, fields independent)."""
    n = shape["rows"] * shape["split"][0]
    p = [_p_value(c) * (1 - e) for c, e in zip(shape["raw"], shape["empty"])]
    fields = [int((n * q >= shape["min_count"]).sum()) + 1 + (e > 0)
              for q, e in zip(p, shape["empty"])]
    kept = [q[n * q >= shape["cross_min_count"]] for q in p]
    cross = []
    for i, j in itertools.combinations(range(len(p)), 2):
        b = np.sort(kept[j])
        need = shape["cross_min_count"] / (n * kept[i])
        cross.append(int((len(b) - np.searchsorted(b, need)).sum()) + 1)
    if shape.get("cross_rows_total"):
        scale = shape["cross_rows_total"] / sum(cross)
        cross = [max(1, int(c * scale)) for c in cross]
    return fields, cross


def feature_map_dict(name: str, shape: dict) -> dict:
    fields, cross = vocabularies(shape)
    cats = [f"C{i + 1}" for i in range(len(fields))]
    rows = {s: int(shape["rows"] * f) for s, f in zip(("train", "valid", "test"), shape["split"])}
    return {"dataset": name,
            "fields": [{"name": f"I{i + 1}", "type": "continuous"}
                       for i in range(shape["n_cont"])]
            + [{"name": c, "type": "categorical", "vocab_size": v, "crossed": True}
               for c, v in zip(cats, fields)],
            "pairs": [{"name": f"{a}_x_{b}", "fields": [a, b], "vocab_size": v}
                      for (a, b), v in zip(itertools.combinations(cats, 2), cross)],
            "rows": rows}


def hparams(shape: dict) -> dict:
    """The shape's Table IV preset and model rows from config.yaml (the dataset of that name)."""
    import yaml
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    hp = dict(cfg["hparams"][shape["preset"]])
    per_model = cfg["datasets"].get(shape["preset"], {}).get("models_hparams", {})
    return {"hp": hp, "models": per_model, "train": cfg["train"], "search": cfg["search"]}


def architecture(name: str, n_pairs: int, counts: dict, rng):
    from optinter.model.optinter import METHODS
    if name == "optinter":
        scale = n_pairs / sum(counts.values())
        arch = [m for m in METHODS for _ in range(round(counts[m] * scale))]
        return list(rng.permutation((arch + ["naive"] * n_pairs)[:n_pairs]))
    if name == "autofis":
        return list(rng.permutation(["factorize", "naive"] * (n_pairs // 2)
                                    + ["factorize"] * (n_pairs % 2)))
    return None


def build(name: str, fmap, hp: dict, search_cfg: dict, counts: dict, meta: bool):
    """Model `name` of the table (searches: supernet, autofis_search)."""
    import torch

    from optinter.model import memory
    from optinter.model.optinter import Supernet
    from optinter.model.registry import get_model
    if meta:
        if name == "supernet":
            return memory.meta_model("optinter", fmap, hp, search_cfg=search_cfg, search=True)
        if name == "autofis_search":
            return memory.meta_model("autofis", fmap, hp, search=True)
        arch = architecture(name, fmap.n_pairs, counts, np.random.default_rng(0))
        return memory.meta_model(name, fmap, hp, arch)
    torch.manual_seed(0)
    if name == "supernet":
        return Supernet(fmap, hp, {**search_cfg, "tau_decay_steps": 20000})
    if name == "autofis_search":
        return get_model("autofis").search_model(fmap, hp)
    arch = architecture(name, fmap.n_pairs, counts, np.random.default_rng(0))
    return get_model(name)(fmap, hp, **({} if arch is None else {"architecture": arch}))


def state_bytes(opts: dict) -> int:
    """Bytes of every optimiser's state and scratch, each storage once."""
    import torch
    seen, total = set(), 0

    def add(t):
        nonlocal total
        if isinstance(t, torch.Tensor):
            st = t.untyped_storage()
            if st.data_ptr() not in seen:
                seen.add(st.data_ptr())
                total += st.nbytes()
    for o in opts.values():
        for s in o.state.values():
            for v in s.values():
                add(v)
        for attr in ("_native_maps", "_slot_maps"):
            for v in getattr(o, attr, {}).values():
                for t in (v if isinstance(v, tuple) else (v,)):
                    add(t)
    return total


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: reset by exec, unlike getrusage's ru_maxrss,
    which keeps the forking parent's size)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(job: dict) -> dict:
    """One model in this (fresh) process; returns its figures."""
    import torch

    from optinter.model import memory
    from optinter.model.featuremap import FeatureMap
    from optinter.model.train import build_optimizers, evaluate, pick_device, train_step
    from train_step import fake_batch
    if job["threads"]:
        torch.set_num_threads(job["threads"])
    fmap = FeatureMap.from_dict(job["fmap"])
    hp, name = job["hp"], job["name"]
    device = pick_device(job["device"])
    est = memory.estimate(build(name, fmap, hp, job["search"], job["counts"], meta=True), fmap,
                          hp, job["train"], device.type)
    out = {"params": est.params, "sparse_params": est.sparse_params, "estimate_mb": est.total_mb,
           "estimate_data_mb": est.data / 2 ** 20, "estimate": est.table()}
    if est.total_mb > job["budget_mb"]:
        out["refused"] = f"estimate {est.total_mb:,} MB > budget {job['budget_mb']:,} MB"
        return out
    t = time.perf_counter()
    model = build(name, fmap, hp, job["search"], job["counts"], meta=False).to(device)
    model.set_sparse(True)
    opts = build_optimizers(model, hp)
    out["build_s"] = time.perf_counter() - t
    gen = torch.Generator().manual_seed(0)
    bs = int(hp["batch_size"])
    batches = [fake_batch(fmap, bs, device, gen, skewed=True) for _ in range(3)]
    amp = job.get("amp")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()
    for b in batches[:job["warmup"]] if job["warmup"] <= 3 else batches * job["warmup"]:
        train_step(model, opts, b, amp=amp)
    times = []
    for i in range(job["steps"]):
        sync()
        t = time.perf_counter()
        train_step(model, opts, batches[i % len(batches)], amp=amp)
        sync()
        times.append(time.perf_counter() - t)
    out["step_sps"] = bs / float(np.median(times))
    out["opt_state_bytes"] = state_bytes(opts)

    class Slice:  # a bounded validation split: the evaluation path of training (train.evaluate)
        batch_size = int(job["train"].get("eval_batch_size", max(bs, 8192)))

        def iterate(self, epoch=0, start=0):
            g = torch.Generator().manual_seed(1)
            for _ in range(-(-job["eval_rows"] // self.batch_size)):
                yield fake_batch(fmap, self.batch_size, device, g, skewed=True)
    sl = Slice()
    evaluate(model, sl)  # warm-up
    sync()
    t = time.perf_counter()
    evaluate(model, sl)
    sync()
    rows = -(-job["eval_rows"] // sl.batch_size) * sl.batch_size
    out["eval_sps"] = rows / (time.perf_counter() - t)
    out["peak_rss_mb"] = peak_rss_mb()
    if device.type == "cuda":
        out["peak_device_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return out


def run_child(job: dict, budget_mb: int) -> dict:
    """The job in a fresh interpreter; its address space capped (a MemoryError, never the
    out-of-memory killer, if the estimate were wrong)."""
    def cap():
        if job["device"] != "cuda":  # CUDA reserves address space far beyond what it uses
            lim = int((budget_mb + 4096) * 2 ** 20)
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    r = subprocess.run([sys.executable, __file__, "--child"], input=json.dumps(job),
                       capture_output=True, text=True, preexec_fn=cap,
                       env={**os.environ, "PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}"})
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["?"])[-1]
        return {"failed": f"exit {r.returncode}: {tail[:160]}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def loader_rates(fmap_dict: dict, rows: int, batch: int, device: str) -> dict:
    """Samples/s of ParquetBatches per mode on a synthetic processed dataset with the shape's
    columns (ids bounded by a vocabulary of 50: the loader's work does not depend on it)."""
    import torch

    from optinter.model.featuremap import FeatureMap
    from optinter.model.loader import ParquetBatches
    from optinter.model.train import pick_device
    sys.path.insert(0, str(ROOT / "tests"))
    from synth import make_processed
    n_cont = sum(f["type"] == "continuous" for f in fmap_dict["fields"])
    n_cat = len(fmap_dict["fields"]) - n_cont
    dev = pick_device(device)
    out = {}
    with tempfile.TemporaryDirectory(dir=ROOT / "tmp" if (ROOT / "tmp").is_dir() else None) as tmp:
        # the writer needs one continuous column (Avazu has none: one float column more)
        make_processed(Path(tmp), rows=rows, n_cont=max(n_cont, 1), n_cat=n_cat, vocab=50,
                       seed=0)
        fmap = FeatureMap.load(tmp)
        modes = {"in-memory": {}, "streaming": {"in_memory_max_mb": 0, "buffer_rows": 100_000},
                 "resident": {"resident": True}}
        for mode, kw in modes.items():
            ld = ParquetBatches(fmap, "train", batch, shuffle=True, seed=0, device=dev,
                                **kw).preload()
            for epoch in (0, 1):  # the first is a warm-up
                t, n = time.perf_counter(), 0
                for b in ld.iterate(epoch):
                    n += int(b[3].shape[0])
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                out[mode] = n / (time.perf_counter() - t)
            del ld
    return out


def project(r: dict, name: str, loader: float, shape: dict, a) -> None:
    """Hours of one epoch and of one run (--epochs) on this machine, into r."""
    if "step_sps" not in r:
        return
    train = shape["rows"] * shape["split"][0]
    valid = shape["rows"] * shape["split"][1]
    feed = min(r["step_sps"], loader)
    r["epoch_h"] = (train / feed + a.evals_per_epoch * valid / r["eval_sps"]) / 3600
    r["run_h"] = a.epochs * r["epoch_h"]


def main() -> None:
    if "--child" in sys.argv:
        print(json.dumps(child(json.loads(sys.stdin.read()))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="criteo,avazu,avazu_released")
    ap.add_argument("--models", default=",".join(MODELS + SEARCHES))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=8, help="timed training steps per model")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--eval-rows", type=int, default=16384, help="rows of the validation pass")
    ap.add_argument("--loader-rows", type=int, default=300_000,
                    help="rows of the synthetic dataset the loader is timed on (0: skip)")
    ap.add_argument("--budget-mb", type=int, default=14_000,
                    help="memory a job may use: larger estimates are refused (24 GiB machine "
                         "shared with other work here: 14000)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--amp", choices=["off", "bf16"], default="off")
    ap.add_argument("--epochs", type=float, default=2.0,
                    help="epochs per run in the projections (patience 1: best epoch + 1)")
    ap.add_argument("--select-fits", type=int, default=12,
                    help="re-trains of the validated recipe per search (projection)")
    ap.add_argument("--evals-per-epoch", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--json", type=Path, help="also write every figure here")
    ap.add_argument("--estimate-only", action="store_true",
                    help="only the memory estimates (meta-device models; seconds, no training)")
    a = ap.parse_args()
    if a.estimate_only:
        estimates(a)
        return
    from optinter.model.train import pick_device
    device = pick_device(a.device).type
    names = [m for m in a.models.split(",") if m]
    everything, loaders = {}, {}
    for shape_name in [s for s in a.shapes.split(",") if s]:
        shape = SHAPES[shape_name]
        t0 = time.perf_counter()
        fm = feature_map_dict(shape_name, shape)
        cfg = hparams(shape)
        base_hp = cfg["hp"]
        layout = (len(fm["fields"]), len(fm["pairs"]), int(base_hp["batch_size"]))
        if layout not in loaders:
            loaders[layout] = loader_rates(fm, a.loader_rows, layout[2], device) \
                if a.loader_rows else {}
        loader = loaders[layout]
        feed_mode = "resident" if device == "cuda" else "streaming"
        feed = loader.get(feed_mode, float("inf"))
        rows = {}
        for name in [n for n in names if n in shape.get("models", names)]:
            model_key = "optinter" if name == "supernet" else name.replace("_search", "")
            hp = {**base_hp, **cfg["models"].get(model_key, {})}
            job = {"name": name, "fmap": fm, "hp": hp, "train": cfg["train"],
                   "search": cfg["search"], "counts": shape["counts"], "device": device,
                   "steps": a.steps, "warmup": a.warmup, "eval_rows": a.eval_rows,
                   "budget_mb": a.budget_mb, "threads": a.threads,
                   "amp": None if a.amp == "off" else a.amp}
            t = time.perf_counter()
            r = run_child(job, a.budget_mb)
            r["wall_s"] = time.perf_counter() - t
            project(r, name, feed, shape, a)
            rows[name] = r
            print(f"  {shape_name} {name}: {json.dumps(r)}", file=sys.stderr, flush=True)
        everything[shape_name] = {"loader": loader, "rows": rows, "fmap_rows": fm["rows"]}
        report(shape_name, shape, fm, rows, loader, feed_mode, device, a,
               time.perf_counter() - t0)
    if a.json:
        a.json.write_text(json.dumps(everything, indent=1))


def estimates(a) -> None:
    """Parameters and memory estimate of every model of each shape, against --budget-mb."""
    from optinter.model import memory
    from optinter.model.featuremap import FeatureMap
    for shape_name in [s for s in a.shapes.split(",") if s]:
        shape = SHAPES[shape_name]
        fm = feature_map_dict(shape_name, shape)
        fmap = FeatureMap.from_dict(fm)
        cfg = hparams(shape)
        print(f"\n## {shape_name}: estimates (budget {a.budget_mb:,} MB)\n")
        print("| model | params | Table V | est. MB | of which data MB | fits budget |")
        print("|---|---:|---:|---:|---:|---|")
        for name in [m for m in a.models.split(",") if m]:
            key = "optinter" if name == "supernet" else name.replace("_search", "")
            hp = {**cfg["hp"], **cfg["models"].get(key, {})}
            est = memory.estimate(build(name, fmap, hp, cfg["search"], shape["counts"], True),
                                  fmap, hp, cfg["train"])
            pp = shape["paper_params"].get(name)
            print(f"| {name} | {est.params / 1e6:,.1f}M | "
                  f"{f'{pp / 1e6:,.1f}M' if pp else '-'} | {est.total_mb:,} | "
                  f"{est.data / 2 ** 20:,.0f} | "
                  f"{'yes' if est.total_mb <= a.budget_mb else '**no: refused**'} |")


def report(shape_name, shape, fm, rows, loader, feed_mode, device, a, secs) -> None:
    import torch
    n_f = len(fm["fields"])
    cat_rows = sum(f.get("vocab_size", 0) for f in fm["fields"])
    cross_rows = sum(p["vocab_size"] for p in fm["pairs"])
    print(f"\n## {shape_name}: {fm['rows']['train']:,} train rows, {n_f} fields "
          f"({cat_rows:,} field rows), {len(fm['pairs'])} pairs ({cross_rows:,} cross rows); "
          f"device {device}, {torch.get_num_threads() if not a.threads else a.threads} "
          f"threads, budget {a.budget_mb:,} MB, {a.steps} steps/model, amp {a.amp}, "
          f"{secs:.0f} s")
    if loader:
        print("loader samples/s: " + ", ".join(f"{k} {v:,.0f}" for k, v in loader.items())
              + f" (a full train split streams on the CPU; rate used: {feed_mode})")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the end (other "
          f"work on the machine slows every row alike; ratios are the steadier figures)")
    print("| model | params | Table V | est. MB (data) | peak RSS MB | opt. state MB | step samples/s "
          "| loader/step | eval samples/s | h/epoch (proj.) | h/run (proj.) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    paper = shape["paper_params"]
    for name, r in rows.items():
        pp = f"{paper[name] / 1e6:,.1f}M" if name in paper else "-"
        params = f"{r['params'] / 1e6:,.1f}M" if "params" in r else "?"
        if "step_sps" not in r:
            why = r.get("refused") or r.get("failed") or "?"
            print(f"| {name} | {params} | {pp} | {r.get('estimate_mb', '?'):,} | "
                  f"**{why}** | | | | | | |")
            continue
        ratio = loader.get(feed_mode, float("nan")) / r["step_sps"]
        print(f"| {name} | {params} | {pp} | {r['estimate_mb']:,} ({r['estimate_data_mb']:,.0f}) | "
              f"{r['peak_rss_mb']:,.0f} | "
              f"{r['opt_state_bytes'] / 2**20:,.0f} | {r['step_sps']:,.0f} | {ratio:.1f} | "
              f"{r['eval_sps']:,.0f} | {r['epoch_h']:.2f} | {r['run_h']:.1f} |")
    h = {k: r.get("run_h") for k, r in rows.items()}
    if h.get("supernet") and h.get("optinter"):
        one = h["supernet"] + (a.select_fits + 1) * h["optinter"]
        print(f"optinter.json (proj.): supernet search {h['supernet']:.1f} h + "
              f"{a.select_fits} selection re-trains + 1 re-train x {h['optinter']:.1f} h = "
              f"{one:.0f} h")
        base = [m for m in MODELS if m != "optinter"]
        if all(h.get(m) for m in base) and h.get("autofis_search"):
            per_seed = one + h["optinter"] + sum(h[m] for m in base) + h["autofis_search"]
            print(f"Table V (proj.): {a.seeds} seeds x {per_seed:.0f} h (optinter.json + "
                  f"optinter_paper + {len(base)} baselines + AutoFIS search) = "
                  f"{a.seeds * per_seed:,.0f} h on one such machine")
    print(f"(projections: {a.epochs:g} epochs per run, {a.evals_per_epoch} evaluations per "
          f"epoch; step and evaluation rates measured, loader rate on "
          f"{a.loader_rows:,} synthetic rows with the shape's columns; est. MB: the job's "
          f"estimate, (data): its loader's share, which this benchmark does not hold, so the "
          f"peak RSS compares with est. - data)")


if __name__ == "__main__":
    main()
