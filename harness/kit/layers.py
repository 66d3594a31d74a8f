"""Layers found generically, and re-initialisation."""

from __future__ import annotations

import copy

import torch
from torch import nn


WEIGHT_LAYER_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def weight_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """Convolution and linear layers as (name, module), in registration order.

    Registration order is the order of the forward pass for every architecture the harness ships
    (torchvision's resnet18 and its CIFAR variant, the digits CNN); a model that registers layers
    out of order should pass its own layers to the functions that take them.
    """
    return [(name, module) for name, module in net.named_modules() if isinstance(module, WEIGHT_LAYER_TYPES)]


def conv_layers(net: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """All 2-D convolutions as (name, module), in registration order."""
    return [(name, module) for name, module in net.named_modules() if isinstance(module, nn.Conv2d)]


def first_layer(net: nn.Module) -> tuple[str, nn.Module]:
    """The input layer: the first convolution or linear layer."""
    layers = weight_layers(net)
    if not layers:
        raise ValueError(f"{type(net).__name__} has no convolution or linear layer")
    return layers[0]


def last_layer(net: nn.Module) -> tuple[str, nn.Linear]:
    """The classifier: the last linear layer."""
    linears = [(name, module) for name, module in net.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(net).__name__} has no linear layer to serve as its classifier")
    return linears[-1]


def reinitialize(module: nn.Module) -> nn.Module:
    """Re-draw the parameters of `module` and every submodule with their default initialisation.

    Uses each layer's own `reset_parameters` (which also resets batch-norm running statistics),
    so the result is distributed like a freshly built model; randomness comes from torch's RNG.
    """
    for submodule in module.modules():
        reset = getattr(submodule, "reset_parameters", None)
        if callable(reset):
            reset()
    return module


def fresh_parameters(layer: nn.Module) -> dict[str, torch.Tensor]:
    """Newly initialised values for a layer's own parameters, leaving the layer itself unchanged."""
    fresh = reinitialize(copy.deepcopy(layer))
    return {name: parameter.detach() for name, parameter in fresh.named_parameters(recurse=False)}
