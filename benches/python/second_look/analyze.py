import os
SHARED=os.environ.get('FACELAB_SHARED','../shared')
OUT=os.environ.get('OUT','out/second-look')
os.makedirs(OUT,exist_ok=True)
import json, itertools
D=json.load(open(OUT+'/verify_yunet.json'))
# label: TP-ish if tagiou>=0.5 ; FP if maxiou<0.3
def lab(r): return 'tp' if r['tagiou']>=0.5 else ('fp' if r['maxiou']<0.3 else 'other')
from collections import Counter
print(Counter(lab(r) for r in D))
# height distribution
for lo,hi in [(10,16),(16,20),(20,24),(24,28),(28,32),(32,48),(48,1e9)]:
    c=Counter(lab(r) for r in D if lo<=r['box'][3]<hi and r['s']>=0.3)
    print('h',lo,hi,dict(c))
band=[r for r in D if r['s']<0.8]
keys=[k for k in band[0] if k.startswith('v')]
for k in keys:
  for th in (0.5,0.6,0.7,0.8,0.9):
    tp=sum(1 for r in band if lab(r)=='tp' and r[k]>=th); fp=sum(1 for r in band if lab(r)=='fp' and r[k]>=th)
    print(k,th,tp,fp, end=' | ')
  print()
print('band tp',sum(lab(r)=='tp' for r in band),'fp',sum(lab(r)=='fp' for r in band))
print('---- min h 22')
big=[r for r in D if r['box'][3]>=22]
for t in [0.3,0.4,0.5,0.6,0.7,0.75,0.8,0.85,0.9]:
    c=Counter(lab(r) for r in big if r['s']>=t); print(t, dict(c))
import math
def feats(r):
    x,y,w,h=r['box']; l=r['lm']; re=(l[0],l[1]); le=(l[2],l[3]); n=(l[4],l[5]); rm=(l[6],l[7]); lm=(l[8],l[9])
    ed=math.hypot(le[0]-re[0],le[1]-re[1])/w
    mid=((re[0]+le[0])/2,(re[1]+le[1])/2)
    # nose offset relative to eye distance
    ex=(le[0]-re[0]) or 1e-3
    nose_rel=(n[0]-re[0])/ex
    mouth_mid=((rm[0]+lm[0])/2,(rm[1]+lm[1])/2)
    vert=(mouth_mid[1]-mid[1])/h
    return ed,nose_rel,vert
band=[r for r in big if 0.3<=r['s']<0.8]
for name,idx in [('eyedist/w',0),('nose_rel',1),('eye-mouth/h',2)]:
    for L_ in ['tp','fp']:
        v=sorted(feats(r)[idx] for r in band if lab(r)==L_)
        q=lambda p: round(v[int(p*(len(v)-1))],3)
        print(name,L_,len(v),q(0.05),q(0.25),q(0.5),q(0.75),q(0.95))
