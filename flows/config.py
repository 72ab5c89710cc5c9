"""The curate config: YAML validated by pydantic; unknown keys and bad values are ConfigErrors."""

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field

from curation.adaptive import AdaptiveConfig
from curation.backends.base import Sampling
from curation.curriculum import CurriculumConfig
from curation.decontam import DecontamConfig
from curation.dedup import ExactDedupConfig, NearDupConfig
from curation.filters import QualityConfig
from curation.judge import JudgeConfig
from curation.mixing import MixConfig
from curation.skill_profile import SkillProfileConfig
from curation.skill_synthesis import SkillSynthesisConfig
from curation.skill_tagging import TaggingConfig
from curation.skills import SkillInventoryConfig
from curation.step_pairs import StepPairConfig
from curation.temperature import TemperatureConfig
from curation.traces import TraceFilterConfig, TraceTagConfig
from curation.difficulty import DifficultyConfig, RLFilterConfig
from curation.generate import PromptFormat
from curation.preference import PreferenceConfig
from curation.split_builders import SFTConfig
from flows.executor import ExecutorConfig
from schemas.config import StrictModel, read_yaml, validate_model

VerifierName = Literal["reasoning_gym", "math", "exact", "regex"]


class ReasoningGymSource(StrictModel):
    """Procedurally generated, verifiable prompts from a reasoning-gym task."""

    type: Literal["reasoning_gym"]
    task: str = Field(description="reasoning-gym task name, e.g. chain_sum")
    count: int = Field(ge=1, description="how many prompts to generate")
    seed: int = Field(0, description="seed of the task generator")
    config: dict[str, Any] = Field(default_factory=dict, description="the task's own difficulty settings")
    split_guard: Literal["train", "eval"] = "train"


class FileSource(StrictModel):
    """Prompts from a JSONL or Parquet file, with a field mapping."""

    type: Literal["jsonl", "parquet"]
    path: Path
    prompt_field: str = "prompt"
    answer_field: str | None = Field("answer", description="gold answer field; null for none")
    task: str | None = Field(None, description="task name for every row (default: the file stem)")
    verifier: VerifierName = "math"
    limit: int | None = Field(None, ge=1, description="read at most this many rows")
    split_guard: Literal["train", "eval"] = "train"


class HFSource(StrictModel):
    """A local Hugging Face dataset: a `save_to_disk` folder or local data files."""

    type: Literal["hf"]
    path: Path = Field(description="a load_from_disk folder, or a data file / glob")
    split: str = "train"
    prompt_field: str = "prompt"
    answer_field: str | None = "answer"
    task: str | None = None
    verifier: VerifierName = "math"
    limit: int | None = Field(None, ge=1)
    split_guard: Literal["train", "eval"] = "train"


Source = Annotated[Union[ReasoningGymSource, FileSource, HFSource], Field(discriminator="type")]


class SamplingConfig(Sampling):
    """Sampling for the generate stage; `temperature: auto` picks it for a target entropy."""

    temperature: float | Literal["auto"] = 0.8


class SplitNames(StrictModel):
    """Names under which this config registers its splits."""

    sft: str = "sft"
    preference: str = "preference"
    rl: str = "rl"


class DedupStage(StrictModel):
    """Exact and near-duplicate removal; null turns a kind off."""

    exact: ExactDedupConfig | None = Field(default_factory=ExactDedupConfig)
    near: NearDupConfig | None = Field(default_factory=NearDupConfig)
    responses: bool = Field(True, description="also drop repeated responses to the same prompt")


class SkillsStage(StrictModel):
    """Skill inventory, tagging, Missing-Skill-Profile (STAT) and skill-pair synthesis."""

    inventory: SkillInventoryConfig = Field(default_factory=SkillInventoryConfig)
    propose: bool = Field(False, description="ask the model to propose skills for the inventory")
    merge: bool = Field(False, description="merge near-identical skill names with MiniLM embeddings")
    tagging: Literal["none", "embedding", "model"] = Field(
        "none", description="tag prompts beyond task metadata: by MiniLM nearest skill or by the model")
    tag: TaggingConfig = Field(default_factory=TaggingConfig)
    profile: SkillProfileConfig = Field(default_factory=SkillProfileConfig)
    synthesis: SkillSynthesisConfig | None = Field(None, description="skill-pair prompts; null = off")


class CurateConfig(StrictModel):
    """Everything `warmstart run` needs; see configs/demo.yaml for a commented example."""

    lake: str = "data/lake"
    model: str = "smollm2-135m-instruct"
    backend: Literal["vllm", "transformers", "openai"] = "vllm"
    backend_options: dict[str, Any] = Field(default_factory=dict)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig,
                                     description="where generation shards run: local, or a Ray cluster")
    sources: list[Source] = Field(min_length=1)
    prompt_format: PromptFormat = Field(default_factory=PromptFormat)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    difficulty: DifficultyConfig = Field(default_factory=DifficultyConfig)
    rl_filter: RLFilterConfig | None = Field(
        default_factory=RLFilterConfig, description="null: every train prompt goes to RL, with its pass rate")
    sft: SFTConfig = Field(default_factory=SFTConfig)
    preference: PreferenceConfig = Field(default_factory=PreferenceConfig)
    splits: SplitNames = Field(default_factory=SplitNames)
    shard_size: int = Field(256, ge=1, description="prompts per generation task")
    data_roots: list[Path] | None = Field(
        None, description="file sources must lie under one of these folders; null = anywhere")
    quality: QualityConfig | None = Field(default_factory=QualityConfig)
    dedup: DedupStage = Field(default_factory=DedupStage)
    decontam: DecontamConfig | None = Field(default_factory=DecontamConfig)
    traces: TraceTagConfig = Field(default_factory=TraceTagConfig)
    trace_filter: TraceFilterConfig | None = None
    temperature: TemperatureConfig = Field(default_factory=TemperatureConfig)
    adaptive: AdaptiveConfig | None = Field(None, description="sample k in rounds; null = fixed k")
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    skills: SkillsStage = Field(default_factory=SkillsStage)
    step_pairs: StepPairConfig | None = None
    judge: JudgeConfig | None = None
    mix: MixConfig = Field(default_factory=MixConfig)


def load_config(path: str | Path, overrides: list[str] | None = None) -> CurateConfig:
    """Read and validate a YAML config; relative file paths resolve against its folder."""
    cfg = validate(read_yaml(path, overrides), path)
    resolve_source_paths(cfg.sources, Path(path).parent)
    return cfg


def resolve_source_paths(sources: list, folder: Path) -> None:
    """Relative file paths that do not exist from here resolve against the config's folder."""
    for source in sources:
        if isinstance(source, (FileSource, HFSource)) and not source.path.is_absolute():
            source.path = (folder / source.path).resolve() if not source.path.exists() else source.path


def validate(raw: dict, origin: str | Path = "config") -> CurateConfig:
    """Validate a config mapping; the error names the first bad key path."""
    return validate_model(CurateConfig, raw, origin)
