#!/usr/bin/env python3
"""Embed LFW (people with >= 5 photos) or ORL with facelab, for cluster/examples/measure.rs.

usage: embed.py lfw|orl OUT.tsv [--facelab BIN] [--config CFG] [--datasets DIR]

Writes one line per photo in which a face was found: identity<TAB>photo<TAB>floats of the
largest face's embedding. Photos without a face are skipped and counted on stderr.
"""
import argparse, json, os, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument('which', choices=['lfw', 'orl'])
ap.add_argument('out')
ap.add_argument('--facelab', default='target/release/facelab')
ap.add_argument('--config', default='cluster/scripts/mfn.toml')
ap.add_argument('--datasets', default='../shared/datasets')
a = ap.parse_args()

root = os.path.join(a.datasets, 'lfw/images' if a.which == 'lfw' else 'orl')
items = []
for person in sorted(os.listdir(root)):
    d = os.path.join(root, person)
    if not os.path.isdir(d):
        continue
    files = sorted(f for f in os.listdir(d) if f.endswith(('.jpg', '.pgm')))
    if a.which == 'lfw' and len(files) < 5:
        continue
    items += [(person, os.path.join(d, f)) for f in files]
label = {p: l for l, p in items}
done = noface = failed = 0
with open(a.out, 'w') as out:
    for i in range(0, len(items), 300):
        batch = [p for _, p in items[i:i + 300]]
        r = subprocess.run([a.facelab, '--config', a.config, 'embed', '--json'] + batch,
                           capture_output=True, text=True)
        if r.returncode != 0:
            print('batch failed:', r.stderr[-2000:], file=sys.stderr)
            failed += len(batch)
            continue
        for ph in json.loads(r.stdout)['photos']:
            faces = ph.get('faces') or []
            if ph.get('error') or not faces:
                noface += 1
                continue
            f = max(faces, key=lambda f: f['face']['width'] * f['face']['height'])
            out.write(label[ph['path']] + '\t' + ph['path'] + '\t'
                      + ' '.join('%.7g' % x for x in f['embedding']) + '\n')
            done += 1
        print(f'{a.which}: {min(i + 300, len(items))}/{len(items)} embedded={done} noface={noface}',
              file=sys.stderr, flush=True)
print(f'{a.which}: photos={len(items)} embedded={done} no_face={noface} failed={failed}', file=sys.stderr)
