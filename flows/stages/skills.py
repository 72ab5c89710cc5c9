"""Skills: the inventory (task metadata, the model's own extraction), tagging, the
Missing-Skill-Profile, and skill-pair synthesis.

Model synthesis (STAT-Syn) writes for the weakest pairs of a profile measured BEFORE this run:
`skills.synthesis.profile_run`, or this policy's latest profile in the lake, found by the model's
fingerprint (its weights, config and tokenizer), not its folder name (a closed loop passes the
previous round's, as it passes that round's failures). Written questions are a source: they
pass the same prompt filters, get their own samples and difficulty in this run, and this run's
profile measures them. Without a profile the run stops before any sampling (`synthesis_profile`).
"""

import pyarrow as pa
import pyarrow.compute as pc

from curation import skill_extraction, skill_profile, skill_synthesis, skill_tagging, skill_writing, skills
from flows.config import CurateConfig
from flows.progress import stage_bar
from flows.stages.state import CurationState
from schemas.errors import InputError
from schemas.lake import Lake
from schemas.lake_sql import literal


def synthesis_profile(cfg: CurateConfig) -> pa.Table | None:
    """The profile model synthesis writes for, read before the run starts; an InputError when
    synthesis is on and there is none to read."""
    synthesis = _synthesis(cfg, "model")
    if synthesis is None:
        return None
    lake = Lake(cfg.lake)
    exists = lake.exists()
    if synthesis.profile_run:
        run, found = synthesis.profile_run, f"no skill_profile rows of run '{synthesis.profile_run}'"
    else:
        policy = _policy_fingerprint(cfg)
        run = _latest_profile_run(lake, policy) if exists else None
        found = (f"no skill_profile of this policy (model '{cfg.model}', fingerprint {policy}; profiles written "
                 "before skill_profile recorded fingerprints are found only by naming their run in "
                 "skills.synthesis.profile_run)")
    profile = lake.read("skill_profile", where=f"run_id = {literal(run)}") if run and exists else None
    if profile is None or profile.num_rows == 0:
        raise InputError(f"mode 'model' writes questions for the weakest skill pairs of a Missing-Skill-Profile, "
                         f"and lake {lake.location} has {found}; curate once without synthesis first (a loop "
                         "starts synthesis at round 1)", field="skills.synthesis.profile_run")
    skill_writing.weakest_pairs(profile, synthesis.pairs, cfg.skills.profile.min_prompts)  # two judged skills
    return profile


def _synthesis(cfg: CurateConfig, mode: str):
    """The synthesis settings when synthesis is on in this mode, else None."""
    synthesis = cfg.skills.synthesis
    return synthesis if synthesis is not None and synthesis.mode == mode and synthesis.n_prompts else None


def _policy_fingerprint(cfg: CurateConfig) -> str:
    """The fingerprint the run's backend will report for its model (what skill_profile.policy
    holds), from the model's files without loading an engine."""
    from curation.backends import identity_without_engine  # looked up per call, like load_backend in run_curation

    return identity_without_engine(cfg.backend, cfg.model, cfg.backend_options).fingerprint


def _latest_profile_run(lake: Lake, policy: str) -> str | None:
    """The newest run holding a profile of this policy. Profiles written before skill_profile had
    a policy column read NULL there and never match: a folder name cannot tell two models apart."""
    runs = set(lake.read("skill_profile", where=f"policy = {literal(policy)}", columns=["run_id"])
               .column("run_id").to_pylist())
    if not runs:
        return None
    started = lake.read("runs", where=f"run_id IN ({', '.join(map(literal, sorted(runs)))})",
                        columns=["run_id", "started"]).to_pylist()
    newest = max(started, key=lambda r: (r["started"], r["run_id"]), default=None)
    return newest["run_id"] if newest else None


def write_prompts(state: CurationState) -> None:
    """Model synthesis: new questions for the target profile's weakest skill pairs, kept when k
    answers agree (the agreed answer is the gold); join the prompts before the prompt filters."""
    cfg = _synthesis(state.cfg, "model")
    if cfg is None:
        return
    result = skill_writing.synthesize_for_profile(state.backend, state.target_profile, cfg, state.cfg.prompt_format,
                                                  min_prompts=state.cfg.skills.profile.min_prompts)
    written = state.out.record("synthesis", result)
    state.out.counts["synthetic_prompts"] = written.num_rows
    state.prompts = pa.concat_tables([state.prompts, written], promote_options="permissive")


