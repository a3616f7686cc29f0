"""Stage keys: what changes a stage's key (and so what runs again) and what does not."""

from __future__ import annotations

from pathlib import Path

from dii_hpc.pipeline import cache, graph, spec
from dii_hpc.records.pipeline import CachedOutcome
from tests.pipeline.conftest import lifecycle

CODE = {"dii_hpc": "1", "sources": "abc", "diff_sha256": None}


def _keys(obj: dict, tmp_path: Path, code: dict = CODE, cwd: Path | None = None) -> dict[str, str]:
    p = spec.parse(obj, str(tmp_path / "p.yaml"), cwd=cwd)
    order = graph.order({n: s.needs for n, s in p.stages.items()})
    return cache.keys(p, order, code, tmp_path / "store")


def _places(tmp_path: Path, name: str = "p") -> spec.Places:
    return spec.Places(tmp_path, tmp_path / "store" / "pipelines" / "work" / name, tmp_path / "store")


def test_same_inputs_same_keys(files: dict[str, Path], tmp_path: Path) -> None:
    first = _keys(lifecycle(files), tmp_path)
    assert first == _keys(lifecycle(files), tmp_path)
    assert len(set(first.values())) == len(first)


def test_a_config_file_content_change_reruns_it_and_what_needs_it(files: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    before = _keys(lifecycle(files), tmp_path)
    files["sweep"].write_text(files["sweep"].read_text().replace("0.4", "0.5"))
    after = _keys(lifecycle(files), tmp_path)
    assert all(before[s] != after[s] for s in before)  # everything is downstream of train
    files["policy"].write_text('{"training": {"val_acc": ">= 0.35"}}')
    again = _keys(lifecycle(files), tmp_path)
    assert [s for s in after if after[s] != again[s]] == ["gate", "promote", "site"]


def test_stage_config_and_code_version_count(files: dict[str, Path], tmp_path: Path) -> None:
    base = lifecycle(files)
    before = _keys(base, tmp_path)
    base["stages"]["note"]["command"] = "true"
    after = _keys(base, tmp_path)
    assert [s for s in before if before[s] != after[s]] == ["note", "site"]
    other = _keys(lifecycle(files), tmp_path, {**CODE, "diff_sha256": "x"})
    assert all(before[s] != other[s] for s in before)


def test_files_under_work_are_not_hashed_their_makers_key_stands_for_them(tmp_path: Path) -> None:
    obj = {"pipeline": "p", "stages": {"make": {"command": "touch {work}/a.csv"},
                                       "prof": {"profile": {"name": "m", "data": "{work}/a.csv"},
                                                "needs": ["make"]}}}
    p = spec.parse(obj, "p.yaml")
    assert cache.file_hashes(p.stages["prof"], _places(tmp_path)) == {}
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n")
    obj["stages"]["prof"]["profile"]["data"] = str(data)
    p = spec.parse(obj, "p.yaml")
    first = cache.file_hashes(p.stages["prof"], _places(tmp_path))
    data.write_text("x\n2\n")
    assert list(first) == [str(data)] and cache.file_hashes(p.stages["prof"], _places(tmp_path)) != first


def test_relative_files_are_hashed_where_the_stage_reads_them(tmp_path: Path) -> None:
    """Issue 26 item 3: a relative data file, a command's script and its argument (and an
    ``--opt=FILE``) are hashed at the path the stage opens: the working directory."""
    (tmp_path / "ref.csv").write_text("x\n1\n")
    (tmp_path / "myscript.py").write_text("print(1)\n")
    (tmp_path / "input.txt").write_text("a\n")
    (tmp_path / "opt.txt").write_text("b\n")
    obj = {"pipeline": "p", "stages": {
        "prof": {"profile": {"name": "m", "data": "ref.csv"}},
        "cmd": {"command": "python myscript.py input.txt --extra=opt.txt"}}}
    before = _keys(obj, tmp_path, cwd=tmp_path)
    p = spec.parse(obj, "p.yaml", cwd=tmp_path)
    assert p.stages["prof"].value["data"] == str(tmp_path.resolve() / "ref.csv")  # what the job opens
    assert set(cache.file_hashes(p.stages["cmd"], p.places(tmp_path / "store"))) == {
        str(tmp_path.resolve() / f) for f in ("myscript.py", "input.txt", "opt.txt")}
    for name in ("ref.csv", "myscript.py", "input.txt", "opt.txt"):
        path = tmp_path / name
        path.write_text(path.read_text() + "changed\n")
        after = _keys(obj, tmp_path, cwd=tmp_path)
        assert [s for s in after if after[s] != before[s]] == (
            ["prof"] if name == "ref.csv" else ["cmd"]), name
        before = after


def test_placeholders_count_as_filled_and_a_command_by_its_folder(tmp_path: Path) -> None:
    """Issue 26 item 3: a stage writing to ``{work}`` under another pipeline name writes to
    another folder: another key. The same command run from another folder is another stage."""
    obj = {"pipeline": "one", "stages": {"note": {"command": "touch {work}/note.txt"}}}
    first = _keys(obj, tmp_path, cwd=tmp_path)
    assert _keys(obj, tmp_path, cwd=tmp_path) == first
    assert _keys({**obj, "pipeline": "two"}, tmp_path, cwd=tmp_path) != first
    (tmp_path / "sub").mkdir()
    assert _keys(obj, tmp_path, cwd=tmp_path / "sub") != first


def test_a_folder_named_by_a_command_is_listed_without_the_store(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("1\n")
    obj = {"pipeline": "p", "stages": {"lint": {"command": "ruff check src ."}}}
    first = _keys(obj, tmp_path, cwd=tmp_path)
    (tmp_path / "store" / "pipelines").mkdir(parents=True)
    (tmp_path / "store" / "pipelines" / "x.json").write_text("{}")  # stages write the store
    assert _keys(obj, tmp_path, cwd=tmp_path) == first
    (tmp_path / "src" / "b.py").write_text("2\n")
    assert _keys(obj, tmp_path, cwd=tmp_path) != first


def test_outcomes_are_kept_by_key(tmp_path: Path) -> None:
    assert cache.lookup(tmp_path, "k" * 64) is None
    cache.save(tmp_path, "k" * 64, CachedOutcome(outputs={"run_id": "r"}))
    assert cache.lookup(tmp_path, "k" * 64).outputs == {"run_id": "r"}


def test_code_version_of_this_checkout(tmp_path: Path) -> None:
    code = cache.code_version(Path(__file__).parent)
    assert len(code["sources"]) == 64 and code["dii_hpc"]
    assert cache.code_version(tmp_path)["sources"] is None  # not a git repository
