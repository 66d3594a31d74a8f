"""The model architectures a competition may name, without importing torch.

Each entry's `target` is the builder (harness.training.architectures), called as
`builder(num_classes=..., in_channels=...)`; `pool_stacking` names the device types on which the
retrain pool trains it stacked by default, where that was measured faster than one model at a time
(benchmarks/RESULTS.md, "Pool throughput": small CNNs on CPU; resnet18 trains slower stacked on CPU,
0.65x; no GPU has been measured yet, benchmarks/gpu_suite.sh does it).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.registry import Registry

BUILDERS = "harness.training.architectures"


@dataclass(frozen=True)
class ArchitectureInfo:
    name: str
    target: str  # "module:builder"
    description: str
    pool_stacking: tuple[str, ...] = ()  # device types ("cpu", "cuda") the pool stacks it on by default


ARCHITECTURES: Registry[ArchitectureInfo] = Registry("architecture", [
    ArchitectureInfo("resnet18", f"{BUILDERS}:torchvision_resnet18", "torchvision's resnet18, as the 2023 scorer builds it"),
    ArchitectureInfo("resnet18_cifar", f"{BUILDERS}:cifar_resnet18", "resnet18 with the CIFAR stem (3x3 stride-1, no max-pool)"),
    ArchitectureInfo("small_cnn", f"{BUILDERS}:SmallCNN", "a small CNN for 8x8 digits", pool_stacking=("cpu",)),
])
