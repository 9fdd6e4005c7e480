"""`govcloud init`: a new config repo that validates out of the box."""
from __future__ import annotations

import shutil
from pathlib import Path

from govcloud.config import ConfigRepo
from govcloud.errors import GovcloudError


def init_config_repo(directory: Path, agency: str = "moh", site: str = "thr1", force: bool = False) -> list[Path]:
    defaults = ConfigRepo(None)
    if directory.exists() and any(directory.iterdir()) and not force:
        raise GovcloudError(f"{directory} is not empty; use --force to write into it (existing files are kept)")
    templates = defaults.templates
    written: list[Path] = []

    def write(rel: str, text: str) -> None:
        path = directory / rel
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    sample = f"manifests/{agency}/hello.yaml"
    owner = f"it@{agency}.gov.example"
    write("govcloud.yaml", templates.render("init/govcloud.yaml.j2", ministry=directory.name))
    write(".gitignore", templates.render("init/gitignore.j2"))
    write(sample, templates.render("init/manifest.yaml.j2", agency=agency, site=site, owner=owner, path=sample))
    # the inventories are copied so the ministry can edit them; stacks and
    # templates keep coming from govcloud until a file of the same name is added
    src = defaults.search_dirs("inventories")[-1]
    for f in sorted(src.rglob("*.yaml")):
        rel = f.relative_to(src)
        target = directory / "inventories" / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
            written.append(target)
    return written
