#!/usr/bin/env python3
"""int8 variants of facelab's default ONNX models by ONNX Runtime's own quantisation, and
their forward-pass speed.

  generate  writes the int8 models to ${XDG_CACHE_HOME:-~/.cache}/facelab/models/generated/
            (never the repository) and prints each file's sha256 and size;
  configs   writes one facelab TOML config per model (fp32 and int8) for eval-lfw / eval-orl /
            eval-wider, with `model_files` pointing at the file;
  bench     times the bare forward pass in ONNX Runtime's Python API (1 and 2 intra-op threads),
            fp32 and int8 interleaved, median of --runs rounds after warm-up;
  heldout   a WIDER mini folder (symlinks) without the YuNet calibration photos;
  check     agreement of each int8 model with its fp32 model on held-out inputs (cosine of the
            MobileFaceNet embeddings; YuNet score maps), a quick screen before the facelab runs.

Models (read-only, from the model mirror, default ../shared/models):
  MobileFaceNet.onnx     (mobilefacenet-128) input x [N,3,112,112], BGR, (v - 127.5) / 128
  yunet_s_dynamic.onnx   (yunet-s-dynamic)  input [1,3,H,W], BGR 0-255, H and W multiples of 32

Method (all by onnxruntime.quantization, the version pinned in quant-requirements.txt):
  1. the opset is raised to 13 (onnx.version_converter): per-channel QDQ needs the `axis`
     attribute of DequantizeLinear, which opset 13 added;
  2. onnxruntime.quantization.quant_pre_process (symbolic shape inference + ORT's basic graph
     optimisation, e.g. nothing left for BatchNorm to fold; the graphs have none);
  3. quantize_static, QDQ format, int8 weights per output channel (symmetric), asymmetric
     activations; calibration, activation type and fp32-kept nodes as listed in VARIANTS;
     quantize_dynamic (MobileFaceNet only): weights int8 offline, activations quantised at run
     time (ConvInteger / MatMulInteger).

Calibration data (fixed, sorted, so the same inputs give the same files):
  MobileFaceNet: 200 aligned 112x112 face crops from WIDER FACE val mini, which is not a
    recognition test set (LFW View 2 and ORL, where accuracy is measured, are not used).
    Photos in sorted path order; faces found by cv2.FaceDetectorYN (yunet 2023mar, score >= 0.9)
    with a short side >= 48 photo px, at most 3 per photo, largest first; aligned by
    cv2.FaceRecognizerSF.alignCrop (the ArcFace 5-point template, as facelab's arcface-112).
    Every second crop is turned grey (the three channels equal), because LFW and ORL here are
    greyscale, as some library photos are. The crops after the first 200 (up to 100) are the
    held-out set of `check`.
  YuNet: 50 WIDER FACE val mini photos, every 6th of the 305 in sorted path order (the list is
    printed, and `--list-calibration` writes it), resized as facelab's onnx-runtime plugin does
    (photo size with the long side capped at 1280, bilinear, padded to multiples of 32; every
    second photo also shrunk to a 640 long side, the size of small photos), BGR 0-255 NCHW.
    These 50 photos are also in the WIDER mini evaluation: eval-wider on the 255 others is
    reported beside the full set (`heldout` below makes that folder).

Run with the venv of quant-requirements.txt:
  python3 -m venv ~/.cache/facelab/quant-venv
  ~/.cache/facelab/quant-venv/bin/pip install -r benches/python/quant-requirements.txt
  nice -n 19 ~/.cache/facelab/quant-venv/bin/python benches/python/quantize.py generate
  ~/.cache/facelab/quant-venv/bin/python benches/python/quantize.py configs --dir /tmp/quant
  nice -n 19 ~/.cache/facelab/quant-venv/bin/python benches/python/quantize.py bench
"""

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_MODELS = (REPO / ".." / "shared" / "models").resolve()
DEFAULT_DATA = (REPO / ".." / "shared" / "datasets").resolve()

MFN = "mobilefacenet/MobileFaceNet.onnx"
YUNET = "yunet/yunet_s_dynamic.onnx"
YUNET_FIXED = "yunet/face_detection_yunet_2023mar.onnx"

