"""Design sweep of the default CNN's training recipe: a PyTorch re-implementation, many seeds in parallel.

Not part of the toolchain (it needs torch and, to be quick, a GPU; see bench/design_sweep.md). It read the
exact windows of the default protocol, exported with:
    .venv/bin/python -c "from train.data.dataset import *; s = prepare(DataConfig()).splits; import numpy as np; \
      np.savez('bench/hapt.npz', xtr=s['train'].x, ytr=s['train'].y, xva=s['validation'].x, \
      yva=s['validation'].y, xte=s['test'].x, yte=s['test'].y)"
and ran as `OUT=. python bench/design_sweep.py all 16` (SEEDS=4,5,6,7 for the second round).
"""
import json, math, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.multiprocessing as mp

D = np.load(os.path.join(os.path.dirname(__file__), "hapt.npz"))

BASE = dict(filters=[24, 48, 64], kernels=[9, 7, 5], dropout=0.3, grav=False, epochs=60, lr=2e-3, bs=64,
            scale=0.1, noise=0.05, cw=True, ls=0.0, wd=0.0, pool_first=True)
CONFIGS = {
    "base": {},
    "grav": dict(grav=True),
    "e100": dict(epochs=100),
    "k15": dict(kernels=[15, 9, 5]),
    "grav_e100": dict(grav=True, epochs=100),
    "nocw": dict(cw=False),
    "lr1e3": dict(lr=1e-3),
    "bs32": dict(bs=32),
    "scale2": dict(scale=0.2),
    "noise1": dict(noise=0.1),
    "deep4": dict(filters=[16, 32, 48, 64], kernels=[9, 7, 5, 3]),
    "drop5": dict(dropout=0.5),
    "ls05": dict(ls=0.05),
    "wd": dict(wd=1e-3),
    "f32_48_48": dict(filters=[32, 48, 48]),
    "k15_grav_e100": dict(kernels=[15, 9, 5], grav=True, epochs=100),
    "grav_e100_bs32": dict(grav=True, epochs=100, bs=32),
    "grav_e150": dict(grav=True, epochs=150),
    "grav_e100_noise1": dict(grav=True, epochs=100, noise=0.1),
}
SEEDS = [int(s) for s in os.environ.get("SEEDS", "0,1,2,3").split(",")]


class Net(nn.Module):
    def __init__(self, c):
        super().__init__()
        layers, cin = [], 6
        for f, k in zip(c["filters"], c["kernels"]):
            layers += [nn.Conv1d(cin, f, k, padding=k // 2, bias=False), nn.BatchNorm1d(f, momentum=0.01, eps=1e-3), nn.ReLU(), nn.MaxPool1d(2)]
            cin = f
        self.body = nn.Sequential(*layers)
        self.drop = nn.Dropout(c["dropout"])
        self.head = nn.Linear(cin, 6)
        self.grav = nn.Linear(6, 6) if c["grav"] else None

    def forward(self, x):  # x: (N, T, C)
        x = x.transpose(1, 2)
        h = self.body(x).mean(-1)
        out = self.head(self.drop(h))
        if self.grav is not None:
            out = out + self.grav(x.mean(-1))
        return out


def f1(y, p):
    cm = np.zeros((6, 6)); np.add.at(cm, (y, p), 1)
    tp = np.diag(cm); pr = tp / np.maximum(cm.sum(0), 1); rc = tp / np.maximum(cm.sum(1), 1)
    return float(np.mean(np.where(pr + rc > 0, 2 * pr * rc / np.maximum(pr + rc, 1e-12), 0)))


def run(job):
    name, seed = job
    c = dict(BASE, **CONFIGS[name])
    torch.manual_seed(seed); np.random.seed(seed)
    dev = os.environ.get("DEVICE", "cuda")
    if os.environ.get("SWEEP_EPOCHS"): c["epochs"] = int(os.environ["SWEEP_EPOCHS"])
    xtr = torch.tensor(D["xtr"], device=dev); ytr = torch.tensor(D["ytr"], device=dev)
    xva = torch.tensor(D["xva"], device=dev); xte = torch.tensor(D["xte"], device=dev)
    yva, yte = D["yva"], D["yte"]
    counts = np.bincount(D["ytr"], minlength=6)
    w = torch.tensor(len(D["ytr"]) / (6 * counts) if c["cw"] else np.ones(6), dtype=torch.float32, device=dev)
    net = Net(c).to(dev)
    # Keras-like init: glorot uniform
    for m in net.modules():
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None: nn.init.zeros_(m.bias)
    opt = torch.optim.AdamW(net.parameters(), lr=c["lr"], eps=1e-7, weight_decay=c["wd"]) if c["wd"] else torch.optim.Adam(net.parameters(), lr=c["lr"], eps=1e-7)
    n = len(xtr); steps = math.ceil(n / c["bs"]); total = steps * c["epochs"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    best = (-1, None, 0)
    g = torch.Generator(device=dev); g.manual_seed(seed)
    for ep in range(c["epochs"]):
        net.train()
        perm = torch.randperm(n, device=dev, generator=g)
        for i in range(steps):
            idx = perm[i * c["bs"]:(i + 1) * c["bs"]]
            x, y = xtr[idx], ytr[idx]
            s = torch.empty(len(x), 1, 1, device=dev).uniform_(1 - c["scale"], 1 + c["scale"], generator=g)
            mu = x.mean(1, keepdim=True)
            x = mu + (x - mu) * s + torch.randn(x.shape, device=dev, generator=g) * c["noise"]
            logits = net(x)
            loss = (F.cross_entropy(logits, y, reduction="none", label_smoothing=c["ls"]) * w[y]).mean()
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sched.step()
        net.eval()
        with torch.no_grad():
            pv = net(xva).argmax(1).cpu().numpy()
            v = f1(yva, pv)
            if v > best[0]:
                pt = net(xte).argmax(1).cpu().numpy()
                best = (v, pt, ep)
    with torch.no_grad():
        pl = net(xte).argmax(1).cpu().numpy()
    params = sum(p.numel() for p in net.parameters())
    return dict(name=name, seed=seed, params=params, acc=float((best[1] == yte).mean()), f1=f1(yte, best[1]),
                last_acc=float((pl == yte).mean()), last_f1=f1(yte, pl), best_ep=best[2])


if __name__ == "__main__":
    mp.set_start_method("spawn")
    names = sys.argv[1].split(",") if len(sys.argv) > 1 and sys.argv[1] != "all" else list(CONFIGS)
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    jobs = [(n, s) for n in names for s in SEEDS]
    out = open(os.path.join(os.environ.get("OUT", "."), "results.jsonl"), "w")
    t = time.time()
    with mp.Pool(procs) as pool:
        for r in pool.imap_unordered(run, jobs):
            r["t"] = round(time.time() - t)
            print(json.dumps(r), flush=True); out.write(json.dumps(r) + "\n"); out.flush()
    rows = [json.loads(l) for l in open(os.path.join(os.environ.get("OUT", "."), "results.jsonl"))]
    print("\nconfig            acc(best-val)  acc(last)   f1(last)")
    for n in names:
        rs = [r for r in rows if r["name"] == n]
        a = [100 * r["acc"] for r in rs]; l = [100 * r["last_acc"] for r in rs]; lf = [r["last_f1"] for r in rs]
        print(f"{n:16s} {np.mean(a):6.2f}±{np.std(a):.2f}  {np.mean(l):6.2f}±{np.std(l):.2f}  {np.mean(lf):.4f}  params {rs[0]['params']}")
