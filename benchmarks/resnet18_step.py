"""CPU time of one resnet18 training step by image size: the figure behind digits-kaggle's 16x16.

torchvision's resnet18(num_classes=10), batch 64 of 3-channel images, one torch thread; CPU time
(time.process_time, so a shared machine's load inflates it less than wall time) per step for the
forward and backward pass, and for the step of the 2023 recipe's Adam and of a notebook's SGD:

    python benchmarks/resnet18_step.py --sizes 8 16 32 --steps 20

The last line gives the retrain estimate of a recipe: steps per epoch x epochs x (forward and
backward + Adam) at the first size.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.models import resnet18


def cpu_ms_per_call(function, calls: int, warm_up: int = 3) -> float:
    for _ in range(warm_up):
        function()
    start = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - start) / calls * 1000


def measure(size: int, steps: int, batch: int) -> dict[str, float]:
    torch.manual_seed(0)
    net = resnet18(weights=None, num_classes=10)
    images = torch.rand(batch, 3, size, size) * 255
    labels = torch.randint(0, 10, (batch,))

    def forward_backward() -> None:
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(images), labels).backward()

    figures = {"forward_backward_ms": cpu_ms_per_call(forward_backward, steps)}
    for name, optimizer in (
        ("adam_ms", torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=5e-3)),
        ("sgd_ms", torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)),
    ):
        figures[name] = cpu_ms_per_call(optimizer.step, steps)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32], help="image sizes (pixels per side)")
    parser.add_argument("--steps", type=int, default=20, help="timed calls per figure")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--train-examples", type=int, default=488, help="for the retrain estimate (digits-kaggle's retain set)")
    parser.add_argument("--epochs", type=int, default=60, help="for the retrain estimate (digits-kaggle's recipe)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for size in args.sizes:
        figures = measure(size, args.steps, args.batch)
        results[size] = figures
        print(
            f"{size}x{size}: forward+backward {figures['forward_backward_ms']:.1f} ms, Adam step {figures['adam_ms']:.1f} ms, "
            f"SGD step {figures['sgd_ms']:.1f} ms (CPU time, batch {args.batch}, 1 thread)",
            flush=True,
        )
    first = results[args.sizes[0]]
    steps = math.ceil(args.train_examples / args.batch) * args.epochs
    seconds = steps * (first["forward_backward_ms"] + first["adam_ms"]) / 1000
    if args.json:
        args.json.write_text(json.dumps({"sizes": results, "retrain_estimate_seconds": seconds}, indent=2))
    print(f"retrain estimate at {args.sizes[0]}x{args.sizes[0]}: {steps} steps, {seconds:.1f} s CPU")


if __name__ == "__main__":
    main()
