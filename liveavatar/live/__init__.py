"""The live path's shared vocabulary, below everything that runs it.

    spec.py    what to run: SourceSpec, SinkSpec, RunnerConfig and their parsers (CLI strings → specs)
    events.py  what a run reports: SinkState, FrameReport, RunStats, RunnerError, RunnerObserver
    slots.py   how frames are handed between threads: the size-1 LatestSlot that overwrites and counts drops

Sources (liveavatar/capture.py), sinks (liveavatar/sinks) and the pipeline (liveavatar/pipeline) all import
these modules; these import none of them, so every arrow between the three points down to here.
Light by design: numpy and the landmark settings' dataclasses, nothing else.
"""
