"""Parsing lake locations: a directory stays a directory; postgres URLs become libpq settings."""

from pathlib import Path

import pytest

from schemas.errors import ConfigError
from schemas.lake import Lake
from schemas.lake_location import is_postgres_url, libpq_conninfo, parse_location


def test_directory_location_is_unchanged(tmp_path):
    where = parse_location(tmp_path / "lake")
    assert where.kind == "local" and not where.is_postgres
    assert where.catalog == str(tmp_path / "lake" / "catalog.ducklake")
    assert where.data_path == tmp_path / "lake" / "files"
    lake = Lake(str(tmp_path / "lake"))
    assert lake.location == tmp_path / "lake" and lake.catalog == tmp_path / "lake" / "catalog.ducklake"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "PostgreSQL"])
def test_postgres_url_becomes_catalog_and_data_path(scheme):
    where = parse_location(f"{scheme}://ana:s3cret@db.example:6543/lake?data_path=/shared/lake")
    assert where.is_postgres
    assert where.catalog == ("postgres:dbname=lake host=db.example port=6543 user=ana "
                             "password=s3cret connect_timeout=5")
    assert where.data_path == Path("/shared/lake")
    assert "s3cret" not in where.display and "***" in where.display
    assert where.redact("failed for password s3cret") == "failed for password ***"


def test_url_options_pass_through_and_decode():
    where = parse_location("postgres://me%40corp:p%20w@h/my%20db?data_path=/s%20d"
                           "&connect_timeout=2&sslmode=require")
    assert where.conninfo == ("dbname='my db' host=h user=me@corp password='p w' "
                              "connect_timeout=2 sslmode=require")
    assert where.data_path == Path("/s d")


def test_url_without_user_or_port_leaves_them_to_libpq():
    where = parse_location("postgres://localhost/lake?data_path=/d")
    assert where.conninfo == "dbname=lake host=localhost connect_timeout=5"
    assert where.password is None and where.redact("x") == "x"


@pytest.mark.parametrize("url, message", [
    ("postgres://u@h/lake", "data_path"),
    ("postgres://u@h/lake?data_path=relative/dir", "absolute"),
    ("postgres://u@h/?data_path=/d", "database"),
    ("postgres://u@h/a/b?data_path=/d", "database"),
    ("postgres://u@h/lake?data_path=/d&colour=red", "unknown option"),
    ("postgres://u@h:notaport/lake?data_path=/d", "port"),
    ("postgres://u@h/lake?data_path=/d&connect_timeout=0", "connect_timeout"),
    ("postgres://u@h/lake?data_path=/d&connect_timeout=soon", "connect_timeout"),
])
def test_bad_urls_are_config_errors_naming_the_problem(url, message):
    with pytest.raises(ConfigError, match=message):
        parse_location(url)


def test_bad_url_message_hides_the_password():
    with pytest.raises(ConfigError) as caught:
        parse_location("postgres://u:topsecret@h/lake")
    assert "topsecret" not in str(caught.value)


def test_only_postgres_urls_are_urls(tmp_path):
    assert is_postgres_url("postgres://h/db")
    assert not is_postgres_url("data/lake")
    assert not is_postgres_url(tmp_path)
    assert not is_postgres_url("postgres_lake")


def test_conninfo_quotes_spaces_quotes_and_backslashes():
    text = libpq_conninfo({"dbname": "lake", "password": "a b'c\\d", "port": None, "user": ""})
    assert text == "dbname=lake password='a b\\'c\\\\d'"
