"""The skill inventory (STAT, Instruct-SkillMix): skills from task metadata, from a user list or
the model, with near-identical names merged by embedding similarity.

A skill's id is the content id of its normalized name, so "Long_Division" and "long division"
are one skill everywhere.
"""

import json
import re

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from curation.embeddings import TextEmbedder, cosine_matrix
from schemas.config import StrictModel
from schemas.errors import InputError
from schemas.ids import content_id

SKILL_COLUMNS = ["skill_id", "name", "description", "origin"]
ORIGIN_RANK = {"config": 0, "metadata": 1, "model": 2}  # which name survives a merge


class SkillSpec(StrictModel):
    """One skill of a user-given inventory."""

    name: str = Field(min_length=1, description="short skill name, e.g. 'greatest common divisor'")
    description: str = Field("", description="one line on what the skill is")


class SkillInventoryConfig(StrictModel):
    """Where the inventory comes from and how near-duplicates merge."""

    inventory: list[SkillSpec] = Field(default_factory=list, description="skills given by the user")
    from_task: bool = Field(True, description="one skill per prompts.task (or task_skills' names)")
    task_skills: dict[str, list[str]] = Field(default_factory=dict,
                                              description="skill names per task, replacing the task name")
    metadata_keys: list[str] = Field(default_factory=list,
                                     description="prompt metadata fields that hold a skill name or a list")
    merge_threshold: float = Field(0.9, ge=0.0, le=1.0,
                                   description="cosine similarity at which two skill names merge")

    @field_validator("inventory")
    @classmethod
    def _unique(cls, value: list[SkillSpec]) -> list[SkillSpec]:
        try:
            check_unique_names([s.name for s in value], "inventory")
        except InputError as exc:  # a config problem: pydantic reports it as a ConfigError
            raise ValueError(str(exc)) from None
        return value


def normalize_skill_name(name: str) -> str:
    """Lower case, '_'/'-' as spaces, no punctuation at the ends, single spaces."""
    text = re.sub(r"[_\-]+", " ", str(name).lower())
    text = re.sub(r"\s+", " ", text).strip(" .,:;!?'\"()[]{}*#")
    return text


def skill_id(name: str) -> str:
    return content_id("skill", normalize_skill_name(name))


def check_unique_names(names: list[str], where: str) -> None:
    """InputError naming the rows when two names normalize to the same skill, or one is empty."""
    seen: dict[str, int] = {}
    for row, name in enumerate(names):
        norm = normalize_skill_name(name)
        if not norm:
            raise InputError(f"{where}: row {row}: empty skill name", field="name")
        if norm in seen:
            raise InputError(f"{where}: rows {seen[norm]} and {row} name the same skill "
                             f"('{names[seen[norm]]}' and '{name}')", field="name")
        seen[norm] = row


def skills_table(names: list[str], descriptions: list[str] | None = None, origin: str = "config") -> pa.Table:
    """A skills table (skill_id, name, description, origin); exact duplicates are an InputError."""
    check_unique_names(names, f"{origin} skills")
    descriptions = descriptions or [""] * len(names)
    return pa.table({"skill_id": [skill_id(n) for n in names],
                     "name": [normalize_skill_name(n) for n in names],
                     "description": [d or "" for d in descriptions],
                     "origin": [origin] * len(names)})


def _metadata_skills(metadata_text: str | None, keys: list[str]) -> list[str]:
    if not keys or not metadata_text:
        return []
    try:
        meta = json.loads(metadata_text)
    except json.JSONDecodeError:
        return []
    out = []
    for key in keys:
        value = meta.get(key) if isinstance(meta, dict) else None
        out += [str(v) for v in value] if isinstance(value, list) else ([str(value)] if value else [])
    return out


