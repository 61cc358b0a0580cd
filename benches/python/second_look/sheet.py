import os
SHARED=os.environ.get('FACELAB_SHARED','../shared')
OUT=os.environ.get('OUT','out/second-look')
os.makedirs(OUT,exist_ok=True)
import cv2, numpy as np, json
R=SHARED+'/datasets/wider-face-val-mini/'
D=json.load(open(OUT+'/verify_yunet.json'))
fps=[r for r in D if r['maxiou']<0.3 and r['box'][3]>=22 and 0.6<=r['s']]
fps.sort(key=lambda r:-r['s'])
print(len(fps))
tiles=[]
for r in fps[:48]:
    img=cv2.imread(R+'images/'+r['img']); x,y,w,h=r['box']; cx,cy=x+w/2,y+h/2; s=max(w,h)*2
    M=np.float32([[96/s,0,-(cx-s/2)*96/s],[0,96/s,-(cy-s/2)*96/s]])
    t=cv2.warpAffine(img,M,(96,96),borderValue=(127,127,127))
    cv2.putText(t,f"{r['s']:.2f} {int(h)}",(2,10),cv2.FONT_HERSHEY_SIMPLEX,0.35,(0,255,0),1)
    tiles.append(t)
while len(tiles)%8: tiles.append(np.zeros((96,96,3),np.uint8))
rows=[np.hstack(tiles[i:i+8]) for i in range(0,len(tiles),8)]
cv2.imwrite(OUT+'/fps.png',np.vstack(rows))
