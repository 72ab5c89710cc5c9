"""Skills: inventory from task metadata (and the model), tagging, the Missing-Skill-Profile,
and verifiable skill-pair prompts (STAT-Syn / Instruct-SkillMix)."""

import pyarrow as pa

from curation import skill_profile, skill_synthesis, skill_tagging, skills
from flows.stages import StageOutput


def inventory(prompts: pa.Table, cfg, backend, out: StageOutput) -> tuple[pa.Table, pa.Table]:
    """(skills, prompt_skills): metadata/task skills, optionally model-proposed ones, merged by
    embedding similarity, then prompts tagged by the model or by embeddings when asked."""
    found, links = skills.inventory_from_metadata(prompts, cfg.inventory)
    embedder = _embedder() if cfg.merge or cfg.tagging == "embedding" else None
    if cfg.propose and backend is not None:
        found = skills.combine_inventories(found, skill_tagging.propose_skills(backend, prompts, cfg.tag))
    if cfg.merge and found.num_rows > 1:
        found, alias = skills.merge_near_duplicates(found, embedder, cfg.inventory.merge_threshold)
        links = skills.remap_prompt_skills(links, alias)
    if cfg.tagging == "model" and backend is not None:
        links = _concat(links, skill_tagging.tag_with_model(backend, prompts, found, cfg.tag, embedder=embedder))
    elif cfg.tagging == "embedding":
        links = _concat(links, skill_tagging.tag_by_embedding(prompts, found, embedder, cfg.tag))
    links = skills.remap_prompt_skills(links, {})  # one link per (prompt, skill), best confidence
    out.add("skills", found)
    out.add("prompt_skills", links)
    out.counts["skills"] = found.num_rows
    return found, links


def synthesize(prompts: pa.Table, links: pa.Table, found: pa.Table, cfg, out: StageOutput) -> pa.Table:
    """Skill-pair prompts composed from verifiable ones; only verifiable results go on to RL."""
    if cfg.synthesis is None or cfg.synthesis.n_prompts == 0:
        return prompts.slice(0, 0)
    made = skill_synthesis.compose_prompts(prompts, links, found, cfg.synthesis)
    verifiable, dropped = skill_synthesis.split_verifiable(made)
    out.dropped("synthesis", dropped)
    out.counts["synthetic_prompts"] = verifiable.num_rows
    return verifiable


def profile(stats: pa.Table, links: pa.Table, found: pa.Table, cfg, out: StageOutput) -> pa.Table:
    """Per-skill pass rate of the policy; skills under the threshold are its missing profile."""
    result = skill_profile.missing_skill_profile(stats, links, found, cfg.profile)
    out.add("skill_profile", result)
    out.counts["missing_skills"] = len(skill_profile.missing_skills(result))
    return result


def _concat(a: pa.Table, b: pa.Table) -> pa.Table:
    return pa.concat_tables([a, b.select(a.column_names)], promote_options="permissive")


def _embedder():
    from curation.embeddings import load_minilm

    return load_minilm()
