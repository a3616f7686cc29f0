"""The one "module:callable" resolver: grammar, files, folders searched, chained causes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.config import refs
from dii_hpc.errors import BadInput


@pytest.mark.parametrize(("text", "module", "attr"), [
    ("pkg.mod:attr", "pkg.mod", "attr"),
    ("pkg.mod:Class.factory", "pkg.mod", "Class.factory"),
    ("pkg.mod.Class", "pkg.mod", "Class"),
    ("dir/file.py:make", "dir/file.py", "make"),
    ("/abs/dir/file.py:Class.make", "/abs/dir/file.py", "Class.make"),
])
def test_grammar(text: str, module: str, attr: str) -> None:
    ref = refs.parse(text)
    assert (ref.module, ref.attr) == (module, attr)
    assert ref.is_file == module.endswith(".py")


@pytest.mark.parametrize("text", ["", "nocolon", ":attr", "mod:", "mod:1bad", "a b:c", 3, None])
def test_not_a_reference_names_the_key(text: object) -> None:
    with pytest.raises(BadInput, match=r"^models\.cnn\.class: "):
        refs.parse(text, "models.cnn.class")
    assert not refs.is_ref(text)


def test_resolves_attributes_and_checks_methods() -> None:
    assert refs.resolve("os.path:join") is __import__("os").path.join
    assert refs.resolve("collections:OrderedDict.fromkeys") == __import__("collections").OrderedDict.fromkeys
    with pytest.raises(BadInput, match=r"^model: 'collections:OrderedDict' has no methods "
                                       r"train_function and get_grad, which a model must define$"):
        refs.resolve("collections:OrderedDict", "model", require=("train_function", "get_grad", "keys"),
                     what="model")
    with pytest.raises(BadInput, match=r"'os' has no attribute 'nope'"):
        refs.resolve("os:nope", "model")


def test_the_users_own_import_error_is_chained(tmp_path: Path) -> None:
    (tmp_path / "broken_mod_x1.py").write_text("import no_such_dependency_zz\n")
    (tmp_path / "raising_mod_x1.py").write_text("raise RuntimeError('bad config value')\n")
    with pytest.raises(BadInput, match="module 'no_such_dependency_zz' is not installed") as info:
        refs.resolve("broken_mod_x1:f", "model", search=[tmp_path])
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    with pytest.raises(BadInput, match="RuntimeError: bad config value") as info:
        refs.resolve("raising_mod_x1:f", "model", search=[tmp_path])
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_missing_module_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"cannot import module 'mymodel_zz' \(looked in sys.path, "
                                       + str(tmp_path).replace("/", r"\/") + r", \.\)") as info:
        refs.resolve("mymodel_zz:Net", "models.m.class", search=[tmp_path])
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_modules_beside_the_config_are_found(tmp_path: Path) -> None:
    (tmp_path / "beside_cfg_x2.py").write_text("class Net:\n    def train_function(self):\n        return 1\n")
    cls = refs.resolve("beside_cfg_x2:Net", "models.m.class", require=("train_function",),
                       search=[tmp_path])
    assert cls().train_function() == 1


def test_files_resolve_relative_to_the_search_folders(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "factory_x3.py").write_text("def make(width=2):\n    return ['net', width]\n")
    assert refs.build("sub/factory_x3.py:make", "model", search=[tmp_path]) == ["net", 2]
    spec = {"factory": "sub/factory_x3.py:make", "params": {"width": 5}}
    assert refs.build(spec, "model", search=[tmp_path]) == ["net", 5]
    assert refs.canonical("sub/factory_x3.py:make", base=tmp_path) == f"{tmp_path}/sub/factory_x3.py:make"
    with pytest.raises(BadInput, match="no such file sub/none.py"):
        refs.resolve("sub/none.py:make", "model", search=[tmp_path])


def test_a_failing_factory_is_the_users_error(tmp_path: Path) -> None:
    (tmp_path / "factory_x4.py").write_text("def make(width):\n    raise ValueError(f'width {width} too big')\n")
    with pytest.raises(BadInput, match=r"^model: .*factory_x4.py:make\(width=9\) failed: "
                                       r"ValueError: width 9 too big$") as info:
        refs.build({"factory": str(tmp_path / "factory_x4.py") + ":make", "params": {"width": 9}}, "model")
    assert isinstance(info.value.__cause__, ValueError)
    assert refs.display({"factory": "a:b"}) == "a:b" and refs.display("a:b") == "a:b"


def test_a_factory_error_of_several_lines_is_one_line_with_all_of_them(tmp_path: Path) -> None:
    """Issue 26: torch's load_state_dict error says what failed after its first line's colon;
    the message was cut there ("Error(s) in loading state_dict for Net:")."""
    (tmp_path / "factory_x5.py").write_text(
        "def make(width):\n"
        "    raise RuntimeError('Error(s) in loading state_dict for Net:\\n\\tsize mismatch for "
        "fc.weight: copying a param with shape [32, 4] from checkpoint, the shape in current "
        "model is [16, 4].')\n")
    with pytest.raises(BadInput) as info:
        refs.build({"factory": str(tmp_path / "factory_x5.py") + ":make", "params": {"width": 16}},
                   "model")
    assert str(info.value).endswith(
        "failed: RuntimeError: Error(s) in loading state_dict for Net: size mismatch for "
        "fc.weight: copying a param with shape [32, 4] from checkpoint, the shape in current "
        "model is [16, 4].")
    assert "\n" not in str(info.value)
