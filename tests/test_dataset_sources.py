"""Where templates read their rows: `datasets.load_dataset(hf_dataset, split=hf_split)` (exercised
for real on a local folder, since the hub is unreachable) or a local copy named by `local_path`."""

from __future__ import annotations

import json

import pytest

from dataset_fixtures import DATASETS
from dataset_templates import _sources, imdb_length
from utils import RateError

IMDB = [json.loads(line) for line in (DATASETS / "imdb.jsonl").read_text().splitlines()]


def options(**kwargs) -> dict:
    return {**imdb_length.OPTIONS, **kwargs}


def texts(template_options: dict) -> list[str]:
    return [r["text"] for r in imdb_length.build(template_options).load_rows()]


def test_hf_load_dataset_path(tmp_path):
    folder = tmp_path / "imdb_copy"
    folder.mkdir()
    (folder / "train.jsonl").write_text((DATASETS / "imdb.jsonl").read_text())
    (folder / "test.jsonl").write_text(json.dumps({"text": "held out", "label": 0}) + "\n")
    got = texts(options(hf_dataset=str(folder), hf_split="train", hf_cache_dir=str(tmp_path / "cache")))
    assert got == [r["text"] for r in IMDB]
    assert texts(options(hf_dataset=str(folder), hf_split="test", hf_cache_dir=str(tmp_path / "cache"))) == ["held out"]


def test_unreachable_hub_dataset_is_a_user_error(tmp_path):
    # conftest sets HF_DATASETS_OFFLINE=1: the default `imdb` cannot be fetched, and nothing is cached here.
    with pytest.raises(RateError, match=r"hf_dataset.*local_path"):
        texts(options(hf_dataset="no-such-owner/no-such-dataset", hf_cache_dir=str(tmp_path / "cache")))


def test_local_json_array_and_json_lines(tmp_path):
    array, lines = tmp_path / "imdb.json", tmp_path / "imdb_lines.json"
    array.write_text(json.dumps(IMDB))
    lines.write_text("\n".join(json.dumps(r) for r in IMDB) + "\n\n")
    assert texts(options(local_path=str(array))) == texts(options(local_path=str(lines))) == [r["text"] for r in IMDB]


def test_local_file_read_through_datasets(tmp_path):
    import datasets

    path = tmp_path / "imdb.parquet"
    datasets.Dataset.from_list(IMDB).to_parquet(str(path))
    assert texts(options(local_path=str(path), hf_cache_dir=str(tmp_path / "cache"))) == [r["text"] for r in IMDB]


def test_relative_local_path_is_under_project_dir(project_dir):
    (project_dir / "data").mkdir(parents=True)
    (project_dir / "data" / "imdb.jsonl").write_text((DATASETS / "imdb.jsonl").read_text())
    assert len(texts(options(local_path="data/imdb.jsonl"))) == len(IMDB)
    assert imdb_length.build(options(local_path="data/imdb.jsonl")).extra["source"] == (
        f"local file {project_dir / 'data' / 'imdb.jsonl'}")


@pytest.mark.parametrize("content,match", [
    ('{"text": "a", "label": 1}\nnot json\n', "line 2 is not JSON"),
    ('{"review": "a", "label": 1}\n', r"lack \['text'\]"),
])
def test_bad_local_files_are_user_errors(tmp_path, content, match):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(RateError, match=match):
        texts(options(local_path=str(path)))


def test_missing_local_file_names_the_key(tmp_path):
    with pytest.raises(RateError, match=r"rewrites\.template_options\.local_path: .*absent\.jsonl does not exist"):
        texts(options(local_path=str(tmp_path / "absent.jsonl")))


def test_read_rows_keeps_positions_in_the_whole_dataset(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(10)))
    opts = _sources.source_options(None, local_path=str(path))
    assert [i for i, _ in _sources.read_rows(opts, "t", ("n",), -3, None)] == [7, 8, 9]
    assert [r["n"] for _, r in _sources.read_rows(opts, "t", ("n",), 0, 4)] == [0, 1, 2, 3]
    assert [r["n"] for _, r in _sources.read_rows(opts, "t", ("n",), -30, None)] == list(range(10))


def test_a_slice_of_a_datasets_table_keeps_positions(tmp_path):
    folder = tmp_path / "hh_copy"
    folder.mkdir()
    (folder / "train.jsonl").write_text((DATASETS / "hh_rlhf.jsonl").read_text())
    opts = {**_sources.source_options(str(folder)), "hf_cache_dir": str(tmp_path / "cache")}
    n = len((DATASETS / "hh_rlhf.jsonl").read_text().splitlines())
    got = _sources.read_rows(opts, "t", ("chosen", "rejected"), -2, None)
    assert [i for i, _ in got] == [n - 2, n - 1]
    assert [r["chosen"] for _, r in got] == [json.loads(line)["chosen"] for line in
                                            (DATASETS / "hh_rlhf.jsonl").read_text().splitlines()[-2:]]
