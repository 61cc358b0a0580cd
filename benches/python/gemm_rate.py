#!/usr/bin/env python3
"""The machine's measured fp32 GEMM rate, in GFLOP/s (2 n^3 per n x n x n product).

  numpy:  C = A @ B for n = 1024 and 2048, float32, with 1 and 2 BLAS threads. The thread count
          is set by OPENBLAS_NUM_THREADS (and OMP_/MKL_NUM_THREADS) in the environment of a
          fresh subprocess per thread count, before numpy is imported, because OpenBLAS reads it
          only when it loads.
  ORT:    one MatMul node (both operands graph inputs), built with onnx.helper, run by ONNX
          Runtime's CPU provider (MLAS SGEMM) with intra_op_num_threads 1 and 2, no spinning.

Each rate is 2 n^3 / median time over --runs timed runs after --warmup untimed ones.

  python benches/python/gemm_rate.py [--runs 15] [--json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SIZES = (1024, 2048)


def child(args):
    """Runs in a subprocess whose environment fixes the thread count."""
    import numpy as np
    rng = np.random.default_rng(0)
    out = {}
    info = {}
    try:
        cfg = np.show_config(mode="dicts")
        info["blas"] = cfg.get("Build Dependencies", {}).get("blas", {}).get("name")
    except Exception:
        pass
    for n in SIZES:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), np.float32)
        if args.backend == "numpy":
            run = lambda: np.matmul(a, b, out=c)
        else:
            import onnx
            import onnxruntime as ort
            from onnx import TensorProto, helper
            g = helper.make_graph(
                [helper.make_node("MatMul", ["A", "B"], ["C"])], "gemm",
                [helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n]),
                 helper.make_tensor_value_info("B", TensorProto.FLOAT, [n, n])],
                [helper.make_tensor_value_info("C", TensorProto.FLOAT, [n, n])])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
            feed = {"A": a, "B": b}
            run = lambda: s.run(None, feed)
            info["onnxruntime"] = ort.__version__
        for _ in range(args.warmup):
            run()
        ts = []
        for _ in range(args.runs):
            t = time.perf_counter()
            run()
            ts.append(time.perf_counter() - t)
        med = statistics.median(ts)
        out[str(n)] = {"median_s": med, "min_s": min(ts), "gflops": 2 * n**3 / med / 1e9,
                       "gflops_best": 2 * n**3 / min(ts) / 1e9}
    info["numpy"] = np.__version__
    print(json.dumps({"rates": out, "info": info}))


def main(argv=None):
    p = argparse.ArgumentParser(description="Measured fp32 GEMM rate (numpy/OpenBLAS and ONNX Runtime).")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", choices=["numpy", "ort"], help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        a.backend = a.child
        a.threads = a.threads[0]
        child(a)
        return
    results = []
    for backend in ("numpy", "ort"):
        for t in a.threads:
            env = dict(os.environ)
            for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env[k] = str(t)
            cmd = [sys.executable, os.path.abspath(__file__), "--child", backend,
                   "--threads", str(t), "--runs", str(a.runs), "--warmup", str(a.warmup)]
            r = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True,
                                          text=True).stdout)
            r.update(backend=backend, threads=t)
            results.append(r)
    if a.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'backend':10} {'threads':>7} {'n':>5} {'median ms':>10} {'GFLOP/s (median)':>17} {'GFLOP/s (best)':>15}")
    for r in results:
        for n, v in r["rates"].items():
            name = "numpy" if r["backend"] == "numpy" else "ORT"
            print(f"{name:10} {r['threads']:7d} {n:>5} {v['median_s'] * 1e3:10.1f} "
                  f"{v['gflops']:17.1f} {v['gflops_best']:15.1f}")
    i = results[0]["info"]
    print(f"\nnumpy {i.get('numpy')} (BLAS: {i.get('blas')}), onnxruntime "
          f"{next((r['info'].get('onnxruntime') for r in results if r['backend'] == 'ort'), '?')}")


if __name__ == "__main__":
    main()
