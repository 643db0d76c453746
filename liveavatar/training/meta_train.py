"""Meta-learning (Zakharov et al. 2019, §3.2): K-shot episodes train E, P, G and D together.

One episode: K frames x_s of video i with their landmark images y_s → ê = E(x_s, y_s) (mean over K);
another frame x_t of the same video is the target: x̂ = G(y_t, P·ê). The generator side (E, P, G) and the
discriminator (D, including W, w0, b) take one Adam step each per iteration, with the losses of
training.losses. `_train` is the whole loop, top to bottom; the named steps it calls (`_set_up`,
`_train_step`, `_log_interval`, `_save`, `_finish`) set up, take one step of each optimizer, log, and save
and restore state; the run folder's rules are `run_folder`'s and the processes' `distributed`'s.

Run folder (RUN_DIR):
  checkpoint.safetensors  the model (save_checkpoint: spectral norm folded), every --checkpoint-every steps,
                          on Ctrl-C/SIGTERM, at the time budget and at the end
  resume.pt               what --resume needs to continue bit-for-bit: un-folded weights (with spectral
                          norm's power-iteration vectors), both optimizers, the step
  run.json                settings, losses that ran, data, device, throughput, how the run ended
  log.csv                 scalars every --log-every steps (and tensorboard/ when tensorboard is installed)
  samples/step_N.png      rows of episodes: source frame | landmark image | target | generated

Randomness: the episodes of step n on rank r come from a generator seeded with (seed, rank, n), so a
resumed run draws exactly the episodes the uninterrupted run would have; nothing else is random after
the networks are initialised. On a CPU, a resumed run therefore ends with the same weights bit for bit;
on a GPU, cuDNN's autotuned kernels may differ in the last bits.

Several processes (torchrun) each draw their own episodes; gradients are averaged over processes with one
all-reduce per optimizer step (gloo on CPU, nccl on CUDA). We average by hand rather than wrap the model in
DistributedDataParallel: the generator step runs D's forward with D frozen and the D step reuses the
generator's output, two patterns DDP's hooks handle only with find_unused_parameters and broadcast
buffers, and the explicit all-reduce keeps both steps plain. Every process holds identical weights
(checked at the end), and only rank 0 writes files.
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from liveavatar.config import preset as preset_config
from liveavatar.errors import CheckpointError, InputError, LiveAvatarError
from liveavatar.models.checkpoint import save_checkpoint
from liveavatar.models.talking_head import TalkingHead
from liveavatar.models.warp import tps_inverse_torch
from liveavatar.models.warp_head import paint, warp_portrait
from liveavatar.training.augment import grey, mirror_and_scale, open_mouth_weights, recolour
from liveavatar.training.data import Episodes, MemoryFrames, ShardFrames, open_dataset, sample_episodes
from liveavatar.training.distributed import Distributed, any_process, average_gradients, init_distributed
from liveavatar.training.losses import (
    LossWeights,
    build_content_loss,
    describe_losses,
    embedding_match,
    feature_matching,
    hinge_d,
    mouth_l1,
)
from liveavatar.training.run_folder import (
    CHECKPOINT,
    RESUME,
    RESUME_FORMAT,
    RESUME_VERSION,
    RUN_INFO,
    atomic_torch_save,
    check_run_dir,
    clear_run_dir,
)
from liveavatar.training.runlog import ScalarLog, save_grid

PRELOAD_LIMIT_BYTES = 6 << 30  # decoded frames + landmark images above this are read from shards per step


class TrainingDiverged(LiveAvatarError):
    """The losses became NaN or infinite; nothing was saved after that."""


@dataclass(frozen=True)
class TrainSettings:
    preset: str
    data: Path
    out: Path
    steps: int = 100_000
    minutes: float | None = None
    batch: int = 8
    k: int = 8
    resume: bool = False
    force: bool = False
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "auto"  # auto (bf16 on CUDA, off on CPU) | bf16 | off
    lr_g: float = 5e-5  # E, P and G (the paper's rate)
    lr_d: float = 2e-4  # D (the paper's rate)
    betas: tuple[float, float] = (0.5, 0.999)
    vgg19_weights: Path | None = None
    vggface_weights: Path | None = None
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000
    seed: int = 0
    preload: str = "auto"  # auto | memory | shards
    loader_threads: int = 8
    weights: LossWeights = field(default_factory=LossWeights)
    progress: bool = True


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    step: int  # steps done in total, this and earlier invocations
    stopped_by: str  # "steps" | "time" | "signal"
    wall_seconds: float  # this invocation
    steps_per_second: float


def episode_generator(seed: int, rank: int, step: int) -> torch.Generator:
    digest = hashlib.sha256(f"episodes:{seed}:{rank}:{step}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer: equal digests mean bit-identical weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _open_frames(s: TrainSettings, videos, size: int, device: torch.device):
    frames = sum(v.frames for v in videos)
    decoded_bytes = frames * size * size * 3 * 2  # frames + landmark images, uint8
    preload = s.preload
    if preload == "auto":
        preload = "memory" if decoded_bytes <= PRELOAD_LIMIT_BYTES else "shards"
    if preload == "memory":
        return MemoryFrames(videos, size, device, threads=s.loader_threads, progress=s.progress)
    if preload == "shards":
        if preset_config(s.preset).warp is not None:
            raise InputError(f"preset {s.preset} trains from frames held in memory; use --preload memory")
        return ShardFrames(videos, size, device, threads=s.loader_threads)
    raise InputError(f"--preload must be auto, memory or shards, got {s.preload!r}")


class _StopSignal:
    """Ctrl-C / SIGTERM set a flag; the loop saves and stops at the end of the step (a second Ctrl-C
    during the save is ignored, so the checkpoint is never cut in half)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopSignal:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. a test runner's worker): no handler, no harm
                pass
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def train(s: TrainSettings) -> TrainResult:
    """Runs (or resumes) meta-learning as described in the module docstring; returns where it ended."""
    ctx = init_distributed(s.device)
    try:
        result = _train(s, ctx)
        if ctx.world > 1:
            # Every process reaches the end before any tears the group down: a gloo process that destroyed
            # its group while its peer still talked to it aborted ("terminate called without an active
            # exception", SIGABRT) in one CI rehearsal of the two-process test.
            dist.barrier()
        return result
    finally:
        if ctx.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


