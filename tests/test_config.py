"""Config validation: every problem reported at once, in plain words."""

import pytest

from moelab.engine.config import ConfigError, from_dict, load_toml, with_overrides
from moelab.engine.presets import PRESETS, build_config
from moelab.engine.sweep import batches, expand


def problems_of(raw):
    with pytest.raises(ConfigError) as e:
        from_dict(raw)
    return e.value.problems


def test_defaults_are_valid_and_frozen():
    cfg = from_dict({})
    with pytest.raises(AttributeError):
        cfg.model.k = 3  # frozen


@pytest.mark.parametrize("raw, fragment", [
    ({"model": {"n_experts": 2, "k": 3}}, "k = 3 is more than model.n_experts = 2"),
    ({"model": {"k": 0}}, "model.k must be at least 1"),
    ({"model": {"d_hidden": 0}}, "model.d_hidden must be at least 1"),
    ({"data": {"sparsity": 1.0}}, "data.sparsity must be in [0, 1)"),
    ({"data": {"sparsity": -0.1}}, "data.sparsity must be in [0, 1)"),
    ({"data": {"importance": [1, -1, 1], }, "model": {"n_features": 3}}, "importance values"),
    ({"data": {"last_importance": -1}}, "last_importance must be a number >= 0"),
    ({"train": {"steps": 0}}, "train.steps must be at least 1"),
    ({"model": {"kind": "sparse"}}, "model.kind = 'sparse' is not one of"),
    ({"model": {"router_init": "magic"}}, "model.router_init"),
    ({"nonsense": {}}, "unknown section [nonsense]"),
    ({"model": {"n_expert": 3}}, "unknown field model.n_expert"),
    ({"model": {"kind": "dense", "n_experts": 3}}, "a dense model has n_experts = 1"),
])
def test_bad_values_are_named(raw, fragment):
    assert any(fragment in p for p in problems_of(raw)), problems_of(raw)


def test_every_problem_reported_at_once():
    probs = problems_of({"model": {"k": 0, "d_hidden": 0}, "train": {"steps": 0},
                         "data": {"sparsity": 2}})
    assert len(probs) == 4
    assert "\n" not in str(ConfigError(probs))


def test_toml_syntax_error_names_the_line(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[model]\nn_features = 3\nk = = 2\n")
    with pytest.raises(ConfigError, match="line 3"):
        load_toml(f)


def test_set_and_sweep_parse_values_as_toml():
    raw = with_overrides({}, ["model.n_experts=3", "data.importance={ decay = 0.7 }",
                              "model.gating=switch"],
                         ["data.sparsity=0.1,0.5,0.9", "model.k=1,2"])
    cfg = from_dict(raw)
    assert cfg.model.n_experts == 3 and cfg.model.gating == "switch"
    assert cfg.data.importance == {"decay": 0.7}
    assert len(expand(cfg)) == 6


def test_sweep_point_problems_are_caught():
    raw = with_overrides({}, ["model.n_experts=2"], ["model.k=1,3"])
    with pytest.raises(ConfigError, match="k = 3 is more than"):
        expand(from_dict(raw))


def test_unknown_set_field_is_refused():
    with pytest.raises(ConfigError, match="unknown field train.step"):
        build_config("fig5", sets=["train.step=3"])


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'fig99'"):
        build_config("fig99")


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_in_both_forms(name):
    for quick in (False, True):
        cfg = build_config(name, quick=quick)
        assert len(expand(cfg)) >= 1


def test_shapes_batch_together():
    cfg = build_config("fig4", quick=True)
    runs = expand(cfg)
    groups = batches(runs)
    # 8 setups (A: E=1,2; B, C: E=1,2,3), each one batched model
    assert len(groups) == 8
    assert sum(len(g) for g in groups) == len(runs)
