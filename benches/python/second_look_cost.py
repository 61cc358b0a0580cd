#!/usr/bin/env python3
"""What the second look ([detection] verify) costs a whole scan.

`facelab scan` of a folder into an empty library, once with a config as it is and once with
`[detection] verify = false` appended, alternated --runs times. Each scan is measured from
outside (wall time; user and system CPU from wait4). Prints each run, then the medians and the
on / off ratio of user CPU seconds (the figure docs/detection.md quotes) and of user + system.

    python3 benches/python/second_look_cost.py                 # 3 runs on WIDER mini
    python3 benches/python/second_look_cost.py --runs 5 --json

Run from the repository root after `cargo build --release --workspace`. Standard library
only. The config must not set [detection] itself (the "off" copy appends that table).
Exit code 0 when every scan succeeded, 1 when one failed, 2 on bad arguments.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def default_images():
    shared = os.environ.get("FACELAB_SHARED", "../shared")
    return os.path.join(shared, "datasets", "wider-face-val-mini", "images")


def scan(facelab, config, library, images):
    """One scan into a new library: (wall s, user s, system s) of the child; raises on failure."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(library + suffix):
            os.remove(library + suffix)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [facelab, "--config", config, "--library", library, "scan", images],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # wait4 gives this child's own rusage (communicate() would reap it first).
    err = proc.stderr.read()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"scan exited with {proc.returncode}: {' / '.join(tail)}")
    return wall, usage.ru_utime, usage.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="pairs of scans (default %(default)s)")
    ap.add_argument("--config", default="config/examples/yunet-mobilefacenet.toml",
                    help="the config with the second look on (default %(default)s)")
    ap.add_argument("--images", default=default_images(),
                    help="the folder to scan (default $FACELAB_SHARED/datasets/wider-face-val-mini/images, "
                         "FACELAB_SHARED defaulting to ../shared)")
    ap.add_argument("--facelab", default="target/release/facelab", help="the binary (default %(default)s)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    a = ap.parse_args()
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    for path, what in ((a.config, "config"), (a.images, "images folder"), (a.facelab, "facelab binary")):
        if not os.path.exists(path):
            ap.error(f"{what} not found: {path}")

    tmp = tempfile.mkdtemp(prefix="second-look-cost-")
    try:
        on = os.path.join(tmp, "on.toml")
        off = os.path.join(tmp, "off.toml")
        shutil.copyfile(a.config, on)
        with open(a.config) as src, open(off, "w") as dst:
            dst.write(src.read() + "\n[detection]\nverify = false\n")
        # Relative paths inside the config would resolve against the temporary folder; the
        # example configs hold none, and plugins are found beside the binary.
        facelab = os.path.abspath(a.facelab)
        runs = {"on": [], "off": []}
        for i in range(1, a.runs + 1):
            for side, config in (("on", on), ("off", off)):
                try:
                    wall, user, system = scan(facelab, config, os.path.join(tmp, side + ".sqlite"), a.images)
                except RuntimeError as e:
                    print(f"second_look_cost: run {i}, second look {side}: {e}", file=sys.stderr)
                    return 1
                runs[side].append({"wall_seconds": round(wall, 2), "user_seconds": round(user, 2),
                                   "system_seconds": round(system, 2), "cpu_seconds": round(user + system, 2)})
                if not a.json:
                    print(f"run {i}, second look {side}: {wall:.1f} s wall, {user:.1f} s user, "
                          f"{system:.1f} s system", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    keys = ("wall_seconds", "user_seconds", "system_seconds", "cpu_seconds")
    med = {side: {k: statistics.median(r[k] for r in runs[side]) for k in keys} for side in runs}
    def ratio(k):
        return med["on"][k] / med["off"][k] if med["off"][k] > 0 else float("nan")

    user_ratio, cpu_ratio = ratio("user_seconds"), ratio("cpu_seconds")
    if a.json:
        print(json.dumps({"config": a.config, "images": a.images, "runs": runs, "median": med,
                          "user_on_over_off": round(user_ratio, 3), "cpu_on_over_off": round(cpu_ratio, 3)}))
    else:
        for side in ("on", "off"):
            m = med[side]
            print(f"median, second look {side}: {m['wall_seconds']:.1f} s wall, {m['user_seconds']:.1f} s user, "
                  f"{m['system_seconds']:.1f} s system")
        print(f"on / off: user CPU {user_ratio:.2f}, user + system {cpu_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