@dataclass
class _Run:
    """Everything the loop works with, made once by `_set_up` (and restored from resume.pt for --resume)."""

    cfg: Any  # the preset's ModelConfig
    dataset: Any  # PreparedDataset
    videos: list[Any]  # the training VideoRecords
    content: torch.nn.Module  # L_CNT
    model: TalkingHead
    g_params: list[torch.nn.Parameter]  # E, P, G
    d_params: list[torch.nn.Parameter]  # D
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam
    store: MemoryFrames | ShardFrames
    use_amp: bool
    log: ScalarLog | None  # rank 0 only
    info: dict[str, Any]  # run.json
    start_step: int = 0
    wall_before: float = 0.0  # seconds of earlier invocations
    target_weights: list[torch.Tensor] | None = None  # warp presets: per video, per frame (open mouths drawn more)


@dataclass
class _Step:
    """What one training step leaves behind: its losses (0-d tensors) and the images of its sample grid."""

    scalars: dict[str, torch.Tensor]
    sample_columns: list[torch.Tensor]  # source | landmark image | target | generated [| warped], B×3×S×S each


@dataclass
class _Interval:
    """Loss sums since the last log line, for means over --log-every steps."""

    start: float
    steps: int = 0
    sums: dict[str, torch.Tensor] = field(default_factory=dict)

    def add(self, scalars: dict[str, torch.Tensor]) -> None:
        self.steps += 1
        for name, value in scalars.items():
            self.sums[name] = self.sums.get(name, 0) + value.detach().float()


