"""Where a lake lives: a local directory, or a PostgreSQL catalog plus a shared data path.

    data/lake                                                   -> catalog file data/lake/catalog.ducklake
    postgres://user:pw@db.host:5432/lake?data_path=/shared/lake -> catalog in PostgreSQL database `lake`

A PostgreSQL catalog lets several hosts write one lake; its Parquet files go to `data_path`,
which every host must mount at the same path. The password may also come from PGPASSWORD or
~/.pgpass (libpq reads them).

The password never leaves the process: a lake's `display` (its `Lake.location`) is the URL with the
password masked as `***`, and that masked URL is what configs, `runs.config` and Prefect parameters
carry. Parsing it again in the same process finds the password remembered from the first parse;
elsewhere (a Prefect worker) libpq falls back to PGPASSWORD or ~/.pgpass.
"""

import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from schemas.errors import ConfigError, LakeError

POSTGRES_SCHEMES = ("postgres", "postgresql")
MASK = "***"
DEFAULT_CONNECT_TIMEOUT_S = 5
# libpq options a lake URL may carry besides data_path (passed through to the connection).
_LIBPQ_OPTIONS = ("connect_timeout", "sslmode", "application_name", "host")


@dataclass(frozen=True)
class LakeLocation:
    """A parsed lake location: what DuckLake attaches (`catalog`) and where Parquet files go."""

    kind: str  # "local" or "postgres"
    # after 'ducklake:': a catalog file path, or 'postgres:<libpq conninfo>' (repr=False: it may
    # hold the password, and a repr can end up in a log)
    catalog: str = field(repr=False)
    data_path: Path
    display: str  # for messages: the directory, or the URL with its password masked
    local_dir: Path | None = None
    conninfo: str | None = field(default=None, repr=False)  # libpq connection string (postgres only)
    password: str | None = field(default=None, repr=False)  # to connect, and to scrub it from messages

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    def redact(self, text: str) -> str:
        """`text` with the password (if any, also URL-quoted) replaced by ***, safe to show or log."""
        if not self.password:
            return text
        for form in (self.password, quote(self.password, safe="")):
            text = text.replace(form, MASK)
        return text


# Passwords seen in this process, by (user, host, port, database): a masked URL resolves here.
_PASSWORDS: dict[tuple, str] = {}


def is_postgres_url(location: str | Path) -> bool:
    """Whether `location` names a PostgreSQL-catalog lake rather than a directory."""
    return isinstance(location, str) and location.split("://", 1)[0].lower() in POSTGRES_SCHEMES \
        and "://" in location


def parse_location(location: str | Path) -> LakeLocation:
    """Parse a lake directory or `postgres[ql]://user[:pw]@host[:port]/db?data_path=/dir` URL."""
    if not is_postgres_url(location):
        # Absolute: DuckLake records DATA_PATH at creation and refuses the same lake opened from
        # another working directory or by a relative name.
        folder = Path(location).expanduser().absolute()
        return LakeLocation("local", str(folder / "catalog.ducklake"), folder / "files",
                            str(location), local_dir=folder)
    return _parse_postgres_url(str(location))


def _parse_postgres_url(url: str) -> LakeLocation:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"lake URL {mask_urls(url)}: bad port ({exc})") from exc
    query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    data_path = query.pop("data_path", "")
    unknown = sorted(set(query) - set(_LIBPQ_OPTIONS))
    if unknown:
        raise ConfigError(f"lake URL {mask_urls(url)}: unknown option(s) {', '.join(unknown)}; "
                          f"allowed: data_path, {', '.join(_LIBPQ_OPTIONS)}")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise ConfigError(f"lake URL {mask_urls(url)}: name one database, as in "
                          "postgres://user@host:5432/DBNAME?data_path=/shared/lake")
    if not data_path or not Path(data_path).is_absolute():
        raise ConfigError(f"lake URL {mask_urls(url)}: needs ?data_path=/absolute/shared/dir "
                          "(where every host reads and writes the Parquet files)")
    settings = {"dbname": dbname, "host": parts.hostname and unquote(parts.hostname),
                "port": port, "user": parts.username and unquote(parts.username),
                "password": parts.password and unquote(parts.password),
                "connect_timeout": DEFAULT_CONNECT_TIMEOUT_S}
    settings.update(query)
    settings["password"] = _resolve_password(settings)
    _check_timeout(settings["connect_timeout"], url)
    conninfo = libpq_conninfo(settings)
    return LakeLocation("postgres", "postgres:" + conninfo, Path(data_path), mask_urls(url),
                        conninfo=conninfo, password=settings["password"] or None)


