import os
SHARED=os.environ.get('FACELAB_SHARED','../shared')
OUT=os.environ.get('OUT','out/second-look')
os.makedirs(OUT,exist_ok=True)
import json
from collections import Counter
D=json.load(open(OUT+'/verify_yunet2.json'))
def lab(r): return 'tp' if r['tagiou']>=0.5 else ('fp' if r['maxiou']<0.3 else 'other')
band=[r for r in D if r['box'][3]>=22 and 0.3<=r['s']<0.8]
print(Counter(lab(r) for r in band))
for k in ['ssd2.0','ssd3.0','flip2.0','flip3.0','v2.0_80','v3.0_80']:
  row=[]
  for th in (0.3,0.5,0.7,0.9):
    tp=sum(1 for r in band if lab(r)=='tp' and r[k]>=th); fp=sum(1 for r in band if lab(r)=='fp' and r[k]>=th)
    row.append(f'{th}:{tp}/{fp}')
  print(k,' '.join(row))
# combined: mean of s, v3.0_80, flip3.0
import itertools
def comb(r): return (r['s']+r['v3.0_80']+r['flip3.0'])/3
def comb2(r): return min(r['ssd3.0'], 1)*0.5 + r['s']*0.5
for f,name in [(comb,'yunet3'),(comb2,'ssd+s')]:
  for th in (0.5,0.6,0.7,0.8):
    tp=sum(1 for r in band if lab(r)=='tp' and f(r)>=th); fp=sum(1 for r in band if lab(r)=='fp' and f(r)>=th)
    print(name,th,tp,fp)
