"""dqx is on no package index: every `pip install` a reader can copy must install it from
the repository or a wheel built from it, never `dqx` by name."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `pip install dqx`, `pip install 'dqx[postgres]'`, `pip install -U "dqx"`: dqx by name.
BY_NAME = re.compile(r"""pip install\s+(?:-\S+\s+)*['"]?dqx(?:\[|['"\s`]|$)""", re.MULTILINE)


def _texts() -> dict[str, str]:
    paths = [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("deploy/**/*.md")]
    paths += ROOT.glob("src/dqx/**/*.py")
    return {str(path.relative_to(ROOT)): path.read_text(encoding="utf-8") for path in paths}


def test_no_doc_or_message_installs_dqx_from_an_index() -> None:
    texts = _texts()
    assert any("pip install" in text for text in texts.values()), "nothing was scanned"
    offenders = {name: BY_NAME.findall(text) for name, text in texts.items()}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_readme_says_how_to_install_from_the_repository_or_a_wheel() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "python -m pip install ." in install
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    wheel = f"dist/dqx-{version}-py3-none-any.whl"
    assert "python -m pip wheel --no-deps --wheel-dir dist ." in install
    assert f"python -m pip install '{wheel}[postgres]'" in install


def test_the_deploy_guide_installs_from_a_clone() -> None:
    guide = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    assert "pip install '.[postgres]'" in guide and "clone" in guide
