"""Errors a user can cause. Each carries a one-line message naming the file/field and what was expected; the CLI
prints it without a traceback and exits with status 2."""


class SeqGANError(Exception):
    """Base class: a problem with the user's input, not a bug in seqgan."""


class ConfigError(SeqGANError):
    """Unknown key, wrong value type or incompatible combination in a config."""


class DataError(SeqGANError):
    """Missing/empty/undecodable data file, missing column, conversation too short, ..."""


class CheckpointError(SeqGANError):
    """Run directory without a model, corrupt or truncated checkpoint, incompatible state."""
