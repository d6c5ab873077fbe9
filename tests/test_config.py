"""The typed config loader: YAML + CLI overrides, errors that name the field."""

from dataclasses import dataclass

import pytest

from seqgan.config import field, from_dict, load_config, parse_overrides, save_config, to_dict
from seqgan.errors import ConfigError


@dataclass
class Inner:
    lr: float = field(1e-3, help="learning rate")
    widths: list[int] = field([1, 2], help="filter widths")
    mode: str = field("joint", help="joint or split")

    def validate(self):
        if self.mode not in ("joint", "split"):
            raise ConfigError(f"inner.mode: expected joint or split, got {self.mode!r}")


@dataclass
class Outer:
    seed: int = field(0, help="seed")
    name: str = field("run", help="name")
    flag: bool = field(False, help="a switch")
    optional: int | None = field(None, help="maybe")
    inner: Inner = field(Inner, help="section")

    def validate(self):
        self.inner.validate()


def test_defaults_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\ninner:\n  lr: 3e-4\n")
    cfg = load_config(Outer, path, ["inner.widths=[3,4,5]", "flag=true", "optional=7"])
    assert cfg.seed == 3 and cfg.inner.lr == pytest.approx(3e-4)  # "3e-4" is a string in YAML 1.1
    assert cfg.inner.widths == [3, 4, 5] and cfg.flag is True and cfg.optional == 7
    assert cfg.name == "run"


def test_list_defaults_are_not_shared():
    a, b = Outer(), Outer()
    a.inner.widths.append(9)
    assert b.inner.widths == [1, 2]


def test_save_and_reload_roundtrip(tmp_path):
    cfg = load_config(Outer, None, ["seed=5", "inner.mode=split"])
    save_config(cfg, tmp_path / "resolved.yaml")
    again = load_config(Outer, tmp_path / "resolved.yaml")
    assert to_dict(again) == to_dict(cfg)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["inner.lrr=1"], "unknown config key inner.lrr"),
        (["seeed=1"], "unknown config key seeed"),
        (["inner.lr=abc"], "inner.lr: expected a number"),
        (["seed=1.5"], "seed: expected an integer"),
        (["flag=maybe"], "flag: expected true/false"),
        (["inner.widths=3"], "inner.widths: expected a list"),
        (["inner=5"], "inner: expected a mapping"),
        (["inner.mode=both"], "inner.mode: expected joint or split"),
        (["seed"], "expected key=value"),
    ],
)
def test_bad_values_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(Outer, None, overrides)
    assert "\n" not in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(Outer, listy)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"seed: \xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(Outer, binary)


def test_error_names_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  nope: 1\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown config key inner\.nope"):
        load_config(Outer, path)


def test_parse_overrides_nested():
    assert parse_overrides(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}


def test_from_dict_empty_gives_defaults():
    assert to_dict(from_dict(Outer, None)) == to_dict(Outer())


