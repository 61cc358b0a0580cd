import os
SHARED=os.environ.get('FACELAB_SHARED','../shared')
OUT=os.environ.get('OUT','out/second-look')
os.makedirs(OUT,exist_ok=True)
import json,sys
def iou(a,b):
    ax2,ay2=a[0]+a[2],a[1]+a[3]; bx2,by2=b[0]+b[2],b[1]+b[3]
    iw=max(0,min(ax2,bx2)-max(a[0],b[0])); ih=max(0,min(ay2,by2)-max(a[1],b[1]))
    inter=iw*ih; u=a[2]*a[3]+b[2]*b[3]-inter
    return inter/u if u>0 else 0
def op(gt,det,t,minh=22):
    found=fp=tag=0
    for name,g in gt.items():
        ds=sorted([d for d in det.get(name,[]) if d[4]>=t and d[3]>=minh],key=lambda d:-d[4])
        tg=[x[3]>=32 and x[7]==0 for x in g]; tag+=sum(tg); used=[False]*len(g)
        for d in ds:
            best=None;anyo=False
            for i,x in enumerate(g):
                o=iou(d,x[:4]); anyo|=o>=0.3
                if tg[i] and not used[i] and o>=0.5 and (best is None or o>best[1]): best=(i,o)
            if best: used[best[0]]=True; found+=1
            elif not anyo: fp+=1
    return found/tag, fp/len(gt)*100
for f in sys.argv[1:]:
    d=json.load(open(f))
    for t in [0.3,0.5,0.6,0.7,0.75,0.8,0.85,0.9]:
        r,fpr=op(d['gt'],d['det'],t); print(f,t,round(r,3),round(fpr,1))
