#!/usr/bin/env python3
"""Make a "camera-size" copy of WIDER FACE val mini: every photo upscaled, ground truth scaled.

The mini set's photos are 1024 px wide; phone and camera photos are 3-4x that. This
writes, deterministically (same input + same OpenCV build -> the same bytes):

  OUT/images/<event>/<name>.jpg    cv2.resize(x scale, INTER_LANCZOS4), cv2.imencode(".jpg",
                                   [IMWRITE_JPEG_QUALITY, quality]) -- no other options, no EXIF
  OUT/wider_face_val_bbx_gt.txt    same official format; x y w h multiplied by scale, the other six
                                   attributes and every path/count line unchanged (a zero-count
                                   entry's line is copied exactly as the source writes it)
  OUT/difficulty.txt               copied unchanged (with --limit: only the header/comment lines and
                                   the lines of the photos written)
  OUT/MANIFEST.json                {"source", "scale", "quality", "limit", "opencv_version",
                                    "images", "files": {relpath: sha256}, "sizes": {relpath: bytes}}

Photos are taken in the order of the source's wider_face_val_bbx_gt.txt (--limit N keeps the
first N entries). Sources are read with IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION so the pixel
grid stays the one the boxes were drawn on.

Idempotent: if OUT/MANIFEST.json has the same source/scale/quality/limit and every file it
lists is present with the listed size, prints "up to date" and does nothing. Otherwise builds
everything in OUT.tmp-<pid>, writes MANIFEST.json last, removes a stale OUT (only one this
script made: it must hold a MANIFEST.json, or be empty) and renames OUT.tmp-<pid> to OUT.
The last stdout line is always the absolute output folder (the Rust bench reads it);
progress goes to stderr. Refuses to write inside the git repository this script lives in.

  PY=$(bash benches/python/setup_venv.sh 2>/dev/null | tail -n1)
  "$PY" benches/python/make_camera_set.py                 # full set into the cache
  "$PY" benches/python/make_camera_set.py --limit 10 --out /tmp/camera10

Exit code: 0 ok / up to date, 1 a photo could not be read or written, 2 bad arguments or paths.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import sys

import cv2

GT = "wider_face_val_bbx_gt.txt"
DIFF = "difficulty.txt"
MANIFEST = "MANIFEST.json"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOX = re.compile(r"^(\s*)(\d+)(\s+)(\d+)(\s+)(\d+)(\s+)(\d+)(.*)$", re.S)


class Fail(Exception):
    def __init__(self, msg, code=2):
        super().__init__(msg)
        self.code = code


def default_src():
    shared = os.environ.get("FACELAB_SHARED")
    base = os.path.join(shared, "datasets") if shared else os.path.join("..", "shared", "datasets")
    return os.path.join(base, "wider-face-val-mini")


def default_out(limit):
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = "wider-face-val-mini-camera" + (f"-limit{limit}" if limit is not None else "")
    return os.path.join(cache, "facelab", "datasets", name)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Upscale WIDER FACE val mini to camera-size photos "
                                            "(deterministic; ground truth scaled to match).")
    p.add_argument("--src", metavar="DIR", help="source set [default: $FACELAB_SHARED/datasets/"
                   "wider-face-val-mini, else ../shared/datasets/wider-face-val-mini from the cwd]")
    p.add_argument("--out", metavar="DIR", help="output folder [default: ${XDG_CACHE_HOME:-~/.cache}/"
                   "facelab/datasets/wider-face-val-mini-camera; with --limit N: ...-camera-limitN]")
    p.add_argument("--scale", type=int, default=3, help="integer upscale factor (default 3)")
    p.add_argument("--quality", type=int, default=92, help="JPEG quality (default 92)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N photos (quick tests)")
    a = p.parse_args(argv)
    if a.scale < 1:
        p.error("--scale must be >= 1")
    if not 0 <= a.quality <= 100:
        p.error("--quality must be 0..100")
    if a.limit is not None and a.limit < 1:
        p.error("--limit must be >= 1")
    a.src = os.path.abspath(a.src or default_src())
    a.out = os.path.abspath(a.out or default_out(a.limit))
    return a


def inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def read_gt(path):
    """[(image relpath, [lines after the path line])] in file order; lines keep their endings."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.readlines()
    entries, i = [], 0
    while i < len(lines):
        name = lines[i].strip()
        if not name:
            i += 1
            continue
        try:
            count = int(lines[i + 1].strip())
        except (IndexError, ValueError):
            raise Fail(f"{path}:{i + 2}: expected a face count after {name!r}")
        n = max(count, 1)  # a count of 0 is followed by one line of zeros
        body = lines[i + 1:i + 2 + n]
        if len(body) != n + 1:
            raise Fail(f"{path}: entry {name!r} is cut short")
        entries.append((name, lines[i], body, count))
        i += 2 + n
    return entries


