"""Training: prepare (videos → per-video shards), meta-learning, few-shot fine-tuning, evaluation.

Data flow: `discover` finds videos and names their person, `prepare` tracks, crops and writes one shard
per video (`shards` is the format), `data` reads shards for training without mediapipe, `meta_train` runs
the paper's K-shot episodes with the losses of `losses` (its run folder and --resume state in `run_folder`,
its torchrun processes in `distributed`), `finetune` and `evaluate` work on a checkpoint.
Nothing here is imported by `import liveavatar`.
"""
