"""GPU ablations for issue 7, in PyTorch: the same networks and recipe as fer_core/train.py.

Why a second trainer: on the project's 2-core CPU one 30-epoch run of the default model takes
~100 minutes, so each idea of issue 7 (mixup, FER+ soft labels, longer training, a wider
network, a teacher and distillation) could not be measured there. This script measures them
side by side on one GPU in minutes. The networks are layer for layer `fer_core.architectures.
compact_vgg` (BN eps 1e-3, momentum 0.99 in Keras terms), so `experiments/import_torch.py`
copies the weights into the Keras model, and the app runs them through the usual .tflite.

Protocol as everywhere: fit on Training, keep the epoch with the best PublicTest accuracy
(FER-2013 labels). PrivateTest never leaves the CPU machine (pack_data.py does not pack it).

    python experiments/train_torch.py --data .devdata --out OUT plan        # everything below
    python experiments/train_torch.py --data .devdata --out OUT run NAME    # one experiment
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pack_data import load_packed  # noqa: E402

COMPACT, WIDE, TEACHER = (32, 64, 128, 256), (48, 96, 192, 384), (64, 128, 256, 512)

BASE = dict(widths=COMPACT, dropout=0.4, epochs=26, polish=3, batch=64, lr=2e-3, augment=True,
            class_weight_power=0.5, label_smoothing=0.1, mixup=0.0, ferplus=0.0,
            teacher=None, kd_alpha=0.0, kd_t=1.0, budget=150.0, seed=1234, save_fp16=False)

# name -> (changes to BASE, phase). Phase 2 starts when the teacher (phase 1) is done.
EXPERIMENTS = {
    "base": (dict(), 1),                                       # the shipped default's recipe
    "mixup": (dict(mixup=0.2), 1),
    "ferplus": (dict(ferplus=0.5), 1),                         # targets: ½ FER-2013 + ½ FER+ votes
    "long": (dict(epochs=80, budget=220.0), 1),
    "wide_long": (dict(widths=WIDE, epochs=80, budget=220.0), 1),
    "teacher": (dict(widths=TEACHER, dropout=0.5, epochs=120, batch=128, mixup=0.2, budget=220.0,
                     save_fp16=True), 1),
    "kd_compact": (dict(epochs=80, mixup=0.2, teacher="teacher", kd_alpha=0.7, kd_t=2.0, budget=160.0), 2),
    "kd_wide": (dict(widths=WIDE, epochs=80, mixup=0.2, teacher="teacher", kd_alpha=0.7, kd_t=2.0,
                     budget=160.0), 2),
    # Round 2, after round 1 showed that the schedule, not the recipe, was the limit: three runs
    # side by side (less sharing of the GPU), as many epochs as ~6 minutes allow.
    "long2_compact": (dict(epochs=200, budget=340.0), 3),
    "long2_wide": (dict(widths=WIDE, epochs=200, budget=340.0), 3),
    "long2_wide_mixup": (dict(widths=WIDE, epochs=200, mixup=0.2, budget=340.0), 3),
}


# --- The network: fer_core.architectures.compact_vgg, layer for layer ------------------------

class VGG(nn.Module):
    def __init__(self, widths=COMPACT, dropout=0.4):
        super().__init__()
        layers, c_in = [], 1
        for c in widths:
            for _ in range(2):
                layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c, eps=1e-3, momentum=0.01),
                           nn.ReLU(inplace=True)]
                c_in = c
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, 7)

    def forward(self, x):  # x: [N, 1, 48, 48] in [0, 1]; returns logits
        return self.head(self.dropout(self.features(x).mean((2, 3))))


# --- Augmentation on the GPU: what fer_core.train.augmenter does with Keras layers -----------

def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n, dev = x.shape[0], x.device
    u = lambda *s: torch.rand(*s, device=dev, generator=g)  # noqa: E731
    flip = torch.where(u(n) < 0.5, -1.0, 1.0)
    angle = (u(n) * 2 - 1) * math.pi / 10  # ±18°
    zoom = 1 + (u(n) * 2 - 1) * 0.1
    tx, ty = (u(n) * 2 - 1) * 0.2, (u(n) * 2 - 1) * 0.2  # ±10% of the side (grid spans 2)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gain, bias = 0.8 + 0.4 * u(n, 1, 1, 1), -0.1 + 0.2 * u(n, 1, 1, 1)
    x = ((x - 0.5) * gain + 0.5 + bias).clamp(0, 1)
    size, cy, cx = 6 + 14 * u(n, 1, 1, 1), 48 * u(n, 1, 1, 1), 48 * u(n, 1, 1, 1)
    r = torch.arange(48, device=dev, dtype=x.dtype)
    box = ((r.view(1, 1, 48, 1) - cy).abs() < size / 2) & ((r.view(1, 1, 1, 48) - cx).abs() < size / 2)
    box &= u(n, 1, 1, 1) < 0.5
    return torch.where(box, u(*x.shape), x)


# --- One experiment ----------------------------------------------------------------------------

def load_data(folder, device):
    x, y, usage, votes = load_packed(folder)
    x = torch.from_numpy(x).float().div_(255).unsqueeze(1).to(device)
    y = torch.from_numpy(y.astype(np.int64)).to(device)
    usage = torch.from_numpy(usage.astype(np.int64)).to(device)
    votes = torch.from_numpy(votes).to(device)
    tr, va = usage == 0, usage == 1
    return x[tr], y[tr], votes[tr], x[va], y[va]


def class_weights(y, power):
    counts = torch.bincount(y, minlength=7).double()
    w = (counts.max() / counts.clamp(min=1)) ** power
    return (w / w[y].mean()).float()


def lr_at(cfg, epoch, main_epochs):
    if epoch >= main_epochs:
        return cfg["lr"] * 0.05  # polishing
    if epoch < 1:
        return cfg["lr"] / 2
    t = (epoch - 1) / max(1, main_epochs - 1)
    return cfg["lr"] * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def evaluate(model, x, y, batch=1024):
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", torch.bfloat16, enabled=x.is_cuda):
        logits = torch.cat([model(x[i : i + batch]).float() for i in range(0, len(x), batch)])
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def run(name, data_dir, out_dir, quick=False):
    changes, _ = EXPERIMENTS[name]
    cfg = {**BASE, **changes}
    if quick:  # a smoke test on the CPU: a few hundred faces, two short epochs
        cfg.update(epochs=2, polish=1, budget=60.0)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg["seed"])
    g = torch.Generator(device=dev).manual_seed(cfg["seed"])
    x_tr, y_tr, votes, x_va, y_va = load_data(data_dir, dev)
    if quick:
        x_tr, y_tr, votes, x_va, y_va = x_tr[:512], y_tr[:512], votes[:512], x_va[:256], y_va[:256]

    onehot = F.one_hot(y_tr, 7).float()
    target = onehot
    if cfg["ferplus"]:
        total = votes.sum(1, keepdim=True)
        fp = torch.where(total > 0, votes / total.clamp(min=1), onehot)  # no FER+ emotion vote: keep FER-2013
        target = (1 - cfg["ferplus"]) * onehot + cfg["ferplus"] * fp
    target = (1 - cfg["label_smoothing"]) * target + cfg["label_smoothing"] / 7
    sample_w = class_weights(y_tr, cfg["class_weight_power"])[y_tr]

    model = VGG(cfg["widths"], cfg["dropout"]).to(dev).to(memory_format=torch.channels_last)
    teacher = None
    if cfg["teacher"]:
        t_cfg = {**BASE, **EXPERIMENTS[cfg["teacher"]][0]}
        teacher = VGG(t_cfg["widths"], t_cfg["dropout"]).to(dev).to(memory_format=torch.channels_last)
        t_file = Path(out_dir) / f"{cfg['teacher']}.npz"
        teacher.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in np.load(t_file).items()
                                 if not k.startswith("_")})
        teacher.eval()
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])

    hist = {k: [] for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "lr")}
    best_acc, best_state, log = -1.0, None, []
    t_start, main_epochs = time.time(), cfg["epochs"]
    n, bs = len(x_tr), cfg["batch"]
    epoch = 0
    while epoch < main_epochs + cfg["polish"]:
        polishing = epoch >= main_epochs
        lr = lr_at(cfg, epoch, main_epochs)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, device=dev, generator=g)
        # Two tensors: one bound to both names (as before issue 14) summed loss and accuracy into each.
        tot_loss, tot_correct = torch.zeros((), device=dev), torch.zeros((), device=dev)
        for i in range(0, n - bs + 1, bs):  # drop the last partial batch
            idx = perm[i : i + bs]
            xb, tb, wb, yb = x_tr[idx], target[idx], sample_w[idx], y_tr[idx]
            if cfg["augment"] and not polishing:
                xb = augment(xb, g)
            if cfg["mixup"] and not polishing:
                lam = float(np.random.default_rng(cfg["seed"] * 100003 + epoch * 1000 + i).beta(cfg["mixup"], cfg["mixup"]))
                j = torch.randperm(bs, device=dev, generator=g)
                xb, tb, wb = lam * xb + (1 - lam) * xb[j], lam * tb + (1 - lam) * tb[j], lam * wb + (1 - lam) * wb[j]
            xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", torch.bfloat16, enabled=dev.type == "cuda"):
                logits = model(xb).float()
                if teacher is not None:
                    with torch.no_grad():
                        t_logits = teacher(xb).float()
            ce = -(tb * F.log_softmax(logits, 1)).sum(1)
            loss = (wb * ce).mean()
            if teacher is not None:
                T = cfg["kd_t"]
                kd = F.kl_div(F.log_softmax(logits / T, 1), F.log_softmax(t_logits / T, 1), log_target=True,
                              reduction="none").sum(1) * T * T
                loss = (1 - cfg["kd_alpha"]) * loss + cfg["kd_alpha"] * kd.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += loss.detach() * bs  # summed on the GPU: no sync per step
            tot_correct += (logits.argmax(1) == yb).sum()
        seen = (n // bs) * bs
        tot_loss, tot_correct = float(tot_loss), float(tot_correct)
        val_loss, val_acc = evaluate(model, x_va, y_va)
        secs = time.time() - t0
        for k, v in zip(hist, (epoch + 1, tot_loss / seen, tot_correct / seen, val_loss, val_acc, secs, lr)):
            hist[k].append(v if k == "epoch" else round(float(v), 5))
        if val_acc > best_acc:
            best_acc = val_acc
            best_state = {k: v.detach().float().cpu().numpy().copy() for k, v in model.state_dict().items()}
        line = (f"{name} epoch {epoch + 1}/{main_epochs + cfg['polish']} loss {tot_loss / seen:.4f} "
                f"acc {tot_correct / seen:.4f} val_loss {val_loss:.4f} val_acc {val_acc:.4f} {secs:.1f}s")
        log.append(line)
        print(line, flush=True)
        epoch += 1
        elapsed = time.time() - t_start
        if epoch == 3 and not polishing:
            # Fit the schedule into the time budget (the GPU is shared by several experiments),
            # from the third epoch's time (the first two include start-up and cuDNN's tuning).
            per_epoch = secs * 1.08
            fit = int((cfg["budget"] - elapsed) / per_epoch) + epoch - cfg["polish"]
            if fit < main_epochs:
                main_epochs = max(min(3, main_epochs), fit)
                log.append(f"{name}: budget {cfg['budget']}s fits {main_epochs} main epochs")
                print(log[-1], flush=True)
        if elapsed > cfg["budget"] * 1.15 and epoch < main_epochs:
            log.append(f"{name}: over budget, going to polishing after epoch {epoch}")
            main_epochs = epoch
    save(Path(out_dir) / f"{name}.npz", best_state, cfg, hist, log, main_epochs, best_acc)
    return best_acc


def save(path, state, cfg, hist, log, main_epochs, best_acc):
    arrays = {k: (v.astype(np.float16) if cfg["save_fp16"] and v.dtype == np.float32 else v) for k, v in state.items()}
    meta = dict(config={**cfg, "epochs_run": main_epochs}, history=hist, log=log, best_val_accuracy=best_acc,
                device=torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", torch=torch.__version__)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, _meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


# --- The plan: phase 1 side by side, phase 2 once the teacher exists ---------------------------

def plan(data_dir, out_dir, quick=False, phases=(1, 2)):
    me = [sys.executable, os.path.abspath(__file__), "--data", data_dir, "--out", out_dir] + (["--quick"] if quick else [])
    procs = {}
    for phase in phases:
        for name, (_, p) in EXPERIMENTS.items():
            if p == phase:
                procs[name] = subprocess.Popen(me + ["run", name])
        if phase == 1 and 2 in phases:
            procs["teacher"].wait()
    codes = {name: p.wait() for name, p in procs.items()}
    print("exit codes:", codes, flush=True)
    for f in sorted(Path(out_dir).glob("*.npz")):
        meta = json.loads(str(np.load(f)["_meta"]))
        print(f"{f.stem:12s} PublicTest {meta['best_val_accuracy']:.4f}  epochs {meta['config']['epochs_run']}"
              f"+{meta['config']['polish']}  {sum(meta['history']['seconds']):.0f}s", flush=True)
    return 0 if all(c == 0 for c in codes.values()) else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--round", type=int, default=1, help="1: round 1 (phases 1 and 2); 2: round 2")
    ap.add_argument("what", choices=["plan", "run"])
    ap.add_argument("name", nargs="?")
    a = ap.parse_args()
    Path(a.out).mkdir(parents=True, exist_ok=True)
    sys.exit(plan(a.data, a.out, a.quick, (1, 2) if a.round == 1 else (3,)) if a.what == "plan" else (run(a.name, a.data, a.out, a.quick) and 0))
