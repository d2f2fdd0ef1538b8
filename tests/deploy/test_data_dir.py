"""SCIM_DATA_DIR: where the server writes its files when neither the database URL nor the secret key is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app


def test_the_data_dir_holds_the_sqlite_database_and_the_secret_key(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCIM_DATABASE_URL", raising=False)
    monkeypatch.delenv("SCIM_SECRET_KEY", raising=False)
    monkeypatch.setenv("SCIM_DATA_DIR", str(tmp_path / "data"))
    app = create_app()
    assert app.instance_path == str(tmp_path / "data")
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path}/data/scim.db"
    assert app.config["SECRET_KEY"] == (tmp_path / "data" / "secret_key").read_text().strip()
    assert create_app().config["SECRET_KEY"] == app.config["SECRET_KEY"]


def test_given_settings_leave_the_data_dir_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIM_DATA_DIR", str(tmp_path / "data"))
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/elsewhere.db", "SECRET_KEY": "given"})
    assert app.config["SECRET_KEY"] == "given"
    assert not (tmp_path / "data").exists()
