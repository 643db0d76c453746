"""Several training processes (torchrun) or one: which process this is, and the gradients they share.

Gradients are averaged over processes by hand, with one all-reduce per optimizer step (gloo on CPU, nccl on
CUDA), rather than by DistributedDataParallel: see liveavatar/training/meta_train.py's docstring for why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from liveavatar.errors import InputError


@dataclass(frozen=True)
class Distributed:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_choice: str) -> Distributed:
    """One process, or one of torchrun's (RANK/WORLD_SIZE/LOCAL_RANK in the environment)."""
    if device_choice not in ("auto", "cpu", "cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, got {device_choice!r}")
    if device_choice == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu")
    cuda = device_choice == "cuda" or (device_choice == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Distributed(rank, world, device)


def average_gradients(params: list[torch.nn.Parameter], ctx: Distributed) -> None:
    """Mean of each gradient over processes, in one all-reduce (missing gradients count as zero)."""
    if ctx.world == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world
    offset = 0
    for p, g in zip(params, grads, strict=True):
        p.grad = flat[offset : offset + g.numel()].view_as(p).clone()
        offset += g.numel()


def any_process(flag: bool, ctx: Distributed) -> bool:
    if ctx.world == 1:
        return flag
    t = torch.tensor([int(flag)], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