def scale_box_line(line, scale, where):
    m = BOX.match(line)
    if not m:
        raise Fail(f"{where}: not a box line: {line.rstrip()!r}")
    g = list(m.groups())
    for k in (1, 3, 5, 7):
        g[k] = str(int(g[k]) * scale)
    return "".join(g)


def up_to_date(a):
    try:
        with open(os.path.join(a.out, MANIFEST), encoding="utf-8") as f:
            m = json.load(f)
        if (m.get("source"), m.get("scale"), m.get("quality"), m.get("limit")) != \
                (a.src, a.scale, a.quality, a.limit):
            return False
        sizes = m["sizes"]
        return set(sizes) == set(m["files"]) and all(
            os.path.getsize(os.path.join(a.out, rel)) == size for rel, size in sizes.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def build(a, tmp):
    entries = read_gt(os.path.join(a.src, GT))
    if a.limit is not None:
        entries = entries[:a.limit]
    files, sizes = {}, {}

    def put(rel, data):
        dst = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            f.write(data)
        files[rel] = hashlib.sha256(data).hexdigest()
        sizes[rel] = len(data)

    gt_out = []
    for n, (name, path_line, body, count) in enumerate(entries, 1):
        src = os.path.join(a.src, "images", name)
        img = cv2.imread(src, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if img is None:
            raise Fail(f"cannot read {src}", 1)
        h, w = img.shape[:2]
        big = cv2.resize(img, (w * a.scale, h * a.scale), interpolation=cv2.INTER_LANCZOS4)
        ok, jpg = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, a.quality])
        if not ok:
            raise Fail(f"cannot encode {src}", 1)
        put(os.path.join("images", name), jpg.tobytes())
        gt_out.append(path_line)
        gt_out.append(body[0])
        where = f"{GT} entry {name}"
        gt_out += body[1:] if count == 0 else [scale_box_line(ln, a.scale, where) for ln in body[1:]]
        if n % 50 == 0 or n == len(entries):
            print(f"make_camera_set: {n}/{len(entries)} images", file=sys.stderr)
    put(GT, "".join(gt_out).encode("utf-8"))

    with open(os.path.join(a.src, DIFF), "rb") as f:
        diff = f.read()
    if a.limit is not None:
        keep = {e[0] for e in entries}
        diff = b"".join(ln for ln in diff.splitlines(keepends=True)
                        if not ln.strip() or ln.lstrip().startswith(b"#")
                        or ln.split()[0].decode("utf-8") in keep)
    put(DIFF, diff)

    manifest = {"source": a.src, "scale": a.scale, "quality": a.quality, "limit": a.limit,
                "opencv_version": cv2.__version__, "images": len(entries),
                "files": dict(sorted(files.items())), "sizes": dict(sorted(sizes.items()))}
    with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return len(entries)


def main(argv=None):
    a = parse_args(argv)
    try:
        for need in (os.path.join(a.src, GT), os.path.join(a.src, DIFF), os.path.join(a.src, "images")):
            if not os.path.exists(need):
                raise Fail(f"source not found: {need} (give --src DIR or set FACELAB_SHARED)")
        if inside(a.out, REPO):
            raise Fail(f"refusing to write into the repository: {a.out} is inside {REPO} (give --out)")
        if inside(a.out, a.src) or inside(a.src, a.out):
            raise Fail(f"--out {a.out} and --src {a.src} must not contain each other")
        if up_to_date(a):
            print(f"make_camera_set: up to date ({os.path.join(a.out, MANIFEST)})", file=sys.stderr)
            print("up to date")
            print(a.out)
            return 0
        if os.path.lexists(a.out) and not (os.path.isdir(a.out) and not os.path.islink(a.out) and (
                os.path.isfile(os.path.join(a.out, MANIFEST)) or not os.listdir(a.out))):
            raise Fail(f"{a.out} exists and is not a folder made by this script (no {MANIFEST}); "
                       "move it away or give another --out")

        tmp = f"{a.out}.tmp-{os.getpid()}"
        os.makedirs(tmp)
        try:
            n = build(a, tmp)
            if os.path.lexists(a.out):
                print(f"make_camera_set: replacing stale {a.out}", file=sys.stderr)
                shutil.rmtree(a.out)
            os.rename(tmp, a.out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except Fail as e:
        print(f"make_camera_set: {e}", file=sys.stderr)
        return e.code
    except OSError as e:
        print(f"make_camera_set: {e}", file=sys.stderr)
        return 1
    print(f"make_camera_set: wrote {n} images (x{a.scale}, JPEG quality {a.quality}, "
          f"OpenCV {cv2.__version__}) to {a.out}", file=sys.stderr)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
