"""The paper's networks in pure PyTorch: embedder E, generator G, projection P, discriminator D.

Training, export and inference share these classes; nothing here imports an engine runtime or Qt.
"""
