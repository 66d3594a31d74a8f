"""Fold K models of one architecture into one network that runs all K at once, and back.

The folded ("stacked") network keeps the original module tree and forward code; only its leaves
change. Every per-model activation [B, C, H, W] becomes one slice of a wide activation
[B, K*C, H, W], model k owning channels k*C .. (k+1)*C - 1 (model-major). Then:

- a convolution becomes one grouped convolution with K times the groups (weights concatenated);
- a BatchNorm2d becomes one BatchNorm2d over K*C channels: each channel's batch statistics and
  running statistics only ever see its own model's activations, so training and eval semantics
  are exactly those of the K separate layers;
- a Linear becomes a batched matrix product over [B, K, in];
- channel-wise leaves (ReLU, pooling, identity, dropout) and the containers' own code (residual
  additions, flatten) work unchanged on the wide tensor.

Every stacked tensor is model-major along dim 0 (model k owns the k-th equal block of rows; a
stacked Linear keeps [K, out, in]): per-model checkpointing and `unstack` rely on that. A forward
that mixes channels in its own code (a channel shuffle, a concatenation) would silently break the
separation; `verify_stackable` catches it by comparing a stack of two fresh copies of the model
with the copies themselves.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from harness.errors import ConfigError

# Leaves that act on every channel independently (or have no channels at all): kept as they are.
CHANNELWISE_LEAVES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Identity,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Dropout,
    nn.Dropout2d,
)


class StackedConv2d(nn.Conv2d):
    """K Conv2d layers of one shape as one grouped convolution (model-major channels)."""

    n_models: int

    @classmethod
    def from_modules(cls, convs: Sequence[nn.Conv2d]) -> "StackedConv2d":
        first, k = convs[0], len(convs)
        stacked = cls(
            first.in_channels * k,
            first.out_channels * k,
            first.kernel_size,
            stride=first.stride,
            padding=first.padding,
            dilation=first.dilation,
            groups=first.groups * k,
            bias=first.bias is not None,
            padding_mode=first.padding_mode,
            device="meta",
        )
        stacked.n_models = k
        stacked.weight = nn.Parameter(torch.cat([conv.weight.detach() for conv in convs]))
        if first.bias is not None:
            stacked.bias = nn.Parameter(torch.cat([conv.bias.detach() for conv in convs]))
        return stacked


class StackedBatchNorm2d(nn.BatchNorm2d):
    """K BatchNorm2d layers as one over K*C channels: per-channel statistics keep models apart."""

    n_models: int

    @classmethod
    def from_modules(cls, norms: Sequence[nn.BatchNorm2d]) -> "StackedBatchNorm2d":
        first, k = norms[0], len(norms)
        stacked = cls(first.num_features * k, eps=first.eps, momentum=first.momentum, affine=first.affine, track_running_stats=first.track_running_stats, device="meta")
        stacked.n_models = k
        if first.affine:
            stacked.weight = nn.Parameter(torch.cat([norm.weight.detach() for norm in norms]))
            stacked.bias = nn.Parameter(torch.cat([norm.bias.detach() for norm in norms]))
        if first.track_running_stats:
            stacked.running_mean = torch.cat([norm.running_mean for norm in norms])
            stacked.running_var = torch.cat([norm.running_var for norm in norms])
            # The models were trained in lock step, so their counters agree; only momentum=None reads it.
            stacked.num_batches_tracked = first.num_batches_tracked.clone()
        return stacked


class StackedLinear(nn.Module):
    """K Linear layers as one batched product: [..., K*in] -> [..., K*out] (model-major)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.n_models, self.out_features, self.in_features = weight.shape
        self.weight = nn.Parameter(weight)  # [K, out, in]
        self.bias = nn.Parameter(bias) if bias is not None else None  # [K, out]

    @classmethod
    def from_modules(cls, linears: Sequence[nn.Linear]) -> "StackedLinear":
        weight = torch.stack([linear.weight.detach() for linear in linears])
        bias = torch.stack([linear.bias.detach() for linear in linears]) if linears[0].bias is not None else None
        return cls(weight, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        per_model = x.reshape(-1, self.n_models, self.in_features).transpose(0, 1)  # [K, rows, in]
        out = torch.bmm(per_model, self.weight.transpose(1, 2))  # [K, rows, out]
        if self.bias is not None:
            out = out + self.bias.unsqueeze(1)
        return out.transpose(0, 1).reshape(*lead, self.n_models * self.out_features)

    def extra_repr(self) -> str:
        return f"n_models={self.n_models}, in_features={self.in_features}, out_features={self.out_features}"


_STACKERS: dict[type[nn.Module], type] = {
    nn.Conv2d: StackedConv2d,
    nn.BatchNorm2d: StackedBatchNorm2d,
    nn.Linear: StackedLinear,
}


class StackedModel(nn.Module):
    """K models of one architecture running as one network on model-major wide tensors.

    `forward` takes per-model inputs [K, B, C, H, W] (each model its own batch) or one shared batch
    [B, C, H, W] (every model sees the same examples, as in evaluation) and returns logits
    [K, B, classes]. `unstack()` gives the K separate models back.
    """

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        if len(models) == 0:
            raise ValueError("stack_models needs at least one model")
        _check_same_architecture(models)
        self.n_models = len(models)
        self.channels_last = False
        # The separate architecture on the meta device (no memory): unstack() copies its structure.
        self._template = [copy.deepcopy(models[0]).to("meta")]
        self.network = _stack_tree(models)

    def use_channels_last(self) -> "StackedModel":
        """Keep weights and wide activations in channels_last memory (faster convolutions)."""
        self.network.to(memory_format=torch.channels_last)
        self.channels_last = True
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wide = self.fold_inputs(x) if x.dim() == 5 else self.share_input(x)
        logits = self.network(wide)  # [B, K * classes]
        return logits.view(logits.shape[0], self.n_models, -1).transpose(0, 1)

    def fold_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """[K, B, C, H, W] -> [B, K*C, H, W] in the network's memory format (one copy)."""
        k, b, c, h, w = x.shape
        if k != self.n_models:
            raise ValueError(f"got inputs for {k} models, the stack has {self.n_models}")
        if self.channels_last:
            # Straight into NHWC memory: [B, H, W, K, C] is [B, K*C, H, W] in channels_last.
            return x.permute(1, 3, 4, 0, 2).contiguous().view(b, h, w, k * c).permute(0, 3, 1, 2)
        return x.transpose(0, 1).reshape(b, k * c, h, w)

    def share_input(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] seen by every model -> [B, K*C, H, W]."""
        wide = x.repeat(1, self.n_models, 1, 1)
        return wide.contiguous(memory_format=torch.channels_last) if self.channels_last else wide

    def model_state(self, index: int) -> dict[str, torch.Tensor]:
        """Model `index`'s state dict (CPU, contiguous copies), keyed as the separate architecture's."""
        if not 0 <= index < self.n_models:
            raise IndexError(f"model index {index} out of range for a stack of {self.n_models}")
        shapes = {name: tensor.shape for name, tensor in self._template[0].state_dict().items()}
        return {
            name: model_rows(tensor, self.n_models, index).detach().to("cpu", copy=True).reshape(shapes[name]).contiguous()
            for name, tensor in self.network.state_dict().items()
        }

    def unstack(self) -> list[nn.Module]:
        """The K separate models (CPU, eval mode), each with its own copy of its weights."""
        models = []
        for index in range(self.n_models):
            model = copy.deepcopy(self._template[0]).to_empty(device="cpu")
            model.load_state_dict(self.model_state(index))
            models.append(model.eval())
        return models


def stack_models(models: Sequence[nn.Module]) -> StackedModel:
    """One StackedModel holding copies of `models` (same architecture, same shapes), on their device."""
    return StackedModel(models)


def model_rows(tensor: torch.Tensor, n_models: int, index: int) -> torch.Tensor:
    """Model `index`'s rows of a stacked tensor (model-major along dim 0); 0-d counters are shared."""
    if tensor.dim() == 0:
        return tensor
    part = tensor.shape[0] // n_models
    return tensor[index * part : (index + 1) * part]


@torch.no_grad()
def copy_selected_models(target: dict[str, torch.Tensor], source: dict[str, torch.Tensor], selected: torch.Tensor) -> None:
    """In place: for each model k with selected[k], target's rows of every tensor := source's rows.

    `selected` is a bool tensor [K] on the tensors' device; shared counters (0-d) follow any selection.
    Works in any memory format (rows are indexed along dim 0, never viewed flat).
    """
    models = selected.nonzero().flatten()
    if len(models) == 0:
        return
    n_models = selected.shape[0]
    for name, tensor in target.items():
        if tensor.dim() == 0:
            tensor.copy_(source[name])
            continue
        part = tensor.shape[0] // n_models
        rows = (models.unsqueeze(1) * part + torch.arange(part, device=models.device)).flatten()
        tensor.index_copy_(0, rows, source[name].index_select(0, rows))


@torch.no_grad()
def check_stacked(stacked: StackedModel, models: Sequence[nn.Module], inputs: torch.Tensor, *, tolerance: float = 1e-3) -> None:
    """Raise ConfigError unless the stacked network gives each model's own eval-mode logits on `inputs`.

    Run once before training or evaluating a stack: it proves that the architecture's forward code
    keeps the models' channels apart (see the module docstring).
    """
    was_training = stacked.training
    stacked.eval()
    stacked_logits = stacked(inputs).float()
    stacked.train(was_training)
    for index, model in enumerate(models):
        model_was_training = model.training
        expected = model.eval()(inputs).float()
        model.train(model_was_training)
        scale = 1.0 + float(expected.abs().max())
        error = float((stacked_logits[index] - expected).abs().max()) / scale
        if not error <= tolerance:
            raise ConfigError(
                f"{type(models[0]).__name__} cannot be trained as a stack: the stacked network's logits differ from "
                f"model {index}'s by {error:.2g} (relative); its forward mixes channels across models. "
                "Train it one model at a time (harness.training.trainer.train_model)."
            )


def verify_stackable(model: nn.Module, inputs: torch.Tensor, *, seed: int = 0) -> None:
    """Raise ConfigError unless `model`'s architecture keeps stacked models apart (see check_stacked).

    Checks two freshly initialised copies of `model` (never the caller's weights, whose logits may be
    ill-conditioned) on `inputs` [n, C, H, W], all on the CPU.
    """
    copies = [_freshly_initialised(model, seed + offset) for offset in range(2)]
    check_stacked(stack_models(copies), copies, inputs.detach().to("cpu", torch.float32))


def _freshly_initialised(model: nn.Module, seed: int) -> nn.Module:
    fresh = copy.deepcopy(model).to("cpu", torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in fresh.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()  # BatchNorm's also resets its running statistics
    return fresh.eval()


def _check_same_architecture(models: Sequence[nn.Module]) -> None:
    first = models[0]
    shapes = {name: (tensor.shape, tensor.dtype) for name, tensor in first.state_dict().items()}
    for index, model in enumerate(models[1:], start=1):
        if type(model) is not type(first):
            raise ValueError(f"model {index} is a {type(model).__name__}, model 0 a {type(first).__name__}: stack models of one architecture")
        other = {name: (tensor.shape, tensor.dtype) for name, tensor in model.state_dict().items()}
        if other != shapes:
            differing = next(name for name in sorted(set(shapes) | set(other)) if shapes.get(name) != other.get(name))
            raise ValueError(f"model {index} differs from model 0 at {differing!r}: stack models of one architecture")


def _stack_tree(models: Sequence[nn.Module]) -> nn.Module:
    """A copy of models[0]'s tree in which every leaf holds the K models' leaves stacked."""
    template = models[0]
    children = list(template.named_children())
    if not children:
        return _stack_leaf(models, path=type(template).__name__)
    stacked = copy.copy(template)  # shallow: same class and attributes, own child registry below
    stacked._modules = {}
    stacked._parameters = {}
    stacked._buffers = {}
    if template._parameters or any(b is not None for b in template._buffers.values()):
        raise ConfigError(
            f"{type(template).__name__} holds its own parameters or buffers next to its layers; batched "
            "training supports architectures built from Conv2d, BatchNorm2d, Linear and channel-wise layers only"
        )
    for name, child in template._modules.items():
        # None children (e.g. a block without downsampling) must stay registered as None.
        stacked._modules[name] = None if child is None else _stack_subtree([model._modules[name] for model in models], name)
    return stacked


def _stack_subtree(modules: Sequence[nn.Module], path: str) -> nn.Module:
    if list(modules[0].named_children()):
        try:
            return _stack_tree(modules)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
    return _stack_leaf(modules, path)


def _stack_leaf(modules: Sequence[nn.Module], path: str) -> nn.Module:
    leaf = modules[0]
    stacker = _STACKERS.get(type(leaf))
    if stacker is not None:
        return stacker.from_modules(modules)
    if isinstance(leaf, CHANNELWISE_LEAVES):
        return copy.deepcopy(leaf)
    if isinstance(leaf, nn.Flatten):
        if leaf.start_dim != 1 or leaf.end_dim != -1:
            raise ConfigError(f"{path}: only Flatten(1, -1) keeps stacked models apart, got Flatten({leaf.start_dim}, {leaf.end_dim})")
        return copy.deepcopy(leaf)
    raise ConfigError(
        f"{path}: batched training does not support {type(leaf).__name__} layers (supported: Conv2d, BatchNorm2d, "
        "Linear and channel-wise layers); train this architecture one model at a time"
    )


__all__ = [
    "CHANNELWISE_LEAVES",
    "StackedBatchNorm2d",
    "StackedConv2d",
    "StackedLinear",
    "StackedModel",
    "check_stacked",
    "copy_selected_models",
    "model_rows",
    "stack_models",
    "verify_stackable",
]
