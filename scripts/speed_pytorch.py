"""PyTorch side of the paired speed comparison (scripts/speed_vs_pytorch.ts drives it).

Not part of the kit and not run in CI: it needs PyTorch (Debian's python3-torch 1.13 is
enough) and times, on the CPU with 2 threads, the two steps that `deno task bench` times:

- `vit`: the ViT training step of bench/train_step.ts: the 28-px ViT (patch 4, dim 64,
  depth 4, 4 heads, qkv bias, LayerNorm eps 1e-6, stochastic depth 0.1), batch 64,
  loss = mean((cls - target)^2), backward, per-parameter clipping at 3, AdamW with DINO's
  parameter groups (no decay on biases and 1-D parameters, patch embedding lr x 0.2).
- `mugs`: the Mugs step of bench/mugs_step.ts computed as the official code
  (github.com/sail-sg/mugs: src/model.py, src/loss.py, src/vision_transformer.py and
  `train_one_epoch` in main.py) computes it, at the bench's sizes: teacher 2 x 28 px,
  student 2 x 28 px + 4 x 12 px, heads hidden 256, out 128, predictor hidden 512, group
  bottleneck 128 and 4096 prototypes (weight-normed last layer, norm fixed), one relation
  block, top-8 neighbours from memories of 4096, instance and local-group queues of 4096,
  every (teacher view, student view) pair evaluated as the official InfoNCE loop does (the
  prediction-queue product once per pair), clipping at 3 per parameter, the official
  parameter groups, EMA of backbone and heads, queue and memory updates. The views are
  given (the official code makes them in data-loader workers), so augmentation is not
  timed here; the kit's step includes its GPU augmentation.

The model code here is written for this comparison from the official code's structure
(the same layers, losses and update order); `all_gather` is the identity (one process).

The driver sets OMP_WAIT_POLICY=PASSIVE for this process (see scripts/speed_vs_pytorch.ts):
spin-waiting OpenMP threads collapse on a machine that runs other work.

Protocol: one command per stdin line, `<vit|mugs> <steps>`; each answers one JSON line
{"step": name, "ms": [per-step ms of each timed step]}. `--once vit 4` runs one command.
SPEED_TORCH_DEVICE=cuda runs both steps on the GPU instead (for a machine that has one).
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)

# SPEED_TORCH_DEVICE=cuda (the driver's --torch-device) builds every tensor and module on that
# device (torch.set_default_device, PyTorch >= 2.0) and times with a synchronize around each
# step, since CUDA returns before the work is done; the default is the CPU.
DEVICE = os.environ.get("SPEED_TORCH_DEVICE", "cpu")
if DEVICE != "cpu":
    if not hasattr(torch, "set_default_device") or not torch.cuda.is_available():
        sys.exit(f"SPEED_TORCH_DEVICE={DEVICE} needs PyTorch >= 2.0 built with CUDA and a GPU "
                 f"(this is PyTorch {torch.__version__}, CUDA available: "
                 f"{torch.cuda.is_available()})")
    torch.set_default_device(DEVICE)


def synchronize():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()

B = 64
DIM, DEPTH, HEADS, PATCH, IMG = 64, 4, 4, 4, 28


# ---- the official ViT (src/vision_transformer.py), with the relation block of Mugs


def drop_path(x, p, training):
    if p == 0.0 or not training:
        return x
    keep = 1 - p
    mask = (keep + torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype)).floor_()
    return x.div(keep) * mask


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim, heads, dpr):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.dpr = dpr

    def forward(self, x):
        x = x + drop_path(self.attn(self.norm1(x)), self.dpr, self.training)
        h = self.fc2(F.gelu(self.fc1(self.norm2(x))))
        return x + drop_path(h, self.dpr, self.training)


class ViT(nn.Module):
    def __init__(self, drop_path_rate=0.0, relation_blocks=0):
        super().__init__()
        self.patch_embed = nn.Conv2d(1, DIM, kernel_size=PATCH, stride=PATCH)
        n = (IMG // PATCH) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, DIM))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, DIM))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, DEPTH)]
        self.blocks = nn.ModuleList([Block(DIM, HEADS, dpr[i]) for i in range(DEPTH)])
        self.norm = nn.LayerNorm(DIM, eps=1e-6)
        # the official list comprehension indexes dpr with its own i = 0: no drop path
        self.relation_blocks = nn.ModuleList(
            [Block(DIM, HEADS, dpr[0]) for _ in range(relation_blocks)]
        )
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.constant_(m.bias, 0)

    def pos(self, x, w):
        n = self.pos_embed.shape[1] - 1
        if x.shape[1] - 1 == n:
            return self.pos_embed
        g = int(math.sqrt(n))
        w0 = w // PATCH + 0.1
        p = F.interpolate(
            self.pos_embed[:, 1:].reshape(1, g, g, DIM).permute(0, 3, 1, 2),
            scale_factor=(w0 / g, w0 / g),
            mode="bicubic",
        ).permute(0, 2, 3, 1).reshape(1, -1, DIM)
        return torch.cat((self.pos_embed[:, :1], p), dim=1)

    def forward(self, x, mem=None):
        w = x.shape[-1]
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos(x, w)
        for blk in self.blocks:
            x = blk(x)
        relation = None
        if mem is not None:
            m, _ = mem(x.mean(1))
            rx = torch.cat((x.mean(1).unsqueeze(1), m), dim=1)
            for blk in self.relation_blocks:
                rx = blk(rx)
            relation = self.norm(rx[:, 0])
        return self.norm(x), relation


# ---- heads and memory (src/model.py)


def mlp(layers, i, h, o, bias):
    out = []
    for j in range(layers):
        out.append(nn.Linear(i if j == 0 else h, o if j == layers - 1 else h, bias=bias))
        if j < layers - 1:
            out.append(nn.GELU())
    return nn.Sequential(*out)


def trunc_init(module):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)


class ContrastHead(nn.Module):
    """Instance_Superivsion_Head / Local_Group_Superivsion_Head (the same structure)."""

    def __init__(self, pred_hidden):
        super().__init__()
        self.projector = mlp(3, DIM, 256, 128, False)
        trunc_init(self)
        self.predictor = mlp(2, 128, pred_hidden, 128, False) if pred_hidden > 0 else None

    def forward(self, x, target):
        feat = F.normalize(self.projector(x), dim=-1)
        if target:
            return feat
        return F.normalize(self.predictor(feat), dim=-1)


class GroupHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.projector = nn.Sequential(
            nn.Linear(DIM, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(), nn.Linear(256, 128)
        )
        trunc_init(self)
        self.last_layer = nn.utils.weight_norm(nn.Linear(128, 4096, bias=False))
        self.last_layer.weight_g.data.fill_(1)
        self.last_layer.weight_g.requires_grad = False

    def forward(self, x):
        return self.last_layer(F.normalize(self.projector(x), dim=-1))


class Memory(nn.Module):
    """Block_mem: queue_q (searched), queue_k and queue_v (returned), FIFO."""

    def __init__(self, size=4096, top_n=8):
        super().__init__()
        self.K, self.top_n, self.ptr = size, top_n, 0
        self.register_buffer("queue_q", torch.randn(size, DIM))
        self.register_buffer("queue_k", torch.randn(size, DIM))
        self.register_buffer("queue_v", torch.randn(size, DIM))

    @torch.no_grad()
    def enqueue(self, query, weak):
        if weak is not None:
            idx = torch.nonzero(weak)
            if len(idx) == 0:
                return
            query = query[idx.squeeze(-1)]
        n, p = query.shape[0], self.ptr
        rest = p + n - self.K
        if rest <= 0:
            for q in (self.queue_q, self.queue_k, self.queue_v):
                q[p:p + n] = query
            self.ptr = (p + 2 * n) % self.K  # as the official code (ptr + all_size twice)
        else:
            for q in (self.queue_q, self.queue_k, self.queue_v):
                q[p:] = query[: self.K - p]
                q[:rest] = query[self.K - p:]
            self.ptr = rest

    @torch.no_grad()
    def forward(self, query):
        x = F.normalize(query.float(), dim=-1)
        _, index = torch.topk(x @ F.normalize(self.queue_q, dim=-1).T, self.top_n, dim=-1)
        b, tn = index.shape
        return (self.queue_k[index.view(-1)].view(b, tn, DIM),
                self.queue_v[index.view(-1)].view(b, tn, DIM))


class Wrapper(nn.Module):
    """Mugs_Wrapper: views grouped by size, each group through the backbone at once."""

    def __init__(self, student):
        super().__init__()
        self.backbone = ViT(0.1 if student else 0.0, relation_blocks=1)
        self.instance_head = ContrastHead(512 if student else 0)
        self.local_group_head = ContrastHead(512 if student else 0)
        self.group_head = GroupHead()

    def forward(self, views, target, mem):
        cls, rel, mean = [], [], []
        start = 0
        sizes = [v.shape[-1] for v in views]
        while start < len(views):
            end = start
            while end < len(views) and sizes[end] == sizes[start]:
                end += 1
            tokens, relation = self.backbone(torch.cat(views[start:end]), mem)
            cls.append(tokens[:, 0])
            rel.append(relation)
            if sizes[start] == IMG:  # the official code tests for 224, the global size there
                mean.append(tokens[:, 1:].mean(dim=1))
            start = end
        cls, rel, mean = torch.cat(cls), torch.cat(rel), torch.cat(mean)
        return (self.instance_head(cls, target), self.local_group_head(rel, target),
                self.group_head(cls), mean.detach())


# ---- losses (src/loss.py)


class InfoNCE(nn.Module):
    def __init__(self, ncrops, dim=128, size=4096, t=0.2):
        super().__init__()
        self.size, self.t, self.ncrops, self.ptr = size, t, ncrops, 0
        self.register_buffer("queue", F.normalize(torch.randn(dim, size), dim=0))

    @torch.no_grad()
    def enqueue(self, keys):
        n, p = keys.shape[0], self.ptr
        if p + n <= self.size:
            self.queue[:, p:p + n] = keys.T
            self.ptr = (p + n) % self.size
        else:
            r = self.size - p
            self.queue[:, p:] = keys.T[:, :r]
            self.queue[:, : n - r] = keys.T[:, r:]
            self.ptr = n - r

    def forward(self, student, teacher):
        preds = student.chunk(self.ncrops)
        targets = teacher.detach().chunk(2)
        small = large = 0
        ns = nl = 0
        queue = self.queue.clone().detach()
        for ti, targ in enumerate(targets):
            for pi, pred in enumerate(preds):
                if ti == pi:
                    continue
                pos = torch.einsum("nc,nc->n", [pred, targ]).unsqueeze(-1)
                neg = torch.einsum("nc,ck->nk", [pred, queue])
                logits = torch.cat([pos, neg], dim=1) / self.t
                loss = F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))
                if pi < 2:
                    large, nl = large + loss, nl + 1
                else:
                    small, ns = small + loss, ns + 1
            self.enqueue(targ)
        return 0.5 * (large / nl + small / ns)


class Clustering(nn.Module):
    def __init__(self, out_dim, ncrops, teacher_temp=0.04, student_temp=0.1):
        super().__init__()
        self.ncrops, self.tt, self.st = ncrops, teacher_temp, student_temp
        self.register_buffer("center", torch.zeros(1, out_dim))

    def forward(self, student, teacher):
        s = (student / self.st).chunk(self.ncrops)
        t = F.softmax((teacher - self.center) / self.tt, dim=-1).detach().chunk(2)
        large = small = 0.0
        nl = ns = 0
        for iq, q in enumerate(t):
            for v in range(len(s)):
                if v == iq:
                    continue
                loss = torch.sum(-q * F.log_softmax(s[v], dim=-1), dim=-1).mean()
                if v < 2:
                    large, nl = large + loss, nl + 1
                else:
                    small, ns = small + loss, ns + 1
        with torch.no_grad():
            self.center = self.center * 0.9 + teacher.mean(dim=0) * 0.1
        return 0.5 * (large / nl + small / ns)


# ---- optimiser helpers (src/optimizer.py)


def param_groups(model):
    reg, patch, noreg, patch_noreg = [], [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.endswith(".bias") or p.ndim == 1:
            (patch_noreg if "patch_embed" in name else noreg).append(p)
        elif "patch_embed" in name:
            patch.append(p)
        else:
            reg.append(p)
    lr = 5e-4
    return [
        {"params": reg, "lr": lr, "weight_decay": 0.04},
        {"params": patch, "lr": lr * 0.2, "weight_decay": 0.04},
        {"params": noreg, "lr": lr, "weight_decay": 0.0},
        {"params": patch_noreg, "lr": lr * 0.2, "weight_decay": 0.0},
    ]


def clip_gradients(model, clip):
    for p in model.parameters():
        if p.grad is not None:
            norm = p.grad.data.norm(2)
            coef = clip / (norm.item() + 1e-6)  # the official code reads each norm back
            if coef < 1:
                p.grad.data.mul_(coef)


# ---- the two steps


def vit_step():
    model = ViT(0.1)
    model.train()
    opt = torch.optim.AdamW(param_groups(model))
    x = torch.randn(B, 1, IMG, IMG)
    target = torch.randn(B, DIM)

    def step():
        cls = model(x)[0][:, 0]
        loss = (cls - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        clip_gradients(model, 3.0)
        opt.step()
        return loss.item()

    return step


def mugs_step():
    student, teacher = Wrapper(True), Wrapper(False)
    teacher.load_state_dict(student.state_dict(), strict=False)
    for p in teacher.parameters():
        p.requires_grad = False
    student.train()
    student_mem, teacher_mem = Memory(), Memory()
    ncrops = 6
    instance, local_group = InfoNCE(ncrops), InfoNCE(ncrops)
    group = Clustering(4096, ncrops)
    opt = torch.optim.AdamW(param_groups(student))
    big = [torch.rand(B, 1, IMG, IMG) for _ in range(4)]
    small = [torch.rand(B, 1, 12, 12) for _ in range(4)]
    teacher_views, student_views = big[:2], big[2:] + small
    weak = (torch.rand(B) < 0.5).long()
    momentum = 0.996

    def step():
        with torch.no_grad():
            t_inst, t_lg, t_group, t_mem = teacher(teacher_views, True, teacher_mem)
        s_inst, s_lg, s_group, s_mem = student(student_views, False, student_mem)
        loss = (instance(s_inst, t_inst) + local_group(s_lg, t_lg) + group(s_group, t_group)) / 3
        student_mem.enqueue(s_mem.chunk(2)[0], weak)
        teacher_mem.enqueue(t_mem.chunk(2)[0], None)
        value = loss.item()
        opt.zero_grad()
        loss.backward()
        clip_gradients(student, 3.0)
        opt.step()
        with torch.no_grad():
            for name in ("backbone", "instance_head", "local_group_head", "group_head"):
                for q, k in zip(getattr(student, name).parameters(),
                                getattr(teacher, name).parameters()):
                    k.data.mul_(momentum).add_((1 - momentum) * q.detach().data)
        return value

    return step


def timed(step, n):
    out = []
    for _ in range(n):
        synchronize()
        t0 = time.perf_counter()
        step()
        synchronize()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main():
    steps = {"vit": vit_step(), "mugs": mugs_step()}
    for s in steps.values():  # warm-up: allocator, first-call paths
        s()
        s()
    if len(sys.argv) >= 4 and sys.argv[1] == "--once":
        print(json.dumps({"step": sys.argv[2], "ms": timed(steps[sys.argv[2]], int(sys.argv[3]))}))
        return
    device = torch.cuda.get_device_name() if DEVICE.startswith("cuda") else "cpu"
    print(json.dumps({"ready": True, "torch": torch.__version__, "device": device,
                      "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        name, n = parts[0], int(parts[1])
        print(json.dumps({"step": name, "ms": timed(steps[name], n)}), flush=True)


if __name__ == "__main__":
    main()