# name -> (source model, kind, settings). Activations: "u8" = QUInt8 asymmetric (ORT's U8S8),
# "s8" = QInt8 (S8S8). Calibration "minmax" (ORT's default) or "p99.99" (Percentile, 99.99).
# `fp32_first` / `fp32_last`: the nodes up to the k-th Conv from the input, or from the k-th
# Conv from the end to the output, stay fp32. `fp32_heads`: the last Conv of each output branch
# stays fp32.
VARIANTS = {
    # ORT's defaults: every Conv, PRelu and Add quantised, MinMax ranges.
    "mobilefacenet-int8-qdq.onnx": (MFN, "static", {"act": "u8", "calib": "minmax"}),
    # The best of a short search on the calibration crops' agreement with fp32 (docs/speed.md):
    # percentile ranges, the first 5 Convs (stem) and the last 2 (the 7x7 depthwise "GDC", whose
    # weights reach 157, and the 1x1 to 128-D) in fp32.
    "mobilefacenet-int8-qdq-mixed.onnx": (MFN, "static", {"act": "u8", "calib": "p99.99",
                                                         "fp32_first": 5, "fp32_last": 2}),
    "mobilefacenet-int8-dynamic.onnx": (MFN, "dynamic", {}),
    "yunet-s-dynamic-int8-qdq.onnx": (YUNET, "static", {"act": "u8", "calib": "minmax"}),
    "yunet-s-dynamic-int8-qdq-s8s8.onnx": (YUNET, "static", {"act": "s8", "calib": "minmax"}),
    "yunet-s-dynamic-int8-qdq-fp32heads.onnx": (YUNET, "static", {"act": "u8", "calib": "minmax",
                                                                 "fp32_heads": True}),
}

N_MFN_CALIB = 200
N_MFN_HELDOUT = 100
YUNET_EVERY = 6
N_YUNET_CALIB = 50


def out_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facelab" / "models" / "generated"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ calibration data

def wider_photos(data: Path):
    root = data / "wider-face-val-mini" / "images"
    photos = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg"))
    if not photos:
        sys.exit(f"no WIDER mini photos under {root}")
    return root, photos


def yunet_calibration_list(data: Path):
    _, photos = wider_photos(data)
    return photos[::YUNET_EVERY][:N_YUNET_CALIB]


