#!/usr/bin/env python3
"""PyTorch twin of the trainer's training recipe, for accuracy per epoch.

Trains the project's default CNN (benches/pytorch_reference.py's `default_model`, the same
architecture as crates/model's default) on Fashion-MNIST with the trainer's recipe: the same
TRAIN/VALIDATION split (the indices `cargo run -p trainer --example split_indices -- SEED`
prints), batch 128 with the last partial batch dropped, a fresh shuffle every epoch, random
shifts of up to 2 pixels with a black border and horizontal flips, the trainer's pixel
normalisation, SGD with Nesterov momentum 0.9 and weight decay 5e-4 on every parameter, the
learning rate warmed up over 3% of the steps from a tenth of the peak (0.1) and then decayed
linearly to zero at the last step, cross-entropy (optionally smoothed). After every epoch it
measures VALIDATION accuracy on the plain images, as the trainer does, and keeps the weights
of the best epoch, as the trainer does; at the end it measures those on VALIDATION and TEST,
plain and averaged with the mirror image.

With --burn-run REPORTS/NAME and --burn-model MODELS/NAME (a trainer run of the same epochs,
width, smoothing and seed, see benches/accuracy.sh) it prints both side by side; it refuses,
before training, a run that trained anything else or whose learning rate followed its clock.
"""
import argparse
import copy
import csv
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_reference import default_model  # noqa: E402

# crates/fmnist/src/augment.rs
MEAN, STD = 0.2860, 0.3530
SIDE = 28


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows, cols)
    if magic == 2049:
        return np.frombuffer(data, np.uint8, offset=8)
    sys.exit(f"{path}: not an IDX file of images or labels (magic {magic})")


def load(data_dir):
    def part(name):
        # Compressed as distributed, or decompressed, as the trainer accepts either.
        for path in (os.path.join(data_dir, name + ".gz"), os.path.join(data_dir, name)):
            if os.path.exists(path):
                return read_idx(path)
        sys.exit(f"{os.path.join(data_dir, name)}[.gz] is missing: pass --data-dir with the "
                 "four Fashion-MNIST files (Debian's dataset-fashion-mnist has them)")

    return (
        part("train-images-idx3-ubyte"),
        part("train-labels-idx1-ubyte"),
        part("t10k-images-idx3-ubyte"),
        part("t10k-labels-idx1-ubyte"),
    )


def normalise(images):
    return torch.from_numpy((images.astype(np.float32) / 255.0 - MEAN) / STD).unsqueeze(1)


def augment(images, rng, pad=2):
    """Random shift of up to `pad` pixels each way (black border), then a coin-flip mirror."""
    count = len(images)
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    dy = rng.integers(0, 2 * pad + 1, count)
    dx = rng.integers(0, 2 * pad + 1, count)
    span = np.arange(SIDE)
    rows = (dy[:, None] + span)[:, :, None]
    cols = (dx[:, None] + span)[:, None, :]
    out = padded[np.arange(count)[:, None, None], rows, cols]
    flip = rng.random(count) < 0.5
    out = np.where(flip[:, None, None], out[:, :, ::-1], out)
    return normalise(out)


def learning_rate(progress, peak=0.1, warmup=0.03, warmup_start=0.1):
    # crates/trainer/src/schedule.rs, LrSchedule::default()
    if progress < warmup:
        start = peak * warmup_start
        return start + (peak - start) * progress / warmup
    return peak * (1.0 - (progress - warmup) / (1.0 - warmup))


def evaluate(model, images, labels, mirror=False, batch=500):
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = normalise(images[start:start + batch])
            y = torch.from_numpy(labels[start:start + batch].astype(np.int64))
            probabilities = torch.softmax(model(x), dim=1)
            if mirror:
                probabilities = 0.5 * (probabilities + torch.softmax(model(x.flip(3)), dim=1))
            loss += nn.functional.nll_loss(
                probabilities.clamp_min(1e-12).log(), y, reduction="sum").item()
            correct += (probabilities.argmax(1) == y).sum().item()
    return correct / len(images), loss / len(images)


