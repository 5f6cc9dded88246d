"""Space files: checksum, validation of every field, builder trust, and archtune errors for bad arguments."""

from __future__ import annotations

import json
import random
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from archtune.errors import ArchtuneError, SpaceError, SpaceFileError, UntrustedBuilderError
from archtune.space.builders import BUILTIN_BUILDERS, callable_path
from archtune.space.search_space import (
    FORMAT,
    SearchSpace,
    create_search_space,
    load_search_space,
    payload_checksum,
)

ENCODINGS = [(w, a) for w in (8, 16, 32) for a in ("relu", "gelu")]
PARAMS = [float(i + 1) for i in range(len(ENCODINGS))]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SearchSpace]:
    """A preprocessed space (metrics, an exclusion and a pretrained surrogate) and its file."""
    path = tmp_path_factory.mktemp("space") / "s.space"
    ss = create_search_space("s", path, ENCODINGS)
    ss.excluded[2] = "ValueError: too wide"
    ss.preprocess(pretraining_data={"params": PARAMS}, progress=False)
    return path, ss


def _content(ss: SearchSpace) -> dict[str, Any]:
    """Everything a loaded space holds, as plain comparable values."""
    return {
        "fingerprint": ss.fingerprint(),
        "name": ss.name,
        "builder": ss._builder,
        "metrics": {k: v.tobytes() for k, v in ss.metrics.items()},
        "excluded": ss.excluded,
        "surrogate": payload_checksum({"s": ss.surrogate}),
    }


