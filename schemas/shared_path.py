"""The shared data_path of a PostgreSQL-catalog lake: it must exist on this host, and belong to one
lake only.

DuckLake refuses to open an existing catalog with another data path, but not a new catalog over a
folder that already holds another lake's files. So a new catalog needs an empty folder, and marks
it as taken (a `.warmstart-lake` file naming the catalog, never its password) once it exists.
"""

import json
from datetime import datetime, timezone
from urllib.parse import urlsplit

from schemas.errors import LakeError
from schemas.lake_location import LakeLocation

MARKER = ".warmstart-lake"


def check_reachable(where: LakeLocation) -> None:
    """The data_path is a folder on this host: a shared mount is never created in its place."""
    if not where.data_path.is_dir():
        raise LakeError(f"the data_path {where.data_path} of lake {where.display} is not a folder on this "
                        "host: mount the shared folder there (or create it for a new lake)")


def check_unclaimed(where: LakeLocation) -> None:
    """Before a new catalog is created: its data_path holds no other lake (no marker, no files)."""
    marker = where.data_path / MARKER
    if marker.exists():
        owner = _owner(marker)
        raise LakeError(f"the data_path {where.data_path} of lake {where.display} already belongs to the lake "
                        f"with catalog {owner}; give each lake its own folder")
    entries = sorted(p.name for p in where.data_path.iterdir())
    if entries:
        raise LakeError(f"the data_path {where.data_path} of new lake {where.display} is not empty "
                        f"({', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''}): another lake's "
                        "files? a new lake needs an empty folder")


def claim(where: LakeLocation) -> None:
    """Mark the data_path as this catalog's (written once the catalog exists)."""
    record = {"catalog": _catalog_name(where), "created": datetime.now(timezone.utc).isoformat()}
    (where.data_path / MARKER).write_text(json.dumps(record) + "\n", encoding="utf-8")


def _catalog_name(where: LakeLocation) -> str:
    """The catalog as `postgres://host:port/db`, without user or password."""
    parts = urlsplit(where.display)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _owner(marker) -> str:
    try:
        return json.loads(marker.read_text(encoding="utf-8"))["catalog"]
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown (unreadable marker)"
