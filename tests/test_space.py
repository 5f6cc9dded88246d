from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from archtune import SpaceError, create_search_space, load_search_space
from archtune.errors import ArchtuneError, SpaceFileError
from archtune.space.encoding import encoding_key, validate_encodings
from archtune.space.featurize import Featurizer
from archtune_experiments.systems.featurize import measure_featurize


@pytest.mark.parametrize(
    "encodings, message",
    [
        ([], "empty"),
        ([(1, "a"), (1, "a")], "encoding 1 duplicates encoding 0"),
        ([(1, "a"), (1, "a", 3)], "encoding 1 has length 3 but encoding 0 has length 2"),
        ([{"a": 1}, {"b": 1}], "encoding 1 has keys ['b']"),
        ([(1, [2, 3])], "position '1' holds a list (unhashable"),
        ([(1, object())], "not JSON-serializable"),
        ([(1, float("nan"))], "non-finite"),
        ([(1,), "a"], "encoding 1 is a str but encoding 0 is a tuple"),
        ([3.5], "must be a tuple, a dict or a string"),
    ],
)
def test_bad_encodings_are_named(encodings, message):
    with pytest.raises(SpaceError) as err:
        create_search_space("bad", None, encodings)
    assert message in str(err.value)
    assert isinstance(err.value, ArchtuneError) and isinstance(err.value, ValueError)


def test_featurization_onehot_and_numeric():
    f = Featurizer.fit([(1, "a", True), (3, "b", False)])
    assert f.transform([(2, "b", True)]).tolist() == [[0.5, 0.0, 1.0, 1.0, 0.0]]
    with pytest.raises(SpaceError, match="not seen"):
        f.transform([(2, "c", True)])


def test_custom_featurizer_and_bad_one():
    ss = create_search_space("c", None, ["a", "bb"], featurizer=lambda encs: [[len(e)] for e in encs])
    assert ss.features.tolist() == [[1.0], [2.0]]
    with pytest.raises(SpaceError, match="one row per encoding"):
        create_search_space("c", None, ["a", "bb"], featurizer=lambda encs: [[1.0]])


def test_save_load_roundtrip_runs_no_code(tmp_path):
    path = tmp_path / "s.space"
    encs = [{"depth": d, "act": a} for d in (1, 2) for a in ("relu", "gelu")]
    ss = create_search_space("s", path, encs, pretraining_data={"params": [1.0, 2.0, 3.0, 4.0]})
    ss.preprocess(pretraining_data={"params": [1.0, 2.0, 3.0, 4.0]}, progress=False)
    back = load_search_space(path)
    assert back.encodings == ss.encodings
    np.testing.assert_array_equal(back.features, ss.features)
    assert back.metrics["params"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert back.surrogate is not None
    # the file is loadable with weights_only (no pickle of code)
    torch.load(path, weights_only=True)
    (tmp_path / "junk.space").write_bytes(b"not a space")
    with pytest.raises(SpaceFileError):
        load_search_space(tmp_path / "junk.space")


def _builder(encoding):
    (width,) = encoding
    if width == 3:
        raise ValueError("width 3 is unsupported")
    return torch.nn.Sequential(torch.nn.Linear(4, width), torch.nn.ReLU(), torch.nn.Linear(width, 2))


def test_preprocess_profiles_and_excludes_failing_builds(tmp_path):
    ss = create_search_space("w", tmp_path / "w.space", [(w,) for w in (2, 3, 8)], encoding_to_net=_builder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ss.preprocess(sample_input=torch.rand(5, 4), threads=2, progress=False, latency_repeats=1)
    assert any("width 3 is unsupported" in str(w.message) for w in caught)
    assert list(ss.excluded) == [1]
    assert ss.searchable.tolist() == [True, False, True]
    assert ss.metrics["params"][0] == 4 * 2 + 2 + 2 * 2 + 2
    assert np.isnan(ss.metrics["params"][1])
    assert ss.metrics["flops"][2] == 2 * 5 * (4 * 8 + 8 * 2)
    back = load_search_space(tmp_path / "w.space", trust_builder=True)
    assert back.excluded == {1: "ValueError: width 3 is unsupported"}
    assert back.encoding_to_net is _builder  # stored as an import path


def test_preprocess_sample_size():
    ss = create_search_space("w", None, [(w,) for w in range(1, 21)], encoding_to_net=_builder)
    ss.preprocess(sample_input=torch.rand(2, 4), sample_size=5, progress=False, latency_repeats=1)
    assert np.isfinite(ss.metrics["params"]).sum() == 5


def test_million_encodings_featurize_small():
    # in a fresh process, so the peak resident memory belongs to this space alone; the time it takes is
    # a benchmark's business (archtune bench featurize), not the default test run's
    result = measure_featurize(1_000_000)
    assert result["shape"] == [1_000_000, 6]
    assert result["key"] == encoding_key(tuple(result["enc"]))
    assert result["extra_bytes"] < 1024**3, result


@pytest.mark.parametrize(
    "encodings",
    [
        [(1, "a", 0.5, None, True), (2, "b", -0.0, None, False), (1, 'é\n"q', 0.0, 1, 1)],
        [{"depth": d, "op": o, "w": w} for d in (1, 2) for o in ("x", 'y"') for w in (0.25, 1e300, -3.5)],
        ["alpha", "béta", 'quo"te', "new\nline"],
        [(np.float64(0.5), np.int64(3)), (np.float64(1.5), np.int64(3))],
        [(i % 3, float(i % 5)) for i in range(15)],
        [(True, 1), (1, 1)],
        [()],
    ],
)
def test_fast_keys_equal_canonical_json(encodings):
    canonical, keys = validate_encodings(encodings)
    assert keys == [encoding_key(e) for e in canonical]
    assert all(isinstance(e, tuple | dict | str) for e in canonical)