def inventory(state: CurationState) -> None:
    """state.skills and state.prompt_skills: metadata/task skills, the model's extracted skills,
    synthetic prompts' pairs, optionally merged by embedding, then tagging when asked."""
    prompts, cfg, backend, out = state.prompts, state.cfg.skills, state.backend, state.out
    synthetic = pc.is_in(prompts.column("source"), pa.array(skill_synthesis.ORIGINS))
    # a synthetic prompt's task is no skill: its pair is (pair_links below)
    found, links = skills.inventory_from_metadata(prompts.filter(pc.invert(synthetic)), cfg.inventory)
    embedder = state.minilm() if cfg.merge or cfg.extract or cfg.tagging == "embedding" else None
    if cfg.extract is not None:
        ids = prompts.column("prompt_id").to_pylist()
        extracted, tags = skill_extraction.extracted_inventory(ids, _skill_replies(state), cfg.extract, embedder)
        found, links = skills.combine_inventories(found, extracted), _concat(links, tags)
        out.counts["extracted_skills"] = extracted.num_rows
    pair_skills, pair_links = skill_synthesis.pair_links(prompts)
    found, links = skills.combine_inventories(found, pair_skills), _concat(links, pair_links)
    if cfg.merge and found.num_rows > 1:
        found, alias = skills.merge_near_duplicates(found, embedder, cfg.inventory.merge_threshold)
        links = skills.remap_prompt_skills(links, alias)
    if cfg.tagging == "model":
        links = _concat(links, skill_tagging.tag_with_model(backend, prompts, found, cfg.tag, embedder=embedder))
    elif cfg.tagging == "embedding":
        links = _concat(links, skill_tagging.tag_by_embedding(prompts, found, embedder, cfg.tag))
    links = skills.remap_prompt_skills(links, {})  # one link per (prompt, skill), best confidence
    out.add("skills", found)
    out.add("prompt_skills", links)
    out.counts["skills"] = found.num_rows
    state.skills, state.prompt_skills = found, links


def _skill_replies(state: CurationState) -> list[list[str]]:
    """The model's extraction replies per prompt: from the lake when this model already answered
    with these settings, else asked now (in one batch) and queued for the lake. The cache is keyed
    by the policy's fingerprint (its weights), not its folder name."""
    cfg, prompts = state.cfg.skills.extract, state.prompts
    model, settings = state.policy, skill_extraction.settings_id(cfg)
    cached = {}
    if state.lake.exists():
        where = f"model = {literal(model)} AND settings_id = {literal(settings)}"
        cached = {r["prompt_id"]: r["replies"] for r in state.lake.read("skill_extractions", where=where).to_pylist()}
    ids, texts = prompts.column("prompt_id").to_pylist(), prompts.column("prompt").to_pylist()
    todo = [i for i, pid in enumerate(ids) if pid not in cached]
    with stage_bar("skills", len(todo)) as advance:
        fresh = skill_extraction.ask_for_skills(state.backend, [texts[i] for i in todo], cfg, progress=advance)
    rows = [{"prompt_id": ids[i], "model": model, "settings_id": settings, "replies": replies}
            for i, replies in zip(todo, fresh)]
    state.out.add("skill_extractions", pa.Table.from_pylist(rows) if rows else None)
    state.out.counts["skill_replies_cached"] = len(ids) - len(todo)
    cached.update((row["prompt_id"], row["replies"]) for row in rows)
    return [cached[pid] for pid in ids]


def compose(state: CurationState) -> None:
    """Compose mode: skill-pair prompts asked from two verifiable ones, tagged with both skills."""
    cfg = _synthesis(state.cfg, "compose")
    if cfg is None:
        return
    made = skill_synthesis.compose_prompts(state.prompts, state.prompt_skills, state.skills, cfg)
    state.out.counts["synthetic_prompts"] = made.num_rows
    if made.num_rows:
        # Synthetic rows have no run_id yet; the stage's commit stamps every row.
        state.prompts = pa.concat_tables([state.prompts, made], promote_options="permissive")
        _, links = skill_synthesis.pair_links(made)
        state.prompt_skills = _concat(state.prompt_skills, links)
        state.out.add("prompt_skills", links)


def profile(state: CurationState) -> None:
    """Per-skill pass rate of the policy; skills under the threshold are its missing profile."""
    state.profile = skill_profile.missing_skill_profile(state.stats, state.prompt_skills, state.skills,
                                                        state.cfg.skills.profile, policy=state.policy)
    state.out.add("skill_profile", state.profile)
    state.out.counts["missing_skills"] = len(skill_profile.missing_skills(state.profile))


def _concat(a: pa.Table, b: pa.Table) -> pa.Table:
    return pa.concat_tables([a, b.select(a.column_names)], promote_options="permissive")
