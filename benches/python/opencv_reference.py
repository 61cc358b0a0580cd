#!/usr/bin/env python3
"""Reference timings of face detectors through OpenCV's own Python API.

The numbers are meant to sit beside facelab's Rust detectors: same photos, same
thread count, same resize policy. Only the detector call is timed; decoding (and
the optional resize to a 640 long side) happens before the clock starts.

  yunet: cv2.FaceDetectorYN (OpenCV >= 4.8 for YuNet 2023mar); timed = detector.detect(img),
         i.e. OpenCV's own padding, blob, forward and decode/NMS, at the size of the image fed.
  ssd:   cv2.dnn.readNetFromTensorflow; timed = blobFromImage(300x300, mean 104/177/123)
         + setInput + forward + the usual keep-above-threshold / scale-boxes loop.

Per image: 1 untimed warm-up call, then --repeat timed calls; the image's time is
the median of those. Overall: median and p90 (linear interpolation) of the
per-image medians.

Run with the venv from setup_venv.sh, e.g.
  PY=$(bash benches/python/setup_venv.sh | tail -n1)
  "$PY" benches/python/opencv_reference.py --model yunet --yunet face_detection_yunet_2023mar.onnx a.jpg b.jpg
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import cv2
import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Time face detectors through OpenCV's Python API (reference for the Rust side).")
    p.add_argument("--model", choices=["yunet", "ssd"], required=True)
    p.add_argument("--yunet", metavar="PATH", help="YuNet .onnx (e.g. face_detection_yunet_2023mar.onnx)")
    p.add_argument("--ssd-pb", metavar="PATH", help="SSD TensorFlow graph (opencv_face_detector_uint8.pb)")
    p.add_argument("--ssd-pbtxt", metavar="PATH", help="SSD graph text (opencv_face_detector.pbtxt)")
    p.add_argument("--threads", type=int, default=2, help="cv2.setNumThreads (default 2)")
    p.add_argument("--size", choices=["natural", "640"], default="natural",
                   help="natural: image as decoded; 640: resize so the long side is 640, keeping the "
                        "aspect ratio (done before timing)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per image after 1 warm-up (default 5)")
    p.add_argument("--score", type=float, default=0.9, help="score threshold (default 0.9)")
    p.add_argument("--json", action="store_true", help="print one JSON object (includes per-image results)")
    p.add_argument("-v", "--verbose", action="store_true", help="human mode: also print one line per image")
    p.add_argument("--list", metavar="FILE", help="file with one image path per line")
    p.add_argument("images", nargs="*", help="image paths")
    a = p.parse_args(argv)

    if a.model == "yunet" and not a.yunet:
        p.error("--model yunet needs --yunet PATH")
    if a.model == "ssd" and not (a.ssd_pb and a.ssd_pbtxt):
        p.error("--model ssd needs --ssd-pb PATH and --ssd-pbtxt PATH")
    if a.repeat < 1:
        p.error("--repeat must be >= 1")
    if a.threads < 0:
        p.error("--threads must be >= 0")

    paths = list(a.images)
    if a.list:
        with open(a.list, encoding="utf-8") as f:
            paths += [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    if not paths:
        p.error("no images (give paths or --list FILE)")
    a.paths = paths
    return a


def load_image(path, size_mode):
    """Decode (and optionally resize) outside the timed region. Returns BGR uint8 or None."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        return None
    if size_mode == "640":
        h, w = img.shape[:2]
        s = 640.0 / max(h, w)
        if s != 1.0:
            nw, nh = max(1, round(w * s)), max(1, round(h * s))
            interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_LINEAR
            img = cv2.resize(img, (nw, nh), interpolation=interp)
    return np.ascontiguousarray(img)


class YuNet:
    name = "yunet"

    def __init__(self, model, score):
        self.model = model
        # Initial size is replaced per image by setInputSize.
        self.det = cv2.FaceDetectorYN.create(model, "", (320, 320), score, 0.3, 5000)

    def prepare(self, img):
        h, w = img.shape[:2]
        self.det.setInputSize((w, h))

    def run(self, img):
        _, faces = self.det.detect(img)
        return 0 if faces is None else len(faces)