def burn_side(run_dir, model_dir, args, steps_per_epoch):
    """The trainer's run, refused unless it trained what this script is about to."""
    with open(os.path.join(model_dir, "model.json")) as f:
        card = json.load(f)
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    training = card.get("training", {})
    channels = [stage["channels"] for stage in card.get("model", {}).get("stages", [])]
    expected_channels = [
        layer.out_channels for layer in default_model(args.width)
        if isinstance(layer, nn.Conv2d)]
    found = {
        "seed": card.get("seed"),
        "epochs": card.get("epochs_completed"),
        "max_epochs": training.get("max_epochs"),
        "label smoothing": training.get("label_smoothing"),
        "batch": training.get("batch_size"),
        "augmentation": training.get("augmentation"),
        "channels": sorted(set(channels)),
    }
    wanted = {
        "seed": args.seed,
        "epochs": float(args.epochs),
        "max_epochs": args.epochs,
        "label smoothing": args.label_smoothing,
        "batch": 128,
        "augmentation": {"crop_padding": 2, "horizontal_flip": True, "random_erasing": 0.0},
        "channels": sorted(set(expected_channels)),
    }
    differ = [k for k in wanted
              if not (found[k] == wanted[k] or (isinstance(found[k], float)
                                                and abs(found[k] - wanted[k]) < 1e-6))]
    if differ:
        sys.exit(f"{model_dir} trained something else ({', '.join(differ)}): "
                 + ", ".join(f"{k} {found[k]} against {wanted[k]}" for k in differ))
    history = {}
    total_steps = args.epochs * steps_per_epoch
    with open(os.path.join(run_dir, "history.csv")) as f:
        for row in csv.DictReader(f):
            # With --max-epochs the trainer's learning rate follows the step count unless
            # its budget was so short that the clock ran ahead: then the schedules differ.
            steps = int(row["steps"])
            expected = learning_rate((steps - 1) / total_steps)
            if abs(float(row["learning_rate"]) - expected) > 1e-4:
                sys.exit(f"{run_dir}: learning rate {row['learning_rate']} at step {steps}, "
                         f"not the step-count schedule's {expected:.6f}: its budget was too "
                         "short for the epochs; give it a longer one (BUDGET)")
            if float(row["epochs_completed"]) == int(row["epoch"]):
                history[int(row["epoch"])] = row
    return history, card, metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--validation-indices", required=True,
                        help="VALIDATION indices, one per line (the split_indices example)")
    parser.add_argument("--data-dir", help="the four Fashion-MNIST files (default: the "
                        "trainer run's, else /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--burn-run", help="the trainer's reports/NAME of the same training")
    parser.add_argument("--burn-model", help="the trainer's models/NAME of the same training")
    parser.add_argument("--json", help="write the per-epoch rows and final figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    compared = bool(args.burn_run and args.burn_model)
    data_dir = args.data_dir or "/usr/share/datasets/fashion-mnist"
    if compared and not args.data_dir:
        with open(os.path.join(args.burn_model, "model.json")) as f:
            data_dir = json.load(f).get("dataset", {}).get("dir") or data_dir
    train_images, train_labels, test_images, test_labels = load(data_dir)
    with open(args.validation_indices) as f:
        validation = np.array(sorted(int(line) for line in f if line.strip()), dtype=np.int64)
    if len(validation) == 0 or validation.max() >= len(train_images):
        sys.exit(f"{args.validation_indices}: no VALIDATION indices within the training set")
    is_validation = np.zeros(len(train_images), bool)
    is_validation[validation] = True
    train = np.flatnonzero(~is_validation)
    validation_images, validation_labels = train_images[validation], train_labels[validation]

    model = default_model(args.width)
    batch = 128
    steps_per_epoch = len(train) // batch
    total_steps = args.epochs * steps_per_epoch
    if compared:
        # Checked before training, so that a mismatch costs nothing.
        history, card, metrics = burn_side(args.burn_run, args.burn_model, args,
                                           steps_per_epoch)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    rows, step = [], 0
    best_accuracy, best_state, best_epoch = -1.0, None, 0
    print(f"PyTorch {torch.__version__}, {args.threads} threads: width {args.width}, "
          f"{len(train)} TRAIN, {len(validation)} VALIDATION, {args.epochs} epochs of "
          f"{steps_per_epoch} steps", file=sys.stderr)
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = rng.permutation(train)
        started, loss_sum = time.perf_counter(), 0.0
        for i in range(steps_per_epoch):
            chosen = order[i * batch:(i + 1) * batch]
            x = augment(train_images[chosen], rng)
            y = torch.from_numpy(train_labels[chosen].astype(np.int64))
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step / total_steps)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            step += 1
            if not math.isfinite(loss_sum):
                sys.exit(f"diverged at step {step}")
        seconds = time.perf_counter() - started
        accuracy, validation_loss = evaluate(
            model, validation_images, validation_labels)
        if accuracy > best_accuracy:
            best_accuracy, best_state = accuracy, copy.deepcopy(model.state_dict())
            best_epoch = epoch
        rows.append({
            "epoch": epoch,
            "train_loss": loss_sum / steps_per_epoch,
            "validation_loss": validation_loss,
            "validation_accuracy": accuracy,
            "train_images_per_second": steps_per_epoch * batch / seconds,
        })
        print(f"epoch {epoch}: train loss {rows[-1]['train_loss']:.4f}, validation "
              f"{accuracy:.4f} (loss {validation_loss:.4f}), {rows[-1]['train_images_per_second']:.0f} "
              "training img/s", file=sys.stderr)

    model.load_state_dict(best_state)
    final = {
        # The kept epoch's own pass: its weights, its figure.
        "validation_plain": best_accuracy,
        "validation_mirrored": evaluate(
            model, validation_images, validation_labels, mirror=True)[0],
        "test_plain": evaluate(model, test_images, test_labels)[0],
        "test_mirrored": evaluate(model, test_images, test_labels, mirror=True)[0],
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"epochs": rows, "best_epoch": best_epoch, "final": final,
                       "torch": torch.__version__}, f, indent=2)

    if not compared:
        print("| epoch | validation accuracy | validation loss | train loss |")
        print("|---|---|---|---|")
        for r in rows:
            print(f"| {r['epoch']} | {100 * r['validation_accuracy']:.2f}% | "
                  f"{r['validation_loss']:.4f} | {r['train_loss']:.4f} |")
        print(json.dumps(final, indent=2))
        return

    print(f"VALIDATION accuracy (plain images) after each epoch, seed {args.seed}, width "
          f"{args.width}, label smoothing {args.label_smoothing}:")
    print("| epoch | burn (trainer) | PyTorch | burn - PyTorch | burn validation loss | "
          "PyTorch validation loss | burn training img/s | PyTorch training img/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        b = history.get(r["epoch"])
        if b is None:
            continue
        burn_accuracy = float(b["validation_accuracy"])
        print(f"| {r['epoch']} | {100 * burn_accuracy:.2f}% | {100 * r['validation_accuracy']:.2f}% "
              f"| {100 * (burn_accuracy - r['validation_accuracy']):+.2f} | "
              f"{float(b['validation_loss']):.4f} | {r['validation_loss']:.4f} | "
              f"{float(b['train_images_per_second']):.0f} | {r['train_images_per_second']:.0f} |")
    mirror = card.get("test_time_mirror") or {}
    burn_best = (card.get("best_validation") or {}).get("epoch", "?")
    print(f"\n| the weights each side kept (best VALIDATION epoch: burn {burn_best}, PyTorch "
          f"{best_epoch}) | burn (trainer) | PyTorch |")
    print("|---|---|---|")
    print(f"| VALIDATION, plain | {100 * mirror.get('validation_accuracy_plain', float('nan')):.2f}% "
          f"| {100 * final['validation_plain']:.2f}% |")
    print(f"| VALIDATION, with the mirror | "
          f"{100 * mirror.get('validation_accuracy_mirrored', float('nan')):.2f}% | "
          f"{100 * final['validation_mirrored']:.2f}% |")
    print(f"| TEST, plain | - | {100 * final['test_plain']:.2f}% |")
    print(f"| TEST, with the mirror | - | {100 * final['test_mirrored']:.2f}% |")
    views = ("ten views" if mirror.get("shifted")
             else "with the mirror" if mirror.get("enabled") else "plain")
    print(f"| TEST, as the trainer reports it ({views}) | {100 * metrics['accuracy']:.2f}% | - |")


if __name__ == "__main__":
    main()
