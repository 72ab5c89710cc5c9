"""Parsing lake locations: a directory stays a directory; postgres URLs become libpq settings."""

from pathlib import Path

import pytest

from schemas.errors import ConfigError
from schemas.lake import Lake
from schemas.lake_location import is_postgres_url, libpq_conninfo, mask_urls, parse_location, public_location


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


def test_a_postgres_lake_shows_and_passes_on_only_its_masked_url(tmp_path):
    url = f"postgres://ana:pa%40ss@db.example:6543/lakemask?data_path={tmp_path}"
    lake = Lake(url)
    assert lake.location == f"postgres://ana:***@db.example:6543/lakemask?data_path={tmp_path}"
    assert "pa@ss" not in repr(lake) + repr(lake.where) and lake.where.password == "pa@ss"
    assert lake.where.redact("failed: pa@ss, quoted pa%40ss") == "failed: ***, quoted ***"
    assert lake.workdir == tmp_path / ".warmstart"
    # the masked URL, parsed again in this process, finds the password; another user's does not
    assert Lake(lake.location).where.password == "pa@ss"
    assert Lake(lake.location.replace("ana:", "bob:")).where.password is None


def test_urls_are_masked_inside_any_text():
    text = "lake=postgres://u:p@ss@h:5/db?data_path=/x and postgresql://v:q@k/db2"
    assert mask_urls(text) == "lake=postgres://u:***@h:5/db?data_path=/x and postgresql://v:***@k/db2"
    assert public_location("data/lake") == "data/lake"
    assert public_location("postgres://me@h/db?data_path=/x") == "postgres://me@h/db?data_path=/x"