def _resolve_password(settings: dict) -> str | None:
    """The URL's password, remembered for later masked URLs of the same server, database and user;
    for a masked URL the remembered one (None: libpq reads PGPASSWORD or ~/.pgpass)."""
    key = (settings["user"], settings["host"], settings["port"], settings["dbname"])
    password = settings["password"]
    if password == MASK:
        return _PASSWORDS.get(key)
    if password:
        _PASSWORDS[key] = password
    return password or None


def public_location(location: str | Path) -> str:
    """A lake location safe to store or pass on (configs, runs.config, Prefect parameters): a
    directory as given, a URL with its password masked."""
    return mask_urls(str(location))


def _check_timeout(value, url: str) -> None:
    if not str(value).isdigit() or int(value) < 1:
        raise ConfigError(f"lake URL {mask_urls(url)}: connect_timeout must be a whole number of "
                          f"seconds >= 1, got '{value}'")


def libpq_conninfo(settings: dict) -> str:
    """A libpq `key=value ...` string; empty values are left out, others quoted as libpq wants.

    >>> libpq_conninfo({"dbname": "lake", "user": "me", "password": "a b'c", "port": None})
    "dbname=lake user=me password='a b\\\\'c'"
    """
    pairs = []
    for key, value in settings.items():
        if value is None or value == "":
            continue
        text = str(value)
        if re.search(r"[\s'\\]", text):
            text = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        pairs.append(f"{key}={text}")
    return " ".join(pairs)


def mask_urls(text: str) -> str:
    """`text` with the password of every postgres URL in it masked (e.g. a `--set lake=...` item)."""
    # greedy up to the netloc's last '@', as urlsplit reads an unquoted '@' in a password
    return re.sub(r"(postgres(?:ql)?://[^/:@\s]*:)[^/\s]*@", rf"\1{MASK}@", text, flags=re.I)


def _wheel_extension(package: str, pip_name: str) -> Path:
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise LakeError(f"package {pip_name} is not installed (run `make setup`)")
    folder = Path(list(found.submodule_search_locations)[0])
    files = sorted(folder.rglob("*.duckdb_extension"))
    if not files:
        raise LakeError(f"no .duckdb_extension file in {folder}")
    return files[0]


def ducklake_extension_path() -> str:
    """The ducklake extension file shipped by the `duckdb-extension-ducklake` wheel (offline LOAD)."""
    return str(_wheel_extension("duckdb_extension_ducklake", "duckdb-extension-ducklake"))


def postgres_extension_path() -> str:
    """The postgres extension of the `duckdb-extension-postgres` wheel, under its loadable name.

    DuckDB derives the entry point from the file name, and this extension's is `postgres_scanner`,
    so the wheel's `postgres.duckdb_extension` is linked (or copied) once into a cache folder.
    """
    source = _wheel_extension("duckdb_extension_postgres", "duckdb-extension-postgres")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "warmstart"
    for folder in (cache / f"duckdb-{source.parent.name}", Path(tempfile.gettempdir()) /
                   f"warmstart-{os.getuid()}" / f"duckdb-{source.parent.name}"):
        target = folder / "postgres_scanner.duckdb_extension"
        try:
            if not (target.exists() and target.stat().st_size == source.stat().st_size):
                _place(source, target)
            return str(target)
        except OSError:
            continue  # cache not writable: try the next folder
    raise LakeError(f"cannot place the postgres extension from {source} in {cache} or the temp dir")


def _place(source: Path, target: Path) -> None:
    """Link (or copy) atomically, so processes starting together never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}")
    staging.unlink(missing_ok=True)
    try:
        staging.symlink_to(source)
    except OSError:
        shutil.copyfile(source, staging)
    os.replace(staging, target)