def test_base_key_inherits_and_overrides(tmp_path):
    (tmp_path / "root.yaml").write_text("seed: 3\ninner:\n  lr: 0.5\n")
    (tmp_path / "child.yaml").write_text("base: root.yaml\ninner:\n  lr: 0.25\n")
    cfg = load_config(Outer, tmp_path / "child.yaml", ["seed=4"])
    assert cfg.inner.lr == 0.25 and cfg.seed == 4
    assert load_config(Outer, tmp_path / "child.yaml").seed == 3
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(Outer, tmp_path / "loop.yaml")
    (tmp_path / "orphan.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="nowhere.yaml not found"):
        load_config(Outer, tmp_path / "orphan.yaml")


def test_field_bounds_and_choices_are_checked_with_the_dotted_name():
    from dataclasses import dataclass

    from seqgan.config import check_fields, field

    @dataclass
    class Inner:
        rate: float = field(0.5, ge=0, lt=1, help="a rate")
        names: list[str] = field(["a"], choices=("a", "b"), help="names")

    @dataclass
    class Outer:
        steps: int = field(1, ge=1, help="steps")
        mode: str = field("x", choices=("x", "y"), help="mode")
        temps: list[float] = field([1.0], gt=0, help="temperatures")
        limit: int | None = field(None, ge=1, help="optional")
        inner: Inner = field(Inner, help="a section")

    check_fields(Outer(), "top")
    for kwargs, message in (
            ({"steps": 0}, "top.steps: expected a value >= 1, got 0"),
            ({"mode": "z"}, "top.mode: expected one of ['x', 'y'], got 'z'"),
            ({"temps": [1.0, 0.0]}, "top.temps: expected values > 0, got [1.0, 0.0]"),
            ({"inner": Inner(rate=1.0)}, "top.inner.rate: expected a value in [0, 1), got 1.0"),
            ({"inner": Inner(names=["c"])}, "top.inner.names: expected items from ['a', 'b'], got ['c']")):
        with pytest.raises(ConfigError) as err:
            check_fields(Outer(**kwargs), "top")
        assert str(err.value) == message


def test_a_declared_bound_reaches_the_user_with_file_and_field(tmp_path):
    from seqgan.chatbot import ChatbotConfig

    path = tmp_path / "c.yaml"
    path.write_text("mle:\n  grad_accum_steps: 0\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: mle\.grad_accum_steps: expected a value >= 1, got 0"):
        load_config(ChatbotConfig, path)
    with pytest.raises(ConfigError, match=r"command line: adversarial\.rollout_rate: expected a value in \[0, 1\)"):
        load_config(ChatbotConfig, path, ["mle.grad_accum_steps=1", "adversarial.rollout_rate=1.5"])


@pytest.mark.parametrize("path", ["seqgan.chatbot:ChatbotConfig", "seqgan.oracle.config:OracleConfig",
                                  "seqgan.image.config:ImageConfig"])
def test_every_default_is_inside_its_declared_bounds(path):
    import importlib

    from seqgan.config import check_fields

    module, _, name = path.partition(":")
    cfg = getattr(importlib.import_module(module), name)()
    check_fields(cfg)
    cfg.validate()


def test_configs_saved_before_a_rename_still_load():
    """A run directory's config.yaml from before ``adversarial.advantage_norm`` said ``normalise``."""
    from seqgan.adversarial.config import AdversarialConfig
    from seqgan.config import from_dict

    assert from_dict(AdversarialConfig, {"normalise": True}).advantage_norm == "whiten"
    assert from_dict(AdversarialConfig, {"normalise": False}).advantage_norm == "none"
    assert from_dict(AdversarialConfig, {"normalise": True, "advantage_norm": "std"}).advantage_norm == "std"
    from seqgan.adversarial.compare import CompareConfig

    assert from_dict(CompareConfig, {"temperature_adversuc": True}).temperatures == CompareConfig().temperatures


def test_describe_fields_gives_default_help_type_and_bounds_from_the_metadata():
    from dataclasses import dataclass

    from seqgan.config import describe_fields, field

    @dataclass
    class Inner:
        rate: float = field(0.5, ge=0, lt=1, help="a rate")

    @dataclass
    class Outer:
        steps: int = field(1, ge=1, help="steps")
        mode: str = field("x", choices=("x", "y"), help="mode")
        temps: list[float] = field([1.0], gt=0, help="temperatures")
        limit: int | None = field(None, help="optional")
        inner: Inner = field(Inner, help="a section")

    text = describe_fields(Outer, width=100)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "steps=1 steps (int >= 1)" in lines
    assert "mode=x mode (one of: x, y)" in lines
    assert "temps=[1.0] temperatures (list of float > 0)" in lines
    assert "limit=null optional (int or null)" in lines
    assert "inner: a section" in lines and "inner.rate=0.5 a rate (float in [0, 1))" in lines
    assert lines.index("inner: a section") > lines.index("limit=null optional (int or null)")
    assert "inner" not in describe_fields(Outer, sections=()) and "steps=1" in describe_fields(Outer, sections=())


CONFIG_CLASSES = ["seqgan.chatbot:ChatbotConfig", "seqgan.oracle.config:OracleConfig",
                  "seqgan.image.config:ImageConfig"]


def _flat_keys(data: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            keys += _flat_keys(value, f"{prefix}{key}.")
        else:
            keys.append(prefix + key)
    return keys


@pytest.mark.parametrize("path", CONFIG_CLASSES)
def test_describe_fields_lists_every_key_of_the_real_configs(path):
    from seqgan.command import load_object
    from seqgan.config import describe_fields, to_dict

    cls = load_object(path)
    listed = {line.split("=", 1)[0].strip() for line in describe_fields(cls).splitlines() if line.startswith("  ")
              and "=" in line.split()[0]}
    assert set(_flat_keys(to_dict(cls()))) <= listed


@pytest.mark.parametrize("path", CONFIG_CLASSES)
def test_to_yaml_loads_back_to_the_same_config_with_and_without_comments(path, tmp_path):
    from seqgan.command import load_object
    from seqgan.config import to_dict, to_yaml

    cls = load_object(path)
    cfg = load_config(cls, None, ["seed=7"])
    for comments in (False, True):
        file = tmp_path / f"c{comments}.yaml"
        file.write_text(to_yaml(cfg, comments=comments))
        assert to_dict(load_config(cls, file)) == to_dict(cfg)
    assert "seed: 7  # seed" in to_yaml(cfg, comments=True)