def inventory_from_metadata(prompts: pa.Table, cfg: SkillInventoryConfig) -> tuple[pa.Table, pa.Table]:
    """Skills named by the config, each prompt's task and its metadata; plus the prompt_skills
    links (confidence 1, origin 'metadata') those names imply."""
    names: dict[str, tuple[str, str, str]] = {}  # normalized -> (name, description, origin)
    for spec in cfg.inventory:
        names[normalize_skill_name(spec.name)] = (spec.name, spec.description, "config")
    links = []
    metadata = (prompts.column("metadata").to_pylist() if "metadata" in prompts.column_names
                else [None] * prompts.num_rows)
    ids, tasks = prompts.column("prompt_id").to_pylist(), prompts.column("task").to_pylist()
    for pid, task, meta in zip(ids, tasks, metadata):
        found = list(cfg.task_skills.get(task, [task] if task else [])) if cfg.from_task else []
        found += _metadata_skills(meta, cfg.metadata_keys)
        for name in found:
            norm = normalize_skill_name(name)
            if not norm:
                continue
            names.setdefault(norm, (name, f"needed by '{task}' prompts", "metadata"))
            links.append((pid, skill_id(norm)))
    items = list(names.values())
    skills = pa.table({"skill_id": [skill_id(n) for n, _, _ in items],
                       "name": [normalize_skill_name(n) for n, _, _ in items],
                       "description": [d for _, d, _ in items], "origin": [o for _, _, o in items]})
    links = sorted(set(links))
    prompt_skills = pa.table({"prompt_id": pa.array([p for p, _ in links], pa.string()),
                              "skill_id": pa.array([s for _, s in links], pa.string()),
                              "confidence": pa.array([1.0] * len(links), pa.float64()),
                              "origin": pa.array(["metadata"] * len(links), pa.string())})
    return skills, prompt_skills


def combine_inventories(*tables: pa.Table) -> pa.Table:
    """Union of skills tables; the same skill_id from two origins keeps the higher-ranked origin."""
    best: dict[str, dict] = {}
    for table in tables:
        for row in table.select(SKILL_COLUMNS).to_pylist():
            old = best.get(row["skill_id"])
            if old is None or ORIGIN_RANK.get(row["origin"], 9) < ORIGIN_RANK.get(old["origin"], 9):
                best[row["skill_id"]] = row
    rows = list(best.values())
    return pa.Table.from_pylist(rows, schema=_schema()) if rows else _schema().empty_table()


def _schema() -> pa.Schema:
    return pa.schema([(c, pa.string()) for c in SKILL_COLUMNS])


def skill_texts(skills: pa.Table) -> list[str]:
    """'name: description' per skill, what embeddings compare."""
    return [f"{n}: {d}" if d else n for n, d in zip(skills.column("name").to_pylist(),
                                                    skills.column("description").to_pylist())]


def merge_near_duplicates(skills: pa.Table, embedder: TextEmbedder,
                          threshold: float) -> tuple[pa.Table, dict[str, str]]:
    """Merge skills whose names embed within `threshold` cosine (single linkage); return the
    kept skills and {merged skill_id: kept skill_id}. The kept one has the best origin, then
    the shortest name."""
    if skills.num_rows < 2:
        return skills, {}
    rows = skills.select(SKILL_COLUMNS).to_pylist()
    sims = cosine_matrix(embedder.encode([r["name"] for r in rows]), embedder.encode([r["name"] for r in rows]))
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(sims >= threshold, k=1))):
        parent[root(int(j))] = root(int(i))
    groups: dict[int, list[int]] = {}
    for i in range(len(rows)):
        groups.setdefault(root(i), []).append(i)
    kept, alias = [], {}
    for members in groups.values():
        members.sort(key=lambda i: (ORIGIN_RANK.get(rows[i]["origin"], 9), len(rows[i]["name"]), rows[i]["name"]))
        kept.append(rows[members[0]])
        alias.update({rows[i]["skill_id"]: rows[members[0]]["skill_id"] for i in members[1:]})
    return pa.Table.from_pylist(kept, schema=_schema()), alias


def remap_prompt_skills(prompt_skills: pa.Table, alias: dict[str, str]) -> pa.Table:
    """Point links at merged skills; a (prompt, skill) pair keeps its highest confidence."""
    best: dict[tuple[str, str], dict] = {}
    for row in prompt_skills.to_pylist():
        row["skill_id"] = alias.get(row["skill_id"], row["skill_id"])
        key = (row["prompt_id"], row["skill_id"])
        if key not in best or row["confidence"] > best[key]["confidence"]:
            best[key] = row
    rows = [best[k] for k in sorted(best)]
    return pa.Table.from_pylist(rows, schema=prompt_skills.schema) if rows else prompt_skills.slice(0, 0)
