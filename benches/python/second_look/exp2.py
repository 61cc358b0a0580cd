import os
SHARED=os.environ.get('FACELAB_SHARED','../shared')
OUT=os.environ.get('OUT','out/second-look')
os.makedirs(OUT,exist_ok=True)
import cv2, numpy as np, json
cv2.setNumThreads(2)
R=SHARED+'/datasets/wider-face-val-mini/'
D=json.load(open(OUT+'/verify_yunet.json'))
ssd=cv2.dnn.readNetFromTensorflow(SHARED+'/models/ssd-tf/opencv_face_detector_uint8.pb',SHARED+'/models/ssd-tf/opencv_face_detector.pbtxt')
det=cv2.FaceDetectorYN.create(SHARED+'/models/yunet/face_detection_yunet_2023mar.onnx',"",(320,320),0.05,0.3,5000)
def iou(a,b):
    ax2,ay2=a[0]+a[2],a[1]+a[3]; bx2,by2=b[0]+b[2],b[1]+b[3]
    iw=max(0,min(ax2,bx2)-max(a[0],b[0])); ih=max(0,min(ay2,by2)-max(a[1],b[1]))
    inter=iw*ih; u=a[2]*a[3]+b[2]*b[3]-inter
    return inter/u if u>0 else 0
cache={}
n=0
for r in D:
    b=r['box']
    if b[3]<22 or not (0.3<=r['s']<0.8): continue
    if r['img'] not in cache: cache={r['img']:cv2.imread(R+'images/'+r['img'])}
    img=cache[r['img']]
    cx,cy=b[0]+b[2]/2,b[1]+b[3]/2
    for ctx in (2.0,3.0):
        side=max(b[2],b[3])*ctx; k=300/side
        M_=np.float32([[k,0,-(cx-side/2)*k],[0,k,-(cy-side/2)*k]])
        c=cv2.warpAffine(img,M_,(300,300),flags=cv2.INTER_LINEAR,borderMode=cv2.BORDER_CONSTANT,borderValue=(127,127,127))
        ssd.setInput(cv2.dnn.blobFromImage(c,1.0,(300,300),(104,177,123)))
        o=ssd.forward()[0,0]
        best=0.0
        for d in o:
            s=float(d[2]); x1,y1,x2,y2=[float(v)*300 for v in d[3:7]]
            qb=[x1/k+cx-side/2,y1/k+cy-side/2,(x2-x1)/k,(y2-y1)/k]
            if iou(b,qb)>=0.3: best=max(best,s)
        r[f'ssd{ctx}']=best
        # yunet flip at face 80
        kf=80/max(b[2],b[3]); t=int(round(side*kf))
        M2=np.float32([[kf,0,-(cx-side/2)*kf],[0,kf,-(cy-side/2)*kf]])
        c2=cv2.warpAffine(img,M2,(t,t),flags=cv2.INTER_LINEAR,borderMode=cv2.BORDER_CONSTANT,borderValue=(127,127,127))
        c2=cv2.flip(c2,1); det.setInputSize((t,t)); _,f=det.detect(c2); best=0.0
        for q in ([] if f is None else f):
            qb=[(t-q[0]-q[2])/kf+cx-side/2,q[1]/kf+cy-side/2,q[2]/kf,q[3]/kf]
            if iou(b,qb)>=0.4: best=max(best,float(q[14]))
        r[f'flip{ctx}']=best
    n+=1
json.dump(D,open(OUT+'/verify_yunet2.json','w'))
print(n)
