"""Replay the kit's training step in PyTorch (float64) on the weights and views that
`scripts/step_check_dump.ts` wrote: the tiny ViT (official layout), the instance projector
(3 bias-free Linear layers, exact GELU; with the dump's `--bn`, BatchNorm1d in training mode
after the two hidden layers), NT-Xent at T 0.2, AdamW (no decay on biases and 1-D
parameters) with per-parameter clipping at 3, five steps. Exits 1 when a loss differs by more
than 1e-4. A sketchpad check (Debian's python3-torch), not a kit dependency.
"""
import json, sys, torch, torch.nn.functional as F, numpy as np, math
d=json.load(open(sys.argv[1] if len(sys.argv) > 1 else 'step_check.json'))
P={k:torch.tensor(v['data'],dtype=torch.float64).reshape(v['shape']).requires_grad_(True) for k,v in d['params'].items() if k.startswith('backbone.') or k.startswith('instance_head.projector')}
views=torch.tensor(d['views'],dtype=torch.float64).reshape(-1,1,28,28)
def vit(x):
    g=lambda n:P['backbone.'+n]
    x=F.conv2d(x,g('patch_embed.proj.weight'),g('patch_embed.proj.bias'),stride=4).flatten(2).transpose(1,2)
    x=torch.cat([g('cls_token').expand(x.shape[0],-1,-1),x],1)+g('pos_embed')
    for i in range(4):
        b=lambda n:g(f'blocks.{i}.'+n)
        h=F.layer_norm(x,(64,),b('norm1.weight'),b('norm1.bias'),1e-6)
        Bn,N,C=h.shape; q,k,v=F.linear(h,b('attn.qkv.weight'),b('attn.qkv.bias')).reshape(Bn,N,3,4,16).permute(2,0,3,1,4)
        a=((q@k.transpose(-2,-1))*16**-0.5).softmax(-1); x=x+F.linear((a@v).transpose(1,2).reshape(Bn,N,C),b('attn.proj.weight'),b('attn.proj.bias'))
        h=F.layer_norm(x,(64,),b('norm2.weight'),b('norm2.bias'),1e-6)
        x=x+F.linear(F.gelu(F.linear(h,b('mlp.fc1.weight'),b('mlp.fc1.bias'))),b('mlp.fc2.weight'),b('mlp.fc2.bias'))
    return F.layer_norm(x,(64,),g('norm.weight'),g('norm.bias'),1e-6)[:,0]
hk=sorted([k for k in P if k.startswith('instance_head')])
bn='instance_head.projector.1.weight' in P
def head(z):
    if bn:
        g=lambda n:P['instance_head.projector.'+n]
        for i in (0,3):
            z=F.linear(z,g(f'{i}.weight'))
            z=F.gelu(F.batch_norm(z,None,None,g(f'{i+1}.weight'),g(f'{i+1}.bias'),training=True,eps=1e-5))
        return F.linear(z,g('6.weight'))
    for j,k in enumerate(hk):
        if j>0: z=F.gelu(z)
        z=F.linear(z,P[k])
    return z
def loss():
    z=F.normalize(head(vit(views)),dim=1); n=z.shape[0]; B=n//2
    s=z@z.T/0.2; s=s-torch.eye(n,dtype=s.dtype)*1e9
    return F.cross_entropy(s,torch.tensor([(i+B)%n for i in range(n)]))
decay=[p for k,p in P.items() if not (k.endswith('.bias') or p.ndim==1)]
nod=[p for k,p in P.items() if (k.endswith('.bias') or p.ndim==1)]
opt=torch.optim.AdamW([{'params':decay,'weight_decay':0.05},{'params':nod,'weight_decay':0}],lr=1e-3)
out=[]
for s in range(5):
    l=loss(); out.append(l.item()); opt.zero_grad(); l.backward()
    for p in P.values():
        n=p.grad.norm()
        if n>3: p.grad.mul_(3/(n+1e-6))
    opt.step()
print('pytorch float64:', ' '.join(f'{x:.6f}' for x in out))
print('kit (float32):  ', ' '.join(f'{x:.6f}' for x in d['losses']))
diff = max(abs(a - b) for a, b in zip(out, d['losses']))
print(f'largest difference {diff:.2e}')
sys.exit(0 if diff < 1e-4 else 1)
