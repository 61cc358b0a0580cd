#!/usr/bin/env python3
"""The same job as `facelab scan`, done the plain way with OpenCV's Python API.

This is the strong, simple baseline for the scan-speed comparison: no caching,
no threads of our own, no tricks. For each photo:

  cv2.imread(IMREAD_COLOR)
  -> optional resize so the long side is at most --max-side (INTER_AREA, aspect kept;
     0 = the photo's own size, the default; photos already small enough are not touched)
  -> cv2.FaceDetectorYN (YuNet; setInputSize per photo) .detect
  -> FaceRecognizerSF.alignCrop per face (ArcFace 5-point alignment to 112x112)
  -> ONE blobFromImages(crops, 1/128, (112,112), mean 127.5, BGR) + net.forward()
     per photo on cv2.dnn.readNet(MobileFaceNet) -> one 128-D embedding per face.

The FaceRecognizerSF is created with the MobileFaceNet onnx only to get alignCrop
(it loads the model a second time; that cost is inside wall_seconds too).

Timing: wall_seconds runs from the start of main() (so model loading is included;
interpreter start-up and `import cv2` are not) to after the last forward.
cpu_seconds is os.times() user+system of the whole process at the end (imports
included). peak_rss_bytes is getrusage(RUSAGE_SELF).ru_maxrss * 1024 (Linux: KiB).

  PY=$(bash benches/python/setup_venv.sh 2>/dev/null | tail -n1)
  "$PY" benches/python/scan_reference.py --detector yunet.onnx --embedder MobileFaceNet.onnx --json a.jpg b.jpg

Exit code: 0 all photos decoded, 1 some failed to decode, 2 none decoded (or bad arguments).
"""

import argparse
import json
import os
import resource
import sys
import time

import cv2


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Plain OpenCV-Python face scan (YuNet + MobileFaceNet): "
                                            "the baseline beside `facelab scan`.")
    p.add_argument("--detector", metavar="PATH", required=True, help="YuNet .onnx (face_detection_yunet_2023mar.onnx)")
    p.add_argument("--embedder", metavar="PATH", required=True, help="MobileFaceNet .onnx (112x112 BGR, 128-D)")
    p.add_argument("--max-side", type=int, default=0,
                   help="shrink so the long side is at most N (INTER_AREA); 0 = photo's own size (default)")
    p.add_argument("--threads", type=int, default=2, help="cv2.setNumThreads (default 2)")
    p.add_argument("--score", type=float, default=0.9, help="YuNet score threshold (default 0.9)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--list", metavar="FILE", help="file with one photo path per line (# comments, blanks skipped)")
    p.add_argument("photos", nargs="*", help="photo paths")
    a = p.parse_args(argv)
    if a.max_side < 0 or a.threads < 0:
        p.error("--max-side and --threads must be >= 0")
    for path in (a.detector, a.embedder):
        if not os.path.isfile(path):
            p.error(f"model not found: {path}")
    a.paths = list(a.photos)
    if a.list:
        try:
            with open(a.list, encoding="utf-8") as f:
                a.paths += [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
        except OSError as e:
            p.error(f"--list: {e}")
    if not a.paths:
        p.error("no photos (give paths or --list FILE)")
    return a


def main(argv=None):
    t0 = time.perf_counter()
    a = parse_args(argv)
    cv2.setNumThreads(a.threads)
    detector = cv2.FaceDetectorYN.create(a.detector, "", (320, 320), a.score, 0.3, 5000)
    aligner = cv2.FaceRecognizerSF.create(a.embedder, "")  # only for alignCrop
    net = cv2.dnn.readNet(a.embedder)

    per_photo, failed, n_faces, n_emb = [], [], 0, 0
    for path in a.paths:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            print(f"scan_reference: cannot decode {path}", file=sys.stderr)
            failed.append(path)
            continue
        h, w = img.shape[:2]
        fx = fy = 1.0
        if a.max_side and max(w, h) > a.max_side:
            s = a.max_side / max(w, h)
            nw, nh = max(1, round(w * s)), max(1, round(h * s))
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
            fx, fy = w / nw, h / nh  # back to the original photo's pixels
        detector.setInputSize((img.shape[1], img.shape[0]))
        _, faces = detector.detect(img)
        boxes = []
        if faces is not None and len(faces):
            crops = [aligner.alignCrop(img, f) for f in faces]
            net.setInput(cv2.dnn.blobFromImages(crops, 1.0 / 128, (112, 112), (127.5, 127.5, 127.5),
                                                swapRB=False, crop=False))
            emb = net.forward()
            n_faces += len(faces)
            n_emb += emb.shape[0]
            boxes = [[round(float(f[0]) * fx, 2), round(float(f[1]) * fy, 2), round(float(f[2]) * fx, 2),
                      round(float(f[3]) * fy, 2), round(float(f[14]), 4)] for f in faces]
        per_photo.append({"path": path, "width": w, "height": h, "faces": boxes})
    wall = time.perf_counter() - t0
    t = os.times()

    out = {
        "script": "scan_reference.py", "opencv_version": cv2.__version__, "threads": a.threads,
        "max_side": a.max_side, "score": a.score, "photos": len(a.paths), "decoded": len(per_photo),
        "failed": failed, "faces": n_faces, "embeddings": n_emb, "wall_seconds": round(wall, 4),
        "cpu_seconds": round(t.user + t.system, 4),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "per_photo": per_photo,
    }
    if a.json:
        print(json.dumps(out))
    else:
        print(f"scan_reference: {out['decoded']}/{out['photos']} photos decoded ({len(failed)} failed), "
              f"{n_faces} faces, {n_emb} embeddings")
        print(f"wall {wall:.2f} s, cpu {out['cpu_seconds']:.2f} s, peak RSS {out['peak_rss_bytes'] / 2**20:.0f} MiB; "
              f"OpenCV {cv2.__version__}, threads {a.threads}, max side {a.max_side or 'own size'}, score {a.score}")
    if not per_photo:
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
