"""Typed configs: dataclasses loaded from YAML with ``key.sub=value`` command-line overrides.

Every trainer owns one dataclass; each field declares its help text and, where it has them, its bounds and choices
(:func:`field`), which :func:`check_fields` checks; nested dataclasses make sections. Loading rejects unknown keys,
ill-typed and out-of-range values with a one-line :class:`~seqgan.errors.ConfigError` naming the
file and the dotted field, so a typo never silently falls back to a default. The resolved config is written next
to every run (:func:`save_config`) and can be loaded back exactly.

Example::

    cfg = load_config(ChatbotConfig, "recipes/chat_cpu.yaml", ["mle.lr=3e-4", "seed=7"])
"""

from __future__ import annotations

import dataclasses
import operator
import types
import typing
from pathlib import Path
from typing import Any, Iterator, TypeVar

import yaml

from seqgan.errors import ConfigError

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check/convert ``value`` to the annotated type ``tp``; raise ConfigError naming ``where`` otherwise."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of {_type_name(tp)} fields, got {value!r}")
        return _from_dict(tp, value, where)
    if origin in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str):  # YAML reads "3e-4" as a string
                try:
                    return float(value)
                except ValueError:
                    pass
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _from_dict(cls: type[T], data: dict, where: str) -> T:
    upgrade = getattr(cls, "upgrade_keys", None)  # a section that renamed keys reads configs written before
    if callable(upgrade):
        data = upgrade(dict(data))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]!s} (known keys{' of ' + where if where else ''}: "
            f"{', '.join(sorted(fields))})", key=f"{prefix}{unknown[0]!s}"
        )
    kwargs = {}
    for name, value in data.items():
        dotted = f"{where}.{name}" if where else name
        try:
            kwargs[name] = _coerce(value, hints[name], dotted)
        except ConfigError as err:
            if err.key is None:  # the innermost field that failed names it
                err.key = dotted
            raise
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where or cls.__name__}: {err}", key=where or None) from None
    return obj


def _blames(err: ConfigError, keys: list[str]) -> bool:
    """Whether ``err`` is about one of the dotted ``keys`` (or a field under one of them)."""
    message = str(err)
    for key in keys:
        if err.key is not None and (err.key == key or err.key.startswith((key + ".", key + "["))):
            return True
        if err.key is None and message.startswith((key + ":", key + "=", key + " ")):
            return True  # a validate() message about that field
    return False


def from_dict(cls: type[T], data: dict | None, source: str = "",
              overrides: list[str] | tuple[str, ...] = ()) -> T:
    """Build a config dataclass from a (nested) dict with ``key=value`` ``overrides`` applied over it, then
    validate it. Errors name ``source`` (the file), or "command line" when an override gave the bad value."""
    over = parse_overrides(list(overrides))
    override_keys = [item.split("=", 1)[0].strip().lstrip("-") for item in overrides]
    try:
        cfg = _from_dict(cls, merge(data or {}, over), "")
        validate = getattr(cfg, "validate", None)
        if callable(validate):
            validate()
    except ConfigError as err:
        where = "command line" if _blames(err, override_keys) else source
        raise ConfigError(f"{where}: {err}" if where else str(err), key=err.key) from None
    return cfg


