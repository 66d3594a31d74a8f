# A 2023-style distillation notebook: a frozen copy of the original teaches a freshly initialised
# resnet18, with its own optimizer and warm-up schedule.
import copy

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18
from tqdm.auto import tqdm

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
STEPS = 6
TEMPERATURE = 4.0


def kd_loss(student_logits, teacher_logits, targets, alpha=0.5):
    soft = F.kl_div(F.log_softmax(student_logits / TEMPERATURE, dim=1), F.softmax(teacher_logits / TEMPERATURE, dim=1), reduction="batchmean")
    return alpha * soft * TEMPERATURE**2 + (1 - alpha) * F.cross_entropy(student_logits, targets)


def unlearning(net, retain_loader, forget_loader, val_loader):
    teacher = copy.deepcopy(net).eval()
    assert net.fc.in_features == 512 and net.conv1.in_channels == 3  # the 2023 architecture
    student = resnet18(weights=None, num_classes=10).to(DEVICE)
    student.load_state_dict(net.state_dict())
    nn.init.kaiming_normal_(student.layer4[1].conv2.weight)  # forget the last block, keep the rest
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-4, weight_decay=5e-3)
    warm_up = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 3))
    student.train()
    step = 0
    for sample in tqdm(retain_loader, total=STEPS, disable=True):
        inputs, targets = sample["image"].to(DEVICE), sample["age_group"].to(DEVICE)
        with torch.no_grad():
            teacher_logits = teacher(inputs)
        loss = kd_loss(student(inputs), teacher_logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        warm_up.step()
        step += 1
        if step == STEPS:
            break
    student.eval()
    return student
