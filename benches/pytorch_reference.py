#!/usr/bin/env python3
"""PyTorch twin of `cargo run --release -p trainer -- bench`.

Times the same three architectures (the project's default CNN, reference nets A and B) with the
same work as the Rust side: random 28x28 images, batch 128, Adam (lr 1e-3), cross-entropy, a
warm-up, then a fixed number of timed training steps and inference batches, on the CPU with
one thread per core. Prints a table, or with --json an array with the keys of the Rust side
(model, backend, batch, parameters, train_img_s, infer_img_s, steps).

With --burn FILE (the Rust side's --json output) it prints, per model, burn's throughput
as a multiple of PyTorch's.
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn


def default_model(width=1.0):
    # crates/model CnnConfig::default(): stages (channels x convs) 16x1, 64x2, 128x2; each
    # conv 3x3 "same" without bias, then batch norm and ReLU; 2x2 max-pool between stages;
    # global average pooling, dropout 0.1, linear classifier. `width` scales the channels as
    # CnnConfig::widened does (rounded half away from zero, at least 1).
    layers, cin = [], 1
    stages = [(max(1, int(c * width + 0.5)), n) for c, n in [(16, 1), (64, 2), (128, 2)]]
    for s, (channels, convs) in enumerate(stages):
        for _ in range(convs):
            layers += [
                nn.Conv2d(cin, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
            ]
            cin = channels
        if s + 1 < len(stages):
            layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(cin, 10)]
    return nn.Sequential(*layers)


def model_a():
    # crates/model/src/reference_nets.rs, ReferenceArch::A
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(128, 10),
    )


def model_b():
    # crates/model/src/reference_nets.rs, ReferenceArch::B
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )


MODELS = {"default": default_model, "A": model_a, "B": model_b}


def parameters(model):
    # burn counts batch norm's running mean and variance as parameters; count them too so
    # the two sides print the same number.
    trainable = sum(p.numel() for p in model.parameters())
    running = sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d)
    )
    return trainable + running


def measure(name, batch, warmup, steps):
    torch.manual_seed(0)
    model = MODELS[name]()
    images = torch.rand(batch, 1, 28, 28)
    labels = torch.arange(batch) % 10
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        loss.item()
    train = steps * batch / (time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        for step in range(warmup + steps):
            if step == warmup:
                start = time.perf_counter()
            model(images).numpy()
    infer = steps * batch / (time.perf_counter() - start)
    return {
        "model": name,
        "backend": "pytorch",
        "batch": batch,
        "parameters": parameters(model),
        "train_img_s": train,
        "infer_img_s": infer,
        "steps": steps,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="default,A,B")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--burn", help="the JSON of `trainer bench --json`, to print ratios")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models.split(","):
        row = measure(name, args.batch, args.warmup, args.steps)
        print(f"{name} on pytorch: train {row['train_img_s']:.0f} img/s, "
              f"inference {row['infer_img_s']:.0f} img/s", file=sys.stderr)
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("| model | batch | parameters | train img/s | inference img/s |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['model']} | {r['batch']} | {r['parameters']} | "
                  f"{r['train_img_s']:.0f} | {r['infer_img_s']:.0f} |")
    if args.burn:
        with open(args.burn) as f:
            burn_rows = json.load(f)
        torch_rows = {r["model"]: r for r in rows}
        print(f"\nburn / PyTorch ({args.threads} threads, batch {args.batch}):", file=sys.stderr)
        print("| model | burn backend | train img/s burn | train img/s PyTorch | train ratio | inference ratio |")
        print("|---|---|---|---|---|---|")
        for b in burn_rows:
            t = torch_rows.get(b["model"])
            if t is None:
                continue
            if b["parameters"] != t["parameters"]:
                sys.exit(f"model {b['model']}: {b['parameters']} parameters in burn, "
                         f"{t['parameters']} in PyTorch: not the same architecture")
            print(f"| {b['model']} | {b['backend']} ({b.get('conv', 'burn')} kernels) | {b['train_img_s']:.0f} | "
                  f"{t['train_img_s']:.0f} | {b['train_img_s'] / t['train_img_s']:.2f}x | "
                  f"{b['infer_img_s'] / t['infer_img_s']:.2f}x |")


if __name__ == "__main__":
    main()
