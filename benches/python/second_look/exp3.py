import os
SHARED=os.environ.get('FACELAB_SHARED','../shared')
OUT=os.environ.get('OUT','out/second-look')
os.makedirs(OUT,exist_ok=True)
import cv2, numpy as np, json, sys
cv2.setNumThreads(2)
R=SHARED+'/datasets/wider-face-val-mini/'
gt={}
L=open(R+'wider_face_val_bbx_gt.txt').read().split('\n'); i=0
while i<len(L) and L[i].strip():
    name=L[i].strip(); n=int(L[i+1]); boxes=[]
    for j in range(max(n,1)):
        v=list(map(int,L[i+2+j].split()))
        if n>0: boxes.append(v)
    gt[name]=boxes; i+=2+max(n,1)
det=cv2.FaceDetectorYN.create(SHARED+'/models/yunet/face_detection_yunet_2023mar.onnx',"",(320,320),0.3,0.3,5000)
scale=float(sys.argv[1])
out={}
for name in sorted(gt):
    img=cv2.imread(R+'images/'+name)
    if scale!=1: img=cv2.resize(img,None,fx=scale,fy=scale,interpolation=cv2.INTER_LINEAR if scale>1 else cv2.INTER_AREA)
    h,w=img.shape[:2]; det.setInputSize((w,h)); _,f=det.detect(img)
    out[name]=[[float(v)/scale for v in x[:4]]+[float(x[14])] for x in ([] if f is None else f)]
json.dump({'gt':gt,'det':out},open(fOUT+'/scale{scale}.json','w'))
