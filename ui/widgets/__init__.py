"""The window's parts: each widget shows state and emits what the user asked for; none runs the pipeline."""