def to_dict(cfg: Any) -> dict:
    """Plain nested dict of a config dataclass (tuples as lists), suitable for YAML/JSON."""
    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    return convert(cfg)


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted}: {key} is not a section")
        node = child
    node[keys[-1]] = value


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict:
    """``["mle.lr=3e-4", "data.max_turns=2"]`` -> nested dict; values are parsed as YAML scalars/lists."""
    data: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value (for example mle.lr=3e-4)")
        key, raw = item.split("=", 1)
        key = key.strip().lstrip("-")
        if not key:
            raise ConfigError(f"override {item!r}: empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        _set_dotted(data, key, value)
    return data


def merge(base: dict, update: dict) -> dict:
    """Recursively merge ``update`` into a copy of ``base``."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key, self.line = key, line


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a key given twice in one mapping (YAML itself keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if duplicate:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; a missing, unreadable, empty or non-mapping file, and a key given twice, are one-line
    ConfigErrors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not valid UTF-8") from None
    except _DuplicateKey as err:
        raise ConfigError(f"{path}: line {err.line}: key {err.key!r} is given twice; keep one of them") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None
    if data is None:
        raise ConfigError(f"{path}: config file is empty; expected a mapping of config keys")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
    return data


def read_yaml_with_base(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """Read a YAML config; a top-level ``base: other.yaml`` (relative to this file) is read first and this file's
    keys are merged over it (recursively, so a base may have its own base; cycles are a ConfigError)."""
    path = Path(path)
    resolved = path.resolve()
    if resolved in _seen:
        raise ConfigError(f"{path}: 'base' chain loops back to this file")
    data = read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: base: expected the path of another YAML config, got {base!r}")
    base_path = Path(base) if Path(base).is_absolute() else path.parent / base
    if not base_path.is_file():
        raise ConfigError(f"{path}: base config {base} not found (looked at {base_path})")
    return merge(read_yaml_with_base(base_path, (*_seen, resolved)), data)


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> T:
    """Defaults of ``cls`` <- YAML file at ``path`` (optional; may name a ``base:`` file) <- ``key=value``
    overrides."""
    data = read_yaml_with_base(path) if path is not None else {}
    return from_dict(cls, data, source=str(path) if path is not None else "config", overrides=overrides)


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    from seqgan.runs.checkpoint import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(to_dict(cfg), sort_keys=False))


def field(default: Any = dataclasses.MISSING, help: str = "", *, ge: float | None = None,  # noqa: A002
          gt: float | None = None, lt: float | None = None, choices: typing.Iterable | None = None,
          **kwargs: Any) -> Any:
    """``dataclasses.field`` with help text and the field's allowed values in metadata (checked by
    :func:`check_fields`); lists/dicts defaults are copied per instance.

    ``ge`` / ``gt`` / ``lt``: bounds (value >= ge, > gt, < lt); ``choices``: the allowed values. For a list field
    they hold for every item.
    """
    metadata: dict[str, Any] = {"help": help}
    bounds = {name: bound for name, bound in (("ge", ge), ("gt", gt), ("lt", lt)) if bound is not None}
    if bounds:
        metadata["bounds"] = bounds
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if isinstance(default, (list, dict)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=metadata, **kwargs)
    if dataclasses.is_dataclass(default) and isinstance(default, type):
        return dataclasses.field(default_factory=default, metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


_BOUND_TESTS = {"ge": (operator.ge, ">="), "gt": (operator.gt, ">"), "lt": (operator.lt, "<")}


def _span(bounds: dict[str, float]) -> str:
    """``>= 1``, ``in [0, 1)``, ``> 0 and < 1``: the range the ``ge``/``gt``/``lt`` bounds allow."""
    if set(bounds) in ({"ge", "lt"}, {"gt", "lt"}):
        low = bounds.get("ge", bounds.get("gt"))
        return f"in {'[' if 'ge' in bounds else '('}{low:g}, {bounds['lt']:g})"
    return " and ".join(f"{_BOUND_TESTS[name][1]} {bound:g}" for name, bound in bounds.items())


def _expected(bounds: dict[str, float], choices: tuple | None, many: bool) -> str:
    """E.g. ``a value >= 1``, ``a value in [0, 1)``, ``one of ['a', 'b']``; for lists ``values > 0``,
    ``items from ['a', 'b']``."""
    if choices is not None:
        return f"{'items from' if many else 'one of'} {list(choices)}"
    return f"{'values' if many else 'a value'} {_span(bounds)}"


def check_fields(cfg: Any, section: str = "") -> None:
    """Raise :class:`ConfigError` ``<section>.<field>: expected ..., got ...`` for the first field of the dataclass
    ``cfg`` outside the ``ge``/``gt``/``lt``/``choices`` its :func:`field` declares; nested sections are checked
    too (as ``<section>.<sub>.<field>``). ``None`` (an unset optional) passes."""
    for f in dataclasses.fields(cfg):
        value, where = getattr(cfg, f.name), f"{section}.{f.name}" if section else f.name
        if dataclasses.is_dataclass(value):
            check_fields(value, where)
            continue
        bounds, choices = f.metadata.get("bounds", {}), f.metadata.get("choices")
        if value is None or not (bounds or choices is not None):
            continue
        many = isinstance(value, list)
        for item in value if many else [value]:
            if (choices is not None and item not in choices) or not all(
                    _BOUND_TESTS[name][0](item, bound) for name, bound in bounds.items()):
                raise ConfigError(f"{where}: expected {_expected(bounds, choices, many)}, got {value!r}")


# --------------------------------------------------------------------------- describing a config
def _scalar_yaml(value: Any) -> str:
    """``value`` as it would be written on the command line / in YAML: ``0.001``, ``true``, ``[0.9, 0.98]``,
    ``null``, ``''``."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, allow_unicode=True).strip()
    return text[:-3].strip() if text.endswith("...") else text