def _raises_file_error(path: Path, *fragments: str) -> SpaceFileError:
    with pytest.raises(SpaceFileError) as err:
        load_search_space(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert isinstance(err.value, ArchtuneError) and isinstance(err.value, ValueError)
    return err.value


def _edit(source: Path, target: Path, change: Callable[[dict[str, Any]], None], mode: str) -> Path:
    """Write ``target``: ``source``'s payload changed by ``change``, saved with torch.save directly.

    ``mode``: "resigned" (format /2 with a correct checksum of the changed payload: only validation
    can catch the change), "legacy" (format /1, no checksum, as files written before it) or
    "unsigned" (the old checksum kept: the checksum must catch it).
    """
    payload = torch.load(source, weights_only=True)
    if mode == "legacy":
        payload.pop("checksum", None)
        payload["format"] = "archtune.space/1"
    change(payload)
    if mode == "resigned":
        payload["checksum"] = payload_checksum(payload)
    torch.save(payload, target)
    return target


# -- checksum ------------------------------------------------------------------------------------


def test_saved_file_is_format_2_with_a_checksum_of_every_field(saved):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT == "archtune.space/2"
    assert payload["checksum"] == payload_checksum(payload)
    assert payload["checksum"].startswith("sha256:") and len(payload["checksum"]) == 7 + 64
    # the nested surrogate weights are covered: one changed weight changes the checksum
    payload["surrogate"]["state"]["trunk.0"][0, 0, 0] += 1e-3
    assert payload_checksum(payload) != payload["checksum"]


def _zip_entry_span(raw: bytes, suffix: str) -> tuple[int, int]:
    """Offset and size of the zip entry whose name ends with ``suffix`` (stored, uncompressed)."""
    import io
    import struct
    import zipfile

    info = next(i for i in zipfile.ZipFile(io.BytesIO(raw)).infolist() if i.filename.endswith(suffix))
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def test_random_byte_damage_raises_or_loads_identical_content(saved, tmp_path):
    path, ss = saved
    raw = path.read_bytes()
    expected = _content(load_search_space(path))
    assert expected == _content(ss)
    pkl_start, pkl_size = _zip_entry_span(raw, "data.pkl")
    damaged = tmp_path / "damaged.space"
    raised = 0
    for seed in range(30):
        rng = random.Random(seed)
        data = bytearray(raw)
        # one in three anywhere (mostly the surrogate's weights, the bulk of the file), the others in
        # the pickle: field names, JSON texts, numbers, tensor records
        pos = rng.randrange(len(data)) if seed % 3 == 0 else pkl_start + rng.randrange(pkl_size)
        if seed % 2:
            data[pos] ^= 1 << rng.randrange(8)
        else:
            data[pos] = (data[pos] + rng.randrange(1, 256)) % 256
        damaged.write_bytes(bytes(data))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch may warn about the damaged archive
                back = load_search_space(damaged)
        except SpaceFileError as err:
            assert str(damaged) in str(err) and "\n" not in str(err)
            raised += 1
        else:  # damage to bytes that carry nothing (zip padding): the content must be unchanged
            assert _content(back) == expected, f"seed {seed}: damage at byte {pos} loaded changed content"
    assert raised >= 25


def test_truncated_files_raise(saved, tmp_path):
    path, _ = saved
    raw = path.read_bytes()
    cut = tmp_path / "cut.space"
    for length in (0, 1, 100, len(raw) // 3, len(raw) // 2, len(raw) - 100, len(raw) - 1):
        cut.write_bytes(raw[:length])
        _raises_file_error(cut)


def test_a_changed_number_fails_the_checksum(saved, tmp_path):
    path, _ = saved

    def change(p: dict[str, Any]) -> None:
        p["surrogate"]["state"]["metric_w"][0, 0, 0] = 3e26

    _raises_file_error(_edit(path, tmp_path / "x.space", change, "unsigned"), "checksum does not match")


def test_damage_that_turns_the_format_into_1_does_not_skip_the_checksum(saved, tmp_path):
    path, _ = saved

    def change(p: dict[str, Any]) -> None:
        p["format"] = "archtune.space/1"
        p["metrics"]["params"][0] = 99.0

    _raises_file_error(_edit(path, tmp_path / "x.space", change, "unsigned"), "checksum does not match")


def test_files_of_format_1_without_checksum_still_load(saved, tmp_path):
    path, ss = saved
    legacy = _edit(path, tmp_path / "old.space", lambda p: None, "legacy")
    payload = torch.load(legacy, weights_only=True)
    assert payload["format"] == "archtune.space/1" and "checksum" not in payload
    assert _content(load_search_space(legacy)) == _content(ss)


def test_a_format_2_file_without_checksum_is_refused(saved, tmp_path):
    path, _ = saved
    _raises_file_error(
        _edit(path, tmp_path / "x.space", lambda p: p.pop("checksum"), "unsigned"), "'checksum'"
    )


# -- validation of each field ------------------------------------------------------------------


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda p: p.__setitem__(key, value)


def _keys_json(keys: list[str]) -> str:
    return json.dumps(keys)


_ORIGINAL_KEYS = [json.dumps(list(e), separators=(",", ":")) for e in ENCODINGS]

MALFORMED = {
    "missing key": (lambda p: p.pop("encodings"), "lacks the field(s) 'encodings'"),
    "not a dict": (None, "not an archtune space file"),
    "bad format": (_set("format", "archtune.space/9"), "found archtune.space/9"),
    "name None": (_set("name", None), "'name' must be a non-empty string"),
    "encodings bad JSON": (_set("encodings", '["[8,"relu"]'), "'encodings' is not valid JSON"),
    "encodings not a list": (_set("encodings", '{"a": 1}'), "non-empty JSON list"),
    "encoding key bad JSON": (_set("encodings", _keys_json(_ORIGINAL_KEYS[:5] + ["[8,"])), "encoding key 5"),
    "duplicate encodings": (
        _set("encodings", _keys_json(_ORIGINAL_KEYS[:5] + [_ORIGINAL_KEYS[0]])),
        "encoding 5 duplicates encoding 0",
    ),
    "mixed shapes": (_set("encodings", _keys_json(_ORIGINAL_KEYS[:5] + ['[8,"relu",1]'])), "shape"),
    "metric wrong length": (
        lambda p: p["metrics"].__setitem__("params", torch.zeros(3, dtype=torch.float64)),
        "metric 'params' has shape (3,); the space has 6 encodings",
    ),
    "metric not float": (
        lambda p: p["metrics"].__setitem__("params", torch.zeros(6, dtype=torch.int64)),
        "metric 'params' must be a float tensor",
    ),
    "metrics not a dict": (_set("metrics", [1.0]), "'metrics' must map"),
    "excluded out of range": (_set("excluded", '{"6": "x"}'), "'excluded' names encoding 6"),
    "excluded negative": (_set("excluded", '{"-1": "x"}'), "'excluded' names encoding -1"),
    "excluded bad JSON": (_set("excluded", "{"), "'excluded' is not valid JSON"),
    "excluded not JSON text": (_set("excluded", 3), "'excluded' must be JSON text"),
    "plans bad JSON": (_set("featurizer_plans", "[{"), "'featurizer_plans' is not valid JSON"),
    "plans wrong count": (
        lambda p: p.__setitem__("featurizer_plans", json.dumps(json.loads(p["featurizer_plans"])[:1])),
        "one plan per position (2)",
    ),
    "plan misses a category": (
        lambda p: p.__setitem__(
            "featurizer_plans",
            json.dumps(
                [
                    json.loads(p["featurizer_plans"])[0],
                    {"position": "1", "kind": "onehot", "categories": ["relu"]},
                ]
            ),
        ),
        "'featurizer_plans' do not fit the encodings",
    ),
    "plan bounds too narrow": (
        lambda p: p.__setitem__(
            "featurizer_plans",
            json.dumps(
                [
                    {"position": "0", "kind": "numeric", "low": 8.0, "high": 16.0},
                    json.loads(p["featurizer_plans"])[1],
                ]
            ),
        ),
        "bounds do not cover",
    ),
    "plan wrong kind": (
        lambda p: p.__setitem__(
            "featurizer_plans",
            json.dumps(
                [
                    {"position": "0", "kind": "onehot", "categories": [8, 16, 32]},
                    json.loads(p["featurizer_plans"])[1],
                ]
            ),
        ),
        "must be 'numeric'",
    ),
    "plans and custom features": (
        _set("custom_features", torch.zeros(6, 3)),
        "both featurizer_plans and custom_features",
    ),
    "builder not a path": (_set("builder", 3), "'builder' must be None or an import path"),
    "surrogate n_features": (lambda p: p["surrogate"].__setitem__("n_features", 7), "trained on 7 features"),
    "surrogate weight shape": (
        lambda p: p["surrogate"]["state"].__setitem__("trunk.0", torch.zeros(5, 4, 64)),
        "do not have the shapes its config gives",
    ),
    "surrogate bad config": (lambda p: p["surrogate"]["config"].__setitem__("wings", 2), "config is invalid"),
    "surrogate NaN weight": (
        lambda p: p["surrogate"]["state"]["metric_b"].fill_(float("nan")),
        "NaN or infinite",
    ),
    "surrogate missing part": (lambda p: p["surrogate"].pop("state"), "'surrogate' must be None or a dict"),
}


@pytest.mark.parametrize("mode", ["resigned", "legacy"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_each_malformed_field_is_a_space_file_error(saved, tmp_path, case, mode):
    path, _ = saved
    change, fragment = MALFORMED[case]
    target = tmp_path / "bad.space"
    if change is None:
        torch.save([1, 2, 3], target)
    else:
        _edit(path, target, change, mode)
    _raises_file_error(target, fragment)


def test_objects_a_space_file_never_holds(saved, tmp_path):
    path, _ = saved
    target = tmp_path / "bad.space"
    torch.save(
        {**torch.load(path, weights_only=True), "name": Path("code")}, target
    )  # refused by weights_only
    _raises_file_error(target, "not a readable archtune space file")
    for mode in ("unsigned", "legacy"):  # loadable with weights_only, but no field of a space holds a dtype
        _edit(path, target, _set("builder", torch.float32), mode)
        _raises_file_error(target, "builder" if mode == "legacy" else "holds a dtype")


def test_keys_not_in_canonical_form_are_refused_in_files_without_checksum(saved, tmp_path):
    path, _ = saved
    keys = ['[8, "relu"]', *_ORIGINAL_KEYS[1:]]
    target = _edit(path, tmp_path / "bad.space", _set("encodings", _keys_json(keys)), "legacy")
    _raises_file_error(target, "encoding key 0", "not in canonical form")


def test_custom_features_of_the_wrong_shape(tmp_path):
    path = tmp_path / "c.space"
    create_search_space("c", path, ["a", "bb", "ccc"], featurizer=lambda encs: [[len(e)] for e in encs])
    assert load_search_space(path).features.tolist() == [[1.0], [2.0], [3.0]]
    for value, fragment in [
        (torch.zeros(2, 1), "one row per encoding (3); got a torch.float32 tensor of shape (2, 1)"),
        (torch.zeros(3), "shape (3,)"),
        (torch.zeros(3, 1, dtype=torch.float64), "torch.float64"),
        (None, "'custom_features' must be a tensor"),
        (torch.tensor([[1.0], [float("inf")], [2.0]]), "NaN or infinite"),
    ]:
        for mode in ("resigned", "legacy"):
            target = _edit(path, tmp_path / "bad.space", _set("custom_features", value), mode)
            _raises_file_error(target, fragment)


def test_missing_file_folder_and_bad_filename(tmp_path):
    _raises_file_error(tmp_path / "nope.space", "no search-space file")
    with pytest.raises(SpaceFileError, match="is a folder"):
        load_search_space(tmp_path)
    with pytest.raises(SpaceFileError, match="filename must be the path of a space file"):
        load_search_space(None)  # type: ignore[arg-type]


# -- builder and featurizer import paths -----------------------------------------------------------

_MODULE = """
from pathlib import Path
Path({marker!r}).with_suffix(".imported").write_text("imported")

def build(encoding):
    import torch
    Path({marker!r}).with_suffix(".called").write_text("called")
    return torch.nn.Linear(4, encoding[0])

def features(encodings):
    Path({marker!r}).with_suffix(".called").write_text("called")
    return [[1.0] for _ in encodings]
"""


@pytest.fixture
def side_effect_module(tmp_path, monkeypatch) -> tuple[str, Path]:
    """A module that leaves marker files when it is imported and when its functions are called."""
    name = f"archtune_test_side_effects_{tmp_path.name.replace('-', '_')}"
    marker = tmp_path / "marker"
    (tmp_path / f"{name}.py").write_text(_MODULE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


def test_a_loaded_builder_path_is_not_imported_unless_trusted(tmp_path, side_effect_module):
    name, marker = side_effect_module
    module = __import__(name)
    path = tmp_path / "b.space"
    create_search_space("b", path, [(2,), (3,)], encoding_to_net=module.build)
    del sys.modules[name]
    marker.with_suffix(".imported").unlink()

    back = load_search_space(path)
    with pytest.raises(UntrustedBuilderError) as err:
        back.encoding_to_net  # noqa: B018
    message = str(err.value)
    for fragment in (str(path), f"{name}:build", "trust_builder=True", "encoding_to_net="):
        assert fragment in message, message
    assert isinstance(err.value, SpaceFileError) and "\n" not in message
    with pytest.raises(UntrustedBuilderError):
        back.preprocess(sample_input=torch.rand(1, 4), progress=False)
    assert not marker.with_suffix(".imported").exists() and name not in sys.modules
    back.preprocess(pretraining_data={"w": [2.0, 3.0]}, progress=False)  # no builder needed: works
    # saving the untrusted space keeps the path, still untrusted on the next load
    assert load_search_space(path)._builder == f"{name}:build"
    assert not load_search_space(path).builder_trusted

    trusted = load_search_space(path, trust_builder=True)
    assert trusted.encoding_to_net((5,)).out_features == 5
    assert marker.with_suffix(".imported").exists() and marker.with_suffix(".called").exists()

    def mine(encoding: tuple[int]) -> torch.nn.Module:
        return torch.nn.Linear(4, 7)

    assert load_search_space(path, encoding_to_net=mine).encoding_to_net is mine


def test_a_file_naming_os_system_runs_nothing(saved, tmp_path):
    path, _ = saved
    target = _edit(path, tmp_path / "evil.space", _set("builder", "os:system"), "resigned")
    back = load_search_space(target)
    with pytest.raises(UntrustedBuilderError, match="'os:system'"):
        back.preprocess(sample_input=torch.rand(1, 4), progress=False)
    # archtune's own functions are not trusted wholesale, only the built-in spaces' builders
    target = _edit(path, tmp_path / "cli.space", _set("builder", "archtune.cli:main"), "resigned")
    with pytest.raises(UntrustedBuilderError):
        load_search_space(target).encoding_to_net  # noqa: B018


def test_a_featurizer_path_in_a_file_is_never_imported(tmp_path, side_effect_module):
    name, marker = side_effect_module
    path = tmp_path / "f.space"
    create_search_space("f", path, ["a", "b"], featurizer=lambda encs: [[2.0] for _ in encs])
    target = _edit(path, tmp_path / "f2.space", _set("featurizer_path", f"{name}:features"), "resigned")
    back = load_search_space(target, trust_builder=True)
    assert back.features.tolist() == [[2.0], [2.0]]  # the stored features, not the named featurizer's
    assert not marker.with_suffix(".imported").exists() and name not in sys.modules


def test_builtin_space_builders_are_trusted_and_the_allowlist_matches_the_registry(tmp_path):
    from archtune.spaces.digits_cnn import digits_cnn_space, encoding_to_net
    from archtune.spaces.mobileone_swiftformer import mobileone_swiftformer_space
    from archtune.spaces.registry import SPACES

    path = tmp_path / "d.space"
    digits_cnn_space(str(path))
    assert load_search_space(path).encoding_to_net is encoding_to_net
    builders = {callable_path(factory()._builder) for factory in SPACES.values()}
    builders.add(callable_path(mobileone_swiftformer_space(branches=1)._builder))
    assert builders == BUILTIN_BUILDERS


def test_a_space_built_in_this_process_keeps_its_callable_builder():
    def build(encoding: tuple[int]) -> torch.nn.Module:
        return torch.nn.Linear(4, encoding[0])

    ss = create_search_space("p", None, [(2,), (3,)], encoding_to_net=build)
    assert ss.encoding_to_net is build and ss.builder_trusted


# -- raw Python errors become archtune errors ----------------------------------------------------------


def test_save_filename_in_a_missing_folder_or_on_a_folder(tmp_path):
    with pytest.raises(SpaceFileError) as err:
        create_search_space("x", tmp_path / "no" / "such" / "s.space", ENCODINGS)
    assert "save_filename" in str(err.value) and "does not exist" in str(err.value)
    with pytest.raises(SpaceFileError) as err:
        create_search_space("x", tmp_path, ENCODINGS)
    assert "save_filename" in str(err.value) and "is a folder" in str(err.value)
    with pytest.raises(SpaceFileError, match="save_filename must be a file path"):
        create_search_space("x", 3, ENCODINGS)  # type: ignore[arg-type]
    ss = create_search_space("x", None, ENCODINGS)
    with pytest.raises(SpaceFileError, match="filename=.*does not exist"):
        ss.save(tmp_path / "gone" / "s.space")


def test_a_failed_write_is_a_space_file_error_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    import archtune.space.search_space as module

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(module.os, "replace", refuse)
    with pytest.raises(SpaceFileError, match="cannot write the space file save_filename=.*Permission denied"):
        create_search_space("x", tmp_path / "s.space", ENCODINGS)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "encodings, fragments",
    [
        (None, ["encodings must be a list", "NoneType"]),
        (3, ["encodings must be a list", "int"]),
        ([(1,), (10**400,)], ["encoding 1, position '0'", "about 401 digits"]),
        ([(1, 2), (3, 10**5000)], ["encoding 1, position '1'", "about 5001 digits", "not shown"]),
        ([{"a": 1}, {"a": -(10**400)}], ["encoding 1, position 'a'"]),
        ([10**400], ["must be a tuple, a dict or a string"]),
    ],
)
def test_bad_encodings_arguments_are_space_errors(encodings, fragments):
    with pytest.raises(SpaceError) as err:
        create_search_space("x", None, encodings)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_name_must_be_a_string():
    with pytest.raises(SpaceError, match="name must be a non-empty string.*None"):
        create_search_space(None, None, ENCODINGS)  # type: ignore[arg-type]


def test_large_integers_within_float_range_still_work():
    ss = create_search_space("x", None, [(10**300,), (1,)])
    assert ss.features.tolist() == [[1.0], [0.0]]


# -- fingerprint ---------------------------------------------------------------------------------------


def test_fingerprint_survives_save_and_load_and_tells_spaces_apart(saved):
    path, ss = saved
    fp = ss.fingerprint()
    assert set(fp) >= {"n_encodings", "encodings", "features", "featurizer"}
    assert fp["n_encodings"] == 6 and all(len(fp[k]) == 64 for k in ("encodings", "features", "featurizer"))
    assert load_search_space(path).fingerprint() == fp
    other = create_search_space("s", None, ENCODINGS, featurizer=lambda encs: [[float(e[0])] for e in encs])
    assert other.fingerprint()["encodings"] == fp["encodings"]
    assert other.fingerprint()["features"] != fp["features"]
    assert other.fingerprint()["featurizer"] != fp["featurizer"]
    fortran = SearchSpace(
        "s", None, ss.encodings, ss.keys, np.asfortranarray(ss.features), ss.featurizer_plans
    )
    assert fortran.fingerprint() == fp  # the bytes hashed are C-ordered whatever the array's layout


def test_fingerprint_of_a_million_encodings_is_cheap():
    n = 1_000_000
    keys = [f"[{i}]" for i in range(n)]
    ss = SearchSpace("big", None, [(i,) for i in range(n)], keys, np.zeros((n, 8), np.float32), [])
    start = time.perf_counter()
    fp = ss.fingerprint()
    assert time.perf_counter() - start < 2.0
    assert fp["n_encodings"] == n


def test_a_space_file_naming_a_builder_by_its_old_path_still_loads_trusted(tmp_path):
    # NAS-Bench-201's network moved from archtune.spaces.nb201_net to archtune.nets.nb201: a space file
    # written before the move names the old path, and must still build its networks without trust_builder
    from archtune.nets.nb201 import nb201_net

    path = tmp_path / "cells.space"
    cells = [("nor_conv_3x3",) * 6, ("skip_connect",) * 6]
    create_search_space("cells", path, cells, encoding_to_net=nb201_net)
    old = _edit(
        path, tmp_path / "old.space", _set("builder", "archtune.spaces.nb201_net:nb201_net"), "resigned"
    )
    back = load_search_space(old)
    assert back.builder_trusted and back.encoding_to_net is nb201_net
    assert isinstance(back.encoding_to_net(cells[0]), torch.nn.Module)
    # the alias trusts exactly the moved builder, not its module's other names
    other = _edit(
        path, tmp_path / "other.space", _set("builder", "archtune.spaces.nb201_net:Cell"), "resigned"
    )
    with pytest.raises(UntrustedBuilderError):
        load_search_space(other).encoding_to_net  # noqa: B018
