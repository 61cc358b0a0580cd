import os
SHARED=os.environ.get('FACELAB_SHARED','../shared')
OUT=os.environ.get('OUT','out/second-look')
os.makedirs(OUT,exist_ok=True)
import cv2, numpy as np, sys, json
cv2.setNumThreads(2)
R=SHARED+'/datasets/wider-face-val-mini/'
M=SHARED+'/models/yunet/face_detection_yunet_2023mar.onnx'
gt={}
L=open(R+'wider_face_val_bbx_gt.txt').read().split('\n'); i=0
while i<len(L) and L[i].strip():
    name=L[i].strip(); n=int(L[i+1]); boxes=[]
    for j in range(max(n,1)):
        v=list(map(int,L[i+2+j].split()))
        if n>0: boxes.append(v)
    gt[name]=boxes; i+=2+max(n,1)
det=cv2.FaceDetectorYN.create(M,"",(320,320),0.3,0.3,5000)
def run(img,thr):
    h,w=img.shape[:2]; det.setInputSize((w,h)); det.setScoreThreshold(thr)
    _,f=det.detect(img); return [] if f is None else f
def iou(a,b):
    ax2,ay2=a[0]+a[2],a[1]+a[3]; bx2,by2=b[0]+b[2],b[1]+b[3]
    iw=max(0,min(ax2,bx2)-max(a[0],b[0])); ih=max(0,min(ay2,by2)-max(a[1],b[1]))
    inter=iw*ih; u=a[2]*a[3]+b[2]*b[3]-inter
    return inter/u if u>0 else 0
out=[]
for name in sorted(gt):
    img=cv2.imread(R+'images/'+name)
    fs=run(img,0.3); g=gt[name]
    for f in fs:
        b=[float(x) for x in f[:4]]; s=float(f[14])
        if b[3]<10: continue
        rec={'img':name,'box':b,'s':s,'maxiou':max([iou(b,x[:4]) for x in g],default=0),
             'tagiou':max([iou(b,x[:4]) for x in g if x[3]>=32 and x[7]==0],default=0),'lm':[float(x) for x in f[4:14]]}
        if s<0.8:
          for ctx in (1.5,2.0,3.0):
            for face in (48,80,128):
                cx,cy=b[0]+b[2]/2,b[1]+b[3]/2; side=max(b[2],b[3])*ctx
                k=face/max(b[2],b[3]); target=int(round(side*k))
                M_=np.float32([[k,0,-(cx-side/2)*k],[0,k,-(cy-side/2)*k]])
                c2=cv2.warpAffine(img,M_,(target,target),flags=cv2.INTER_LINEAR,borderMode=cv2.BORDER_CONSTANT,borderValue=(127,127,127))
                best=0.0
                for q in run(c2,0.05):
                    qb=[q[0]/k+cx-side/2,q[1]/k+cy-side/2,q[2]/k,q[3]/k]
                    if iou(b,qb)>=0.4: best=max(best,float(q[14]))
                rec[f'v{ctx}_{face}']=best
        out.append(rec)
json.dump(out,open(OUT+'/verify_yunet.json','w'))
print(len(out))
