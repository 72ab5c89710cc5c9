"""Stable content ids: the same defining fields always give the same id, so re-runs upsert."""

import hashlib
import json
import uuid


def content_id(*fields) -> str:
    """Hash the defining fields of a row into a 20-hex-char id.

    >>> content_id("countdown", "Make 24 from 1 2 3 4") == content_id("countdown", "Make 24 from 1 2 3 4")
    True
    """
    payload = json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=10).hexdigest()


def canonical_json(value) -> str:
    """JSON text with sorted keys, so equal dicts hash and compare equal."""
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def new_run_id() -> str:
    """A fresh run id: 12 random hex digits."""
    return uuid.uuid4().hex[:12]