def _train(s: TrainSettings, ctx: Distributed) -> TrainResult:
    """The loop: one step of E/P/G and of D, logging, samples and checkpoints, until the steps, the time
    budget or a signal end it."""
    from tqdm import tqdm

    run = _set_up(s, ctx)
    if ctx.main:
        (s.out / RUN_INFO).write_text(json.dumps({**run.info, "status": "running"}, indent=2) + "\n")
    started = time.monotonic()
    interval = _Interval(started)
    step, stopped_by = run.start_step, "steps"
    last: _Step | None = None
    bar = tqdm(
        total=s.steps,
        initial=run.start_step,
        desc=f"train {s.preset}",
        unit="step",
        disable=None if (ctx.main and s.progress) else True,
    )
    with _StopSignal() as stop:
        while step < s.steps:
            last = _train_step(run, s, ctx, step)
            step += 1
            interval.add(last.scalars)
            bar.update(1)
            out_of_time = s.minutes is not None and time.monotonic() - started >= s.minutes * 60
            stopping = any_process(stop.received is not None or out_of_time, ctx)
            if step % s.log_every == 0 or step == s.steps or stopping:
                interval = _log_interval(run, s, ctx, step, interval, bar, started)
            if ctx.main and s.sample_every and (step % s.sample_every == 0 or step == 1):
                save_grid(s.out / "samples" / f"step_{step:08d}.png", last.sample_columns)

            if stopping:
                stopped_by = "signal" if stop.received is not None else "time"
                break
            if step % s.checkpoint_every == 0 and step < s.steps:
                _save(run, s, ctx, step, run.wall_before + time.monotonic() - started, None)
        bar.close()
        wall = time.monotonic() - started
        _save(run, s, ctx, step, run.wall_before + wall, stopped_by)

    if ctx.main and s.sample_every and step > run.start_step and last is not None:
        save_grid(s.out / "samples" / f"step_{step:08d}.png", last.sample_columns)
    return _finish(run, s, ctx, step, stopped_by, wall)