def _type_label(tp: Any) -> str:
    """``int``, ``float``, ``list of str``, ``int or null``: the annotation in words."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_label(a) for a in args)
    if origin in (list, tuple):
        return f"list of {_type_label(args[0])}" if args else "list"
    if origin is typing.Literal:
        return _type_label(type(args[0]))
    if origin is dict:
        return "mapping"
    return _type_name(tp)


def field_summary(f: dataclasses.Field, tp: Any) -> str:
    """What a field accepts, from its annotation and :func:`field` metadata: e.g. ``float > 0``,
    ``int >= 1``, ``one of: linear, cosine``, ``list of float in [0, 1)``."""
    choices = f.metadata.get("choices")
    if choices is None and typing.get_origin(tp) is typing.Literal:
        choices = typing.get_args(tp)
    bounds = f.metadata.get("bounds", {})
    label = _type_label(tp)
    if choices is not None:
        return f"one of: {', '.join(str(c) for c in choices)}"
    return f"{label} {_span(bounds)}" if bounds else label


def _walk(cfg: Any, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, Any, Any, bool]]:
    """``(dotted key, field, annotation, value, is_section)`` of every field of the dataclass instance ``cfg``,
    a section's own fields after the section, scalar fields of a level before its sections."""
    hints = typing.get_type_hints(type(cfg))
    fields = [f for f in dataclasses.fields(cfg) if f.init]
    sections = [f for f in fields if dataclasses.is_dataclass(getattr(cfg, f.name))]
    for f in fields:
        if f not in sections:
            yield prefix + f.name, f, hints[f.name], getattr(cfg, f.name), False
    for f in sections:
        value = getattr(cfg, f.name)
        yield prefix + f.name, f, hints[f.name], value, True
        yield from _walk(value, prefix + f.name + ".")


def describe_fields(cls: type, sections: typing.Collection[str] | None = None, width: int | None = None) -> str:
    """Every field of the config dataclass ``cls`` as help text: ``key=default``, then the field's help and what it
    accepts (type, bounds, choices), one paragraph per section, wrapped to ``width`` (default: the terminal's).
    ``sections``: list only these top-level sections (and the top-level scalar fields)."""
    import shutil
    import textwrap

    width = width or max(70, shutil.get_terminal_size().columns - 2)
    column = 34
    lines: list[str] = []
    for key, f, tp, value, is_section in _walk(cls()):
        if sections is not None and (is_section or "." in key) and key.split(".", 1)[0] not in sections:
            continue
        if is_section:
            lines += ["", f"{key}: {f.metadata.get('help', '')}".rstrip(": ")]
            continue
        head = f"  {key}={_scalar_yaml(value)}"
        summary = field_summary(f, tp).replace(" ", "\xa0")  # wrapped as one word
        body = f"{f.metadata.get('help', '')} ({summary})".strip()
        wrapped = [line.replace("\xa0", " ") for line in textwrap.wrap(body, max(30, width - column))] or [""]
        if len(head) + 2 <= column:
            lines.append(head.ljust(column) + wrapped[0])
            wrapped = wrapped[1:]
        else:
            lines.append(head)
        lines += [" " * column + line for line in wrapped]
    return "\n".join(lines).lstrip("\n") + "\n"


def to_yaml(cfg: Any, comments: bool = False) -> str:
    """The config dataclass instance ``cfg`` as YAML (what :func:`save_config` writes); with ``comments`` every
    field carries its help and what it accepts as a trailing ``# ...`` comment. Either text loads back to the
    same config."""
    if not comments:
        return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)
    lines = []
    for key, f, tp, value, is_section in _walk(cfg):
        indent = "  " * key.count(".")
        name = key.rsplit(".", 1)[-1]
        note = f.metadata.get("help", "")
        if is_section:
            lines.append(f"{indent}{name}:" + (f"  # {note}" if note else ""))
            continue
        lines.append(f"{indent}{name}: {_scalar_yaml(to_dict(value) if isinstance(value, tuple) else value)}"
                     f"  # {note + ' ' if note else ''}({field_summary(f, tp)})")
    return "\n".join(lines) + "\n"