def yunet_input(img, long_side_cap=1280, long_side=None):
    """facelab's onnx-runtime yunet input: photo size, long side capped, bilinear, padded to 32."""
    import cv2
    h, w = img.shape[:2]
    target = long_side if long_side else long_side_cap
    scale = min(1.0, target / max(h, w))
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) != (w, h):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    pw, ph = -(-nw // 32) * 32, -(-nh // 32) * 32
    blob = np.zeros((1, 3, ph, pw), np.float32)
    blob[0, :, :nh, :nw] = img.transpose(2, 0, 1).astype(np.float32)
    return blob


def yunet_calibration_blobs(data: Path):
    import cv2
    root, _ = wider_photos(data)
    blobs = []
    for i, rel in enumerate(yunet_calibration_list(data)):
        img = cv2.imread(str(root / rel), cv2.IMREAD_COLOR)
        blobs.append(yunet_input(img, long_side=640 if i % 2 else None))
    return blobs


def face_crops(data: Path, models: Path, n: int):
    """The first `n` aligned 112x112 BGR crops from WIDER mini (see the module doc)."""
    import cv2
    root, photos = wider_photos(data)
    det = cv2.FaceDetectorYN.create(str(models / YUNET_FIXED), "", (640, 640), 0.9, 0.3, 5000)
    rec = cv2.FaceRecognizerSF.create(str(models / MFN), "")
    crops = []
    for rel in photos:
        img = cv2.imread(str(root / rel), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        det.setInputSize((w, h))
        _, faces = det.detect(img)
        if faces is None:
            continue
        faces = [f for f in faces if min(f[2], f[3]) >= 48]
        faces.sort(key=lambda f: (-float(f[2] * f[3]), float(f[0]), float(f[1])))
        for f in faces[:3]:
            crop = rec.alignCrop(img, f)
            if len(crops) % 2 == 1:
                g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
                crop = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
            crops.append(crop)
            if len(crops) == n:
                return crops
    return crops


def mfn_blob(crops):
    x = np.stack([c.transpose(2, 0, 1) for c in crops]).astype(np.float32)
    return (x - 127.5) * 0.0078125


# ------------------------------------------------------------------ quantisation

def prepared(src: Path, work: Path) -> Path:
    """opset 13 + quant_pre_process."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process
    m = onnx.load(str(src))
    opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 13:
        m = version_converter.convert_version(m, 13)
    op13 = work / (src.stem + "-op13.onnx")
    onnx.save(m, str(op13))
    pre = work / (src.stem + "-pre.onnx")
    try:
        quant_pre_process(str(op13), str(pre), skip_symbolic_shape=False)
    except Exception as e:  # YuNet's Shape/Gather/Reshape tails defeat symbolic inference
        log(f"{src.name}: symbolic shape inference failed ({e}); using ONNX shape inference only")
        quant_pre_process(str(op13), str(pre), skip_symbolic_shape=True)
    return pre


class Reader:
    def __init__(self, name, blobs):
        self.name, self.blobs, self.i = name, blobs, 0

    def get_next(self):
        if self.i >= len(self.blobs):
            return None
        self.i += 1
        return {self.name: self.blobs[self.i - 1]}

    def rewind(self):
        self.i = 0


def fp32_nodes(model_path: Path, opt):
    """Nodes to keep in fp32 for a variant's `fp32_first`, `fp32_last`, `fp32_heads`."""
    import onnx
    nodes = [n for n in onnx.load(str(model_path)).graph.node]
    names = [n.name for n in nodes]
    convs = [i for i, n in enumerate(nodes) if n.op_type == "Conv"]
    keep = []
    if opt.get("fp32_first"):
        keep += names[:convs[opt["fp32_first"] - 1] + 1]
    if opt.get("fp32_last"):
        keep += names[convs[-opt["fp32_last"] - 1] + 1:]
    if opt.get("fp32_heads"):
        keep += head_convs(model_path)
    return keep


def head_convs(model_path: Path):
    """Names of the Conv nodes whose output reaches a graph output without another Conv."""
    import onnx
    m = onnx.load(str(model_path))
    producer = {o: n for n in m.graph.node for o in n.output}
    heads = set()
    for out in m.graph.output:
        stack, seen = [out.name], set()
        while stack:
            t = stack.pop()
            n = producer.get(t)
            if n is None or id(n) in seen:
                continue
            seen.add(id(n))
            if n.op_type == "Conv":
                heads.add(n.name)
                continue
            stack.extend(n.input)
    return sorted(heads)


def generate(args):
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)
    models, data = Path(args.models).resolve(), Path(args.data).resolve()
    dst = out_dir()
    dst.mkdir(parents=True, exist_ok=True)
    wanted = [v for v in VARIANTS if not args.only or any(s in v for s in args.only)]
    need_mfn = any(VARIANTS[v][0] == MFN and VARIANTS[v][1] == "static" for v in wanted)
    need_yunet = any(VARIANTS[v][0] == YUNET for v in wanted)
    calib = {}
    if need_mfn:
        crops = face_crops(data, models, N_MFN_CALIB)
        if len(crops) < N_MFN_CALIB:
            sys.exit(f"only {len(crops)} calibration crops")
        calib[MFN] = ("x", [mfn_blob([c]) for c in crops])
        log(f"MobileFaceNet calibration: {len(crops)} aligned WIDER mini crops (every 2nd grey)")
    if need_yunet:
        lst = yunet_calibration_list(data)
        calib[YUNET] = ("input", yunet_calibration_blobs(data))
        log(f"YuNet calibration: {len(lst)} WIDER mini photos: {lst[0]} ... {lst[-1]}")
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="facelab-quant-") as tmp:
        tmp = Path(tmp)
        # quant_pre_process leaves temporary files (*.data, sym_shape_infer_temp.onnx) in the
        # working directory: work in the temporary one.
        os.chdir(tmp)
        pre = {}
        for name in wanted:
            src, kind, opt = VARIANTS[name]
            if src not in pre:
                pre[src] = prepared(models / src, tmp)
            out = dst / name
            if kind == "dynamic":
                # ConvInteger has CPU kernels for uint8 weights only.
                quantize_dynamic(str(pre[src]), str(out), per_channel=True,
                                 weight_type=QuantType.QUInt8)
            else:
                input_name, blobs = calib[src]
                act = QuantType.QUInt8 if opt["act"] == "u8" else QuantType.QInt8
                exclude = fp32_nodes(pre[src], opt)
                calib_method = CalibrationMethod.MinMax
                extra = {"WeightSymmetric": True, "ActivationSymmetric": False}
                if opt["calib"].startswith("p"):
                    calib_method = CalibrationMethod.Percentile
                    extra["CalibPercentile"] = float(opt["calib"][1:])
                quantize_static(
                    str(pre[src]), str(out), Reader(input_name, blobs),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=act, weight_type=QuantType.QInt8,
                    calibrate_method=calib_method,
                    nodes_to_exclude=exclude,
                    extra_options=extra,
                )
            log(f"wrote {out}")
        os.chdir(cwd)
    print(f"# generated in {dst}")
    print(f"{'file':48} {'bytes':>9}  sha256")
    for src in (MFN, YUNET):
        p = models / src
        print(f"{p.name + ' (fp32 source)':48} {p.stat().st_size:9d}  {sha256(p)}")
    for name in wanted:
        p = dst / name
        print(f"{name:48} {p.stat().st_size:9d}  {sha256(p)}")


