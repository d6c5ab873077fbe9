"""Test helper: read a stage's TensorBoard run back as the TensorBoard UI does (its plugin event accumulator, which
applies a resumed run's purge to scalars and text alike)."""

from __future__ import annotations

from pathlib import Path


def events(run_dir: Path, stage: str, project: str = "seqgan"):
    """TensorBoard's reader on ``RUN_DIR/tracking/<project>/<stage>/``, loaded."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    reader = EventAccumulator(str(Path(run_dir) / "tracking" / project / stage), size_guidance={"tensors": 0})
    reader.Reload()
    return reader


def scalars(reader, tag: str) -> list[tuple[int, float]]:
    """``(step, value)`` of every event of a scalar tag, in file order."""
    from tensorboard.util import tensor_util

    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in reader.Tensors(tag)]


def texts(reader, tag: str) -> list[str]:
    """The texts logged under ``tag`` (TensorBoard keeps them as ``<tag>/text_summary``)."""
    return [e.tensor_proto.string_val[0].decode() for e in reader.Tensors(f"{tag}/text_summary")]


def tags(reader) -> list[str]:
    """Every tag of the run (scalars and text)."""
    return reader.Tags()["tensors"]
