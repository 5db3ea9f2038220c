"""Settings that need more than a type: the database URL and password from secret files."""

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings


def test_the_database_url_can_come_from_a_mounted_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "url"
    secret.write_text("postgres://driftline:s3cret@db:5432/driftline\n")
    monkeypatch.delenv("DRIFTLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL_FILE", str(secret))
    assert Settings().database_url == "postgresql+psycopg://driftline:s3cret@db:5432/driftline"
    # The variable itself wins when both are set.
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", "postgresql://other@db/x")
    assert Settings().database_url == "postgresql+psycopg://other@db/x"


@pytest.mark.parametrize(("content", "says"), [(None, "cannot read"), ("  \n", "is empty")])
def test_an_unreadable_or_empty_secret_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, says: str
) -> None:
    secret = tmp_path / "url"
    if content is not None:
        secret.write_text(content)
    monkeypatch.delenv("DRIFTLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL_FILE", str(secret))
    with pytest.raises(ValidationError, match=says) as raised:
        Settings()
    assert str(secret) in str(raised.value)


def test_the_password_alone_can_come_from_the_postgres_images_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The compose file mounts one secret for both the postgres image (POSTGRES_PASSWORD_FILE)
    # and Driftline; characters a URL cannot hold as they are get quoted.
    secret = tmp_path / "postgres_password"
    secret.write_text("p@ss:/word\n")
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", "postgresql://driftline@postgres:5432/driftline")
    monkeypatch.setenv("DRIFTLINE_DATABASE_PASSWORD_FILE", str(secret))
    url = Settings().database_url
    assert url == "postgresql+psycopg://driftline:p%40ss%3A%2Fword@postgres:5432/driftline"
    from sqlalchemy.engine import make_url

    assert make_url(url).password == "p@ss:/word"
    secret.write_text("")
    with pytest.raises(ValidationError, match=r"DRIFTLINE_DATABASE_PASSWORD_FILE: .* is empty"):
        Settings()


def test_the_public_url_defaults_to_the_listening_address_and_must_be_http() -> None:
    assert Settings(host="0.0.0.0", port=9000).ui_url == "http://localhost:9000"  # noqa: S104
    assert Settings(host="10.1.2.3", port=8000).ui_url == "http://10.1.2.3:8000"
    assert Settings(public_url="https://dl.example.com/").ui_url == "https://dl.example.com"
    with pytest.raises(ValidationError, match="DRIFTLINE_PUBLIC_URL must be an http"):
        Settings(public_url="dl.example.com")


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"oidc_issuer": "https://idp.example.com"}, "set DRIFTLINE_OIDC_CLIENT_ID too"),
        (
            {"oidc_issuer": "https://idp.example.com", "oidc_client_id": "driftline"},
            "map at least one group",
        ),
        ({"oidc_issuer": "idp.example.com", "oidc_client_id": "x"}, "must be an http(s) URL"),
        (
            {"oidc_issuer": "https://i", "oidc_client_id": "x",
             "oidc_groups": {"g": {"scopes": ["root"]}}},
            "scopes",
        ),
    ],
)  # fmt: skip
def test_an_incomplete_identity_provider_setting_is_a_start_up_error(
    settings: dict[str, object], says: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        Settings(**settings)  # type: ignore[arg-type]