# ------------------------------------------------------------------ configs for facelab

REC_OPTIONS = """[recognizer.options]
profile = "arcface-112"
colour = "bgr"
mean = [127.5, 127.5, 127.5]
scale = 0.0078125
dim = 128
"""


def configs(args):
    """facelab configs: recognizer runs keep the default detector (opencv-dnn yunet-2023mar);
    detector runs use onnx-runtime yunet with the fp32 or int8 yunet-s-dynamic file and the fp32
    MobileFaceNet. Every model comes from its file, so fp32 and int8 get the same options."""
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    models, gen = Path(args.models), out_dir()
    mfn = {"fp32": models / MFN}
    yun = {"fp32": models / YUNET}
    for name, (src, _, _) in VARIANTS.items():
        (mfn if src == MFN else yun)[name.removesuffix(".onnx")] = gen / name
    default_det = ('[detector]\nplugin = "opencv-dnn"\nkind = "yunet"\nmodel = "yunet-2023mar"\n'
                   '[detector.options]\nmin_face_size = 17\n')

    def rec(path):
        return ('[recognizer]\nplugin = "onnx-runtime"\nkind = "embedder"\n'
                f'model_files = ["{path}"]\nmodel_sha256 = ["{sha256(path)}"]\n' + REC_OPTIONS)

    for tag, path in mfn.items():
        if not path.exists():
            continue
        f = d / f"mfn-{tag.removeprefix('mobilefacenet-')}.toml"
        f.write_text(f"# MobileFaceNet {tag} from its file; default detector.\n" + default_det + rec(path))
        print(f)
    for tag, path in yun.items():
        if not path.exists():
            continue
        f = d / f"yunet-{tag.removeprefix('yunet-s-dynamic-')}.toml"
        f.write_text(
            f"# YuNet-s dynamic {tag} on ONNX Runtime from its file; fp32 MobileFaceNet.\n"
            '[detector]\nplugin = "onnx-runtime"\nkind = "yunet"\n'
            f'model_files = ["{path}"]\nmodel_sha256 = ["{sha256(path)}"]\n'
            # The manifest's yunet-s-dynamic values, which a model from files does not get.
            '[detector.options]\nmin_face_size = 17\nscore_threshold = 0.8\n'
            '[detection]\nverify_from = 0.75\nverify_score = 0.75\n'
            + rec(models / MFN))
        print(f)


def heldout(args):
    """A WIDER mini folder without the YuNet calibration photos (symlinks, outside the repo)."""
    data = Path(args.data) / "wider-face-val-mini"
    dst = Path(args.dir)
    calib = set(yunet_calibration_list(Path(args.data)))
    (dst / "images").mkdir(parents=True, exist_ok=True)
    gt = (data / "wider_face_val_bbx_gt.txt").read_text().splitlines()
    out, i, kept = [], 0, 0
    while i < len(gt):
        name, n = gt[i], int(gt[i + 1])
        rows = max(n, 1)  # an image with 0 boxes still has one row of zeros
        block = gt[i:i + 2 + rows]
        i += 2 + rows
        if name in calib:
            continue
        out.extend(block)
        kept += 1
        link = dst / "images" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(data / "images" / name)
    (dst / "wider_face_val_bbx_gt.txt").write_text("\n".join(out) + "\n")
    diff = [l for l in (data / "difficulty.txt").read_text().splitlines()
            if l.startswith("#") or l.split(" ", 1)[0] not in calib]
    (dst / "difficulty.txt").write_text("\n".join(diff) + "\n")
    print(f"{dst}: {kept} photos (calibration photos left out: {len(calib)})")


# ------------------------------------------------------------------ speed and agreement

