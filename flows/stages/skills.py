"""Skills: inventory from task metadata (and the model), tagging, the Missing-Skill-Profile,
and verifiable skill-pair prompts (STAT-Syn / Instruct-SkillMix)."""

import pyarrow as pa

from curation import skill_profile, skill_synthesis, skill_tagging, skills
from flows.stages.state import CurationState


def inventory(state: CurationState) -> None:
    """state.skills and state.prompt_skills: metadata/task skills, optionally model-proposed ones,
    merged by embedding similarity, then prompts tagged by the model or by embeddings when asked."""
    prompts, cfg, backend, out = state.prompts, state.cfg.skills, state.backend, state.out
    found, links = skills.inventory_from_metadata(prompts, cfg.inventory)
    embedder = state.minilm() if cfg.merge or cfg.tagging == "embedding" else None
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
    state.skills, state.prompt_skills = found, links


def synthesize(state: CurationState) -> None:
    """Add skill-pair prompts composed from verifiable ones; only verifiable results go on to RL."""
    cfg = state.cfg.skills.synthesis
    if cfg is None or cfg.n_prompts == 0:
        return
    made = skill_synthesis.compose_prompts(state.prompts, state.prompt_skills, state.skills, cfg)
    verifiable = state.out.record("synthesis", skill_synthesis.split_verifiable(made))
    state.out.counts["synthetic_prompts"] = verifiable.num_rows
    if verifiable.num_rows:
        # Synthetic rows have no run_id yet; the stage's commit stamps every row.
        state.prompts = pa.concat_tables([state.prompts, verifiable], promote_options="permissive")


def profile(state: CurationState) -> None:
    """Per-skill pass rate of the policy; skills under the threshold are its missing profile."""
    state.profile = skill_profile.missing_skill_profile(state.stats, state.prompt_skills, state.skills,
                                                        state.cfg.skills.profile)
    state.out.add("skill_profile", state.profile)
    state.out.counts["missing_skills"] = len(skill_profile.missing_skills(state.profile))


def _concat(a: pa.Table, b: pa.Table) -> pa.Table:
    return pa.concat_tables([a, b.select(a.column_names)], promote_options="permissive")
