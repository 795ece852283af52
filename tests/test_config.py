"""Settings precedence: flag > environment > dqx.toml > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from dqx.common import DQXError
from dqx.config import load_settings


def test_each_key_takes_the_most_specific_source(tmp_path: Path) -> None:
    (tmp_path / "dqx.toml").write_text(
        '[dqx]\ndb_url = "sqlite:///toml.db"\njaeger_url = "http://toml"\nfail_on = "P2"\n'
    )
    settings = load_settings(
        {"db_url": "sqlite:///flag.db", "jaeger_url": None},
        environ={"DQX_JAEGER_URL": "http://env", "DQX_DB_URL": "sqlite:///env.db"},
        directory=tmp_path,
    )
    assert settings.values["db_url"] == "sqlite:///flag.db"
    assert settings.origin["db_url"] == "flag"
    assert settings.values["jaeger_url"] == "http://env"
    assert settings.values["fail_on"] == "P2"
    assert settings.origin["fail_on"] == str(tmp_path / "dqx.toml")
    assert settings.values["grafana_url"] is None and settings.origin["grafana_url"] == "default"


def test_no_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, environ={}, directory=tmp_path)
    assert settings.values["db_url"] == "sqlite:///dqx.db"
    with pytest.raises(DQXError, match=r"no jaeger_url configured.*DQX_JAEGER_URL"):
        settings.require("jaeger_url")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('db_ulr = "x"\n', "unknown setting\\(s\\) db_ulr"),
        ("db_url = 3\n", "db_url must be a string"),
        ("db_url = \n", "not valid TOML"),
    ],
)
def test_a_wrong_file_is_an_error_naming_it(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "dqx.toml").write_text(content)
    with pytest.raises(DQXError, match=message) as raised:
        load_settings({}, environ={}, directory=tmp_path)
    assert "dqx.toml" in str(raised.value)