class SSD:
    name = "ssd"

    def __init__(self, pb, pbtxt, score):
        self.model = pb
        self.net = cv2.dnn.readNetFromTensorflow(pb, pbtxt)
        self.score = score

    def prepare(self, img):
        pass

    def run(self, img):
        h, w = img.shape[:2]
        blob = cv2.dnn.blobFromImage(img, 1.0, (300, 300), (104.0, 177.0, 123.0), False, False)
        self.net.setInput(blob)
        detections = self.net.forward()
        boxes = []
        for i in range(detections.shape[2]):
            confidence = detections[0, 0, i, 2]
            if confidence > self.score:
                x1 = int(detections[0, 0, i, 3] * w)
                y1 = int(detections[0, 0, i, 4] * h)
                x2 = int(detections[0, 0, i, 5] * w)
                y2 = int(detections[0, 0, i, 6] * h)
                boxes.append((x1, y1, x2, y2, float(confidence)))
        return len(boxes)


def percentile(values, q):
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))  # linear interpolation


def main(argv=None):
    a = parse_args(argv)
    cv2.setNumThreads(a.threads)

    if a.model == "yunet":
        det = YuNet(a.yunet, a.score)
    else:
        det = SSD(a.ssd_pb, a.ssd_pbtxt, a.score)

    started = datetime.datetime.now(datetime.timezone.utc)
    t_wall = time.perf_counter()
    per_image, failed = [], []
    for path in a.paths:
        img = load_image(path, a.size)
        if img is None:
            print(f"opencv_reference: cannot decode {path}", file=sys.stderr)
            failed.append(path)
            continue
        det.prepare(img)
        det.run(img)  # untimed warm-up (also absorbs re-allocation after an input-size change)
        times, faces = [], 0
        for _ in range(a.repeat):
            t0 = time.perf_counter_ns()
            faces = det.run(img)
            times.append((time.perf_counter_ns() - t0) / 1e6)
        h, w = img.shape[:2]
        per_image.append({
            "path": path, "width": w, "height": h, "faces": faces,
            "median_ms": statistics.median(times), "runs_ms": [round(t, 3) for t in times],
        })
        if a.verbose and not a.json:
            print(f"{statistics.median(times):9.2f} ms  {faces:3d} faces  {w}x{h}  {path}")
    wall_s = time.perf_counter() - t_wall

    meds = [r["median_ms"] for r in per_image]
    summary = {
        "model": a.model,
        "model_path": det.model,
        "size": a.size,
        "threads": a.threads,
        "cv2_get_num_threads": cv2.getNumThreads(),
        "repeat": a.repeat,
        "score_threshold": a.score,
        "images": len(per_image),
        "failed": len(failed),
        "faces_total": sum(r["faces"] for r in per_image),
        "median_ms": statistics.median(meds) if meds else None,
        "p90_ms": percentile(meds, 90) if meds else None,
        "mean_ms": statistics.fmean(meds) if meds else None,
        "opencv_version": cv2.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 2),
    }

    if a.json:
        out = dict(summary)
        out["failed_paths"] = failed
        out["per_image"] = [dict(r, median_ms=round(r["median_ms"], 3)) for r in per_image]
        print(json.dumps(out))
    else:
        if meds:
            print(f"{a.model} @ {a.size}: median {summary['median_ms']:.2f} ms/photo, "
                  f"p90 {summary['p90_ms']:.2f} ms, mean {summary['mean_ms']:.2f} ms "
                  f"over {len(per_image)} images ({len(failed)} failed), {summary['faces_total']} faces "
                  f"(score threshold {a.score})")
        else:
            print(f"{a.model} @ {a.size}: no image could be decoded ({len(failed)} failed)")
        print(f"OpenCV {cv2.__version__}, threads {a.threads} (getNumThreads {cv2.getNumThreads()}), "
              f"repeat {a.repeat} + 1 warm-up per image, started {summary['started_utc']}, "
              f"wall {summary['wall_s']} s")
    if not per_image:
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
