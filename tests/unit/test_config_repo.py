"""ConfigRepo as library callers make it: a str root is the same repo as its Path."""
from pathlib import Path

from govcloud.config import ConfigRepo


def test_a_str_root_is_the_same_repo_as_its_path(tmp_path):
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "agencies.yaml").write_text("agencies: []\n")

    from_str = ConfigRepo(str(tmp_path))

    assert from_str == ConfigRepo(tmp_path)
    assert isinstance(from_str.root, Path)
    assert from_str.find_file("inventories", "agencies.yaml") == tmp_path / "inventories" / "agencies.yaml"
    assert from_str.search_dirs("inventories")[0] == tmp_path / "inventories"


def test_a_str_defaults_dir_is_a_path(tmp_path):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "web-app.yaml").write_text("servers: []\n")

    repo = ConfigRepo(None, defaults=str(tmp_path))

    assert repo.find_file("stacks", "web-app.yaml") == (tmp_path / "stacks" / "web-app.yaml").resolve()
