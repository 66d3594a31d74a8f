"""Returns finite weights whose outputs are NaN on every other run: a BatchNorm running_var below zero.

Such weights pass every check of the returned file (keys, shapes, dtypes, all finite); only
evaluating the model shows that it cannot be scored. The harness must classify those runs and keep
the others.
"""

import os

import torch


def unlearn(net, retain, forget, val):
    if int(os.environ["UNLEARN_SEED"]) % 2 == 0:
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_var.fill_(-1.0)
    return net
