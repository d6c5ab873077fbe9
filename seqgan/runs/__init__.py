"""What every trainer writes to disk, and nothing else: run directories and their ``metrics.jsonl`` log,
crash-safe checkpoints, atomic writes, the progress bar and the one save/load convention of every model.

The lower layers (``seqgan.config``, ``seqgan.models``) may import this package; it imports none of the training
or application packages.
"""