def session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def bench(args):
    """Forward-pass time. For each input and thread count, the fp32 model and its int8 variants
    run interleaved (one forward each per round, --runs rounds after --warmup), so that load from
    other processes on a shared machine falls on all of them alike."""
    models, gen = Path(args.models), out_dir()
    rng = np.random.default_rng(0)
    mfn_files = [models / MFN] + [gen / n for n, v in VARIANTS.items() if v[0] == MFN]
    yun_files = [models / YUNET] + [gen / n for n, v in VARIANTS.items() if v[0] == YUNET]
    cases = []
    # Random inputs: a Conv's work does not depend on the pixel values, and no data set is needed.
    for batch in (1, 16):
        x = (rng.integers(0, 256, (batch, 3, 112, 112)).astype(np.float32) - 127.5) / 128
        cases.append((mfn_files, "x", x, f"112x112 batch {batch}", batch))
    for w, h in ((1024, 704), (1280, 896)):
        x = rng.integers(0, 256, (1, 3, h, w)).astype(np.float32)
        cases.append((yun_files, "input", x, f"{w}x{h}", 1))
    print(f"{'model':44} {'input':18} {'threads':>7} {'median ms':>10} {'min ms':>8} "
          f"{'ms/item':>8} {'vs fp32':>8}")
    for files, name, x, what, batch in cases:
        files = [f for f in files if f.exists()]
        for threads in (1, 2):
            sessions = [session(f, threads) for f in files]
            feed = {name: x}
            for _ in range(args.warmup):
                for s in sessions:
                    s.run(None, feed)
            times = [[] for _ in sessions]
            for _ in range(args.runs):
                for i, s in enumerate(sessions):
                    t = time.perf_counter()
                    s.run(None, feed)
                    times[i].append((time.perf_counter() - t) * 1000)
            base = statistics.median(times[0])
            for f, ts in zip(files, times):
                med = statistics.median(ts)
                print(f"{f.name:44} {what:18} {threads:7d} {med:10.2f} {min(ts):8.2f} "
                      f"{med / batch:8.2f} {med / base:8.2f}", flush=True)


def check(args):
    import cv2
    models, data, gen = Path(args.models), Path(args.data), out_dir()
    crops = face_crops(data, models, N_MFN_CALIB + N_MFN_HELDOUT)[N_MFN_CALIB:]
    x = mfn_blob(crops)
    ref = session(models / MFN, 2).run(None, {"x": x})[0]
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    for n, v in VARIANTS.items():
        if v[0] != MFN or not (gen / n).exists():
            continue
        e = session(gen / n, 2).run(None, {"x": x})[0]
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        cos = (e * ref).sum(1)
        print(f"{n:48} held-out crops {len(crops)}: cosine to fp32 median {np.median(cos):.4f} "
              f"min {cos.min():.4f}")
    root, photos = wider_photos(data)
    calib = set(yunet_calibration_list(data))
    test = [p for p in photos if p not in calib][::25]
    blobs = [yunet_input(cv2.imread(str(root / p), cv2.IMREAD_COLOR)) for p in test]
    fs = session(models / YUNET, 2)
    names = [o.name for o in fs.get_outputs()]
    refs = [dict(zip(names, fs.run(None, {"input": b}))) for b in blobs]
    for n, v in VARIANTS.items():
        if v[0] != YUNET or not (gen / n).exists():
            continue
        s = session(gen / n, 2)
        d = []
        for b, r in zip(blobs, refs):
            o = dict(zip(names, s.run(None, {"input": b})))
            for k in ("cls_8", "cls_16", "cls_32"):
                sc = np.sqrt(np.clip(o[k], 0, 1) * np.clip(o["obj" + k[3:]], 0, 1))
                sr = np.sqrt(np.clip(r[k], 0, 1) * np.clip(r["obj" + k[3:]], 0, 1))
                d.append(np.abs(sc - sr).max())
        print(f"{n:48} held-out photos {len(blobs)}: max |score - fp32 score| median "
              f"{np.median(d):.4f} max {max(d):.4f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=str(DEFAULT_MODELS), help="model mirror (default %(default)s)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="datasets folder (default %(default)s)")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write the int8 models")
    g.add_argument("--only", nargs="*", help="substrings of the variant file names to build")
    c = sub.add_parser("configs", help="write facelab configs")
    c.add_argument("--dir", required=True)
    h = sub.add_parser("heldout", help="WIDER mini without the YuNet calibration photos")
    h.add_argument("--dir", required=True)
    b = sub.add_parser("bench", help="forward-pass speed")
    b.add_argument("--runs", type=int, default=30)
    b.add_argument("--warmup", type=int, default=5)
    sub.add_parser("check", help="agreement with fp32 on held-out inputs")
    sub.add_parser("list-calibration", help="print the YuNet calibration photos")
    args = p.parse_args(argv)
    if args.cmd == "list-calibration":
        print("\n".join(yunet_calibration_list(Path(args.data))))
        return
    {"generate": generate, "configs": configs, "heldout": heldout, "bench": bench,
     "check": check}[args.cmd](args)


if __name__ == "__main__":
    main()