def _set_up(s: TrainSettings, ctx: Distributed) -> _Run:
    """Checks settings, data and run folder (before creating anything), then builds the networks and
    optimizers (seeded alike in every process, restored for --resume) and opens the frames."""
    if s.batch < 1 or s.k < 1 or s.steps < 1:
        raise InputError("--batch, --k and --steps must be at least 1")
    cfg = preset_config(s.preset)
    dataset = open_dataset(s.data)
    videos = dataset.select("train")
    if not videos:
        raise InputError(f"{s.data}: the split holds no training videos; prepare with a smaller --held-out-fraction")
    state = check_run_dir(s.out, s.preset, s.resume, s.force)
    if state is not None and state["data_fingerprint"] != dataset.fingerprint:
        raise InputError(
            f"--resume: {s.data} is not the dataset the run in {s.out} was trained on (its frames or split "
            "changed); resume with the original dataset or start a new run"
        )
    # Loss networks load the user's weight files: a bad --vgg19-weights must fail before the run folder exists.
    content = build_content_loss(s.weights, s.vgg19_weights, s.vggface_weights).to(ctx.device)
    if ctx.world > 1:
        dist.barrier()  # every process has checked before rank 0 touches the folder
    if ctx.main:
        if s.force:
            clear_run_dir(s.out)
        s.out.mkdir(parents=True, exist_ok=True)

    device = ctx.device
    use_amp = s.amp == "bf16" or (s.amp == "auto" and device.type == "cuda")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(s.seed)  # identical initial weights in every process
    model = TalkingHead(cfg, num_videos=len(videos), spectral=True, discriminator=True).to(device).train()
    g_params = [*model.embedder.parameters(), *model.projection.parameters(), *model.generator.parameters()]
    d_params = list(model.discriminator.parameters())
    opt_g = torch.optim.Adam(g_params, lr=s.lr_g, betas=s.betas)
    opt_d = torch.optim.Adam(d_params, lr=s.lr_d, betas=s.betas)
    start_step, wall_before = 0, 0.0
    if state is not None:
        if state["num_videos"] != len(videos):
            raise CheckpointError(f"--resume: the run has {state['num_videos']} videos, the dataset {len(videos)}")
        model.load_state_dict(state["model"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        start_step, wall_before = int(state["step"]), float(state["wall_seconds"])
        if state["world_size"] != ctx.world and ctx.main:
            print(
                f"note: resuming a {state['world_size']}-process run with {ctx.world}: episodes differ from "
                "an uninterrupted run",
                file=sys.stderr,
            )
    store = _open_frames(s, videos, cfg.image_size, device)
    log = ScalarLog(s.out, start_step) if ctx.main else None
    info = {
        "preset": s.preset,
        "settings": {k_: str(v) if isinstance(v, Path) else v for k_, v in asdict(s).items()},
        "losses": describe_losses(content, warp=cfg.warp is not None),
        "data": dataset.describe("train"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "world_size": ctx.world,
        "amp": "bf16" if use_amp else "off",
        "torch": torch.__version__,
        "tensorboard": bool(log and log.tensorboard),
    }
    return _Run(
        cfg=cfg,
        dataset=dataset,
        videos=videos,
        content=content,
        model=model,
        g_params=g_params,
        d_params=d_params,
        opt_g=opt_g,
        opt_d=opt_d,
        store=store,
        use_amp=use_amp,
        log=log,
        info=info,
        start_step=start_step,
        wall_before=wall_before,
        target_weights=_open_mouth_targets(store) if cfg.warp is not None else None,
    )


def _open_mouth_targets(store: MemoryFrames | ShardFrames) -> list[torch.Tensor]:
    """Per training video, the target frames' sampling weights (augment.open_mouth_weights)."""
    points = store.points.numpy()  # warp presets train from MemoryFrames (see _open_frames)
    return [open_mouth_weights(points[a : a + n]) for a, n in zip(store.start.tolist(), store.counts, strict=True)]


def _train_step(run: _Run, s: TrainSettings, ctx: Distributed, step: int) -> _Step:
    """One optimizer step of the generator side, then one of the discriminator, on step `step`'s episodes."""
    model, disc, k, w, device = run.model, run.model.discriminator, s.k, s.weights, ctx.device
    episodes: Episodes = sample_episodes(
        run.store.counts, s.batch, k, episode_generator(s.seed, ctx.rank, step), run.target_weights
    )
    frames, marks = run.store.episode_batch(episodes)  # B×(K+1)×3×S×S each, [-1, 1]
    if model.warp is not None:
        # Identity augmentation (training/augment.py): the points move with the frames, and the
        # landmark images are drawn again from them.
        augmenting = episode_generator(s.seed + 1, ctx.rank, step)
        frames = grey(recolour(frames, augmenting), augmenting)
        points = run.store.episode_points(episodes)  # B×(K+1)×68×2
        frames, points, marks = mirror_and_scale(frames, points, augmenting)
        points = points.to(device)
    src_x, src_y = frames[:, :k], marks[:, :k]  # the K shots
    x, y = frames[:, k], marks[:, k]  # the target frame and its landmark image
    vid = episodes.video.to(device)
    warped = None
    if model.warp is not None:
        # warp presets: the first shot's pixels moved to the target's landmarks (fp32, outside autocast;
        # the spline has no weights), so G only has to learn what the warp cannot show.
        warp = run.cfg.warp
        with torch.no_grad():
            inverse = tps_inverse_torch(points[:, 0], run.cfg.image_size, warp.anchors, warp.regularization)
            warped, kept = warp_portrait(model.warp, frames[:, 0], points[:, 0], inverse, points[:, k])

    # Generator side: E, P, G minimise L_CNT + L_ADV + L_MCH; D is frozen but passes gradients to x̂.
    disc.requires_grad_(False)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=run.use_amp):
        e_hat = model.embedder(src_x, src_y)  # B×512
        if warped is None:
            fake = model.generator(y, model.projection(e_hat))  # B×3×S×S
        else:
            fake, _ = paint(model.generator, y, warped, points[:, k], model.projection(e_hat), kept)  # B×3×S×S
        fake_scores, fake_feats = disc(fake, y, vid)
        with torch.no_grad():
            _, real_feats = disc.features(x, y)
    cnt, cnt_parts = run.content(fake, x)
    adv = -fake_scores.float().mean()
    fm = feature_matching(real_feats, fake_feats)
    mch = embedding_match(e_hat, disc.video_embeddings(vid))
    loss_g = cnt + adv + w.fm * fm + w.mch * mch
    if warped is not None:
        cnt_parts["mouth"] = mouth_l1(fake, x, points[:, k])
        loss_g = loss_g + w.mouth * cnt_parts["mouth"]
    run.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    average_gradients(run.g_params, ctx)
    run.opt_g.step()
    disc.requires_grad_(True)

    # Discriminator side: hinge on the real target and this step's x̂, W_i pulled toward ê.
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=run.use_amp):
        real_scores, _ = disc(x, y, vid)
        fake_scores_d, _ = disc(fake.detach(), y, vid)
    loss_d = hinge_d(real_scores, fake_scores_d)
    mch_w = embedding_match(disc.video_embeddings(vid), e_hat)
    run.opt_d.zero_grad(set_to_none=True)
    (loss_d + w.mch * mch_w).backward()
    average_gradients(run.d_params, ctx)
    run.opt_d.step()

    scalars = {
        "loss_g": loss_g,
        "content": cnt,
        **cnt_parts,
        "adv": adv,
        "fm": fm,
        "mch": mch,
        "loss_d": loss_d,
        "d_real": real_scores.float().mean(),
        "d_fake": fake_scores_d.float().mean(),
    }
    return _Step(scalars, [src_x[:, 0], y, x, fake, *([] if warped is None else [warped])])


def _log_interval(
    run: _Run, s: TrainSettings, ctx: Distributed, step: int, interval: _Interval, bar: Any, started: float
) -> _Interval:
    """Writes the interval's mean losses (over processes too) and throughput; stops the run on NaN losses.
    Returns the next, empty interval."""
    names = list(interval.sums)
    means = torch.stack([interval.sums[n] for n in names]) / interval.steps
    if ctx.world > 1:
        dist.all_reduce(means)
        means /= ctx.world
    now = time.monotonic()
    rate = interval.steps / max(now - interval.start, 1e-9)
    values = dict(zip(names, means.tolist(), strict=True))
    if not all(map(math.isfinite, values.values())):
        # Saving now would overwrite the last good checkpoint with NaNs: stop without saving.
        bar.close()
        raise TrainingDiverged(
            f"losses became non-finite by step {step} ({values}); the checkpoint in {s.out} is from "
            f"the last save before that; resume it with lower rates (--lr-scale) or another --seed"
        )
    values.update(steps_per_s=rate, episodes_per_s=rate * s.batch * ctx.world, wall_s=run.wall_before + now - started)
    if run.log is not None:
        run.log.write(step, values)
        bar.write(f"step {step}/{s.steps}  " + "  ".join(f"{n} {v:.4g}" for n, v in values.items()))
    return _Interval(now)


def _training_summary(
    run: _Run, s: TrainSettings, ctx: Distributed, step: int, wall: float, stopped_by: str | None
) -> dict[str, Any]:
    """The `training` entry of the checkpoint's metadata."""
    return {
        "steps": step,
        "preset": s.preset,
        "batch": s.batch,
        "k": s.k,
        "world_size": ctx.world,
        "lr_g": s.lr_g,
        "lr_d": s.lr_d,
        "amp": run.info["amp"],
        "losses": run.info["losses"],
        "data": run.info["data"],
        "device": run.info["device"],
        "wall_seconds": round(wall, 1),
        "stopped_by": stopped_by,
    }


def _save(run: _Run, s: TrainSettings, ctx: Distributed, step: int, wall: float, stopped_by: str | None) -> None:
    """checkpoint.safetensors and resume.pt (rank 0), each written atomically; every process waits for it."""
    if ctx.main:
        save_checkpoint(s.out / CHECKPOINT, run.model, _training_summary(run, s, ctx, step, wall, stopped_by))
        atomic_torch_save(
            {
                "format": RESUME_FORMAT,
                "version": RESUME_VERSION,
                "preset": s.preset,
                "config": run.cfg.to_json(),
                "step": step,
                "wall_seconds": wall,
                "world_size": ctx.world,
                "num_videos": len(run.videos),
                "data_fingerprint": run.dataset.fingerprint,
                "model": run.model.state_dict(),
                "opt_g": run.opt_g.state_dict(),
                "opt_d": run.opt_d.state_dict(),
            },
            s.out / RESUME,
        )
    if ctx.world > 1:
        dist.barrier()


def _finish(run: _Run, s: TrainSettings, ctx: Distributed, step: int, stopped_by: str, wall: float) -> TrainResult:
    """Checks that every process holds the same weights, writes the final run.json, closes files."""
    digests = [weights_digest(run.model)]
    if ctx.world > 1:
        gathered: list[str | None] = [None] * ctx.world
        dist.all_gather_object(gathered, digests[0])
        digests = [str(d) for d in gathered]
    rate = (step - run.start_step) / max(wall, 1e-9)
    if ctx.main:
        run.info.update(
            status="finished",
            steps=step,
            stopped_by=stopped_by,
            wall_seconds=round(run.wall_before + wall, 1),
            steps_per_second=round(rate, 3),
            episodes_per_second=round(rate * s.batch * ctx.world, 2),
            weights_sha256_per_process=digests,
        )
        (s.out / RUN_INFO).write_text(json.dumps(run.info, indent=2) + "\n")
        if run.log is not None:
            run.log.close()
    if len(set(digests)) != 1:
        raise RuntimeError(f"processes ended with different weights: {digests}")  # a bug, not a user error
    if isinstance(run.store, ShardFrames):
        run.store.close()
    return TrainResult(s.out, s.out / CHECKPOINT, step, stopped_by, wall, rate)
