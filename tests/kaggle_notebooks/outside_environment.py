# Imports a module the competition's environment does not have (it is installed where the harness
# runs, so without the import policy this would pass `check` and fail in the organizers' image).
import pandas as pd
import requests
import torch


def unlearning(net, retain_loader, forget_loader, val_loader):
    return net
