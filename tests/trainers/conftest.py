"""Trainer test fixtures: tiny random Llama models on disk, a 16-token tokenizer."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # test modules import tiny_models (any --import-mode)
from tiny_models import save_model, tiny_llama  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and shared CPUs do not oversubscribe)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tokenizer(bundled_model_path):
    """The bundled SmolLM2 tokenizer (49k vocab, ChatML template)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bundled_model_path)


@pytest.fixture(scope="session")
def tiny_model_dir(tokenizer, tmp_path_factory):
    """A tiny random Llama with the bundled tokenizer, saved as a HF checkpoint."""
    return save_model(tiny_llama(tokenizer), tokenizer, tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def digit_tokenizer():
    """A 16-token word-level tokenizer with a ChatML template: digits, roles and specials."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<|im_start|>", "<|im_end|>", "user", "assistant", "system", "say"] + list("0123456789")
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    template = ("{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] }}<|im_end|> {% endfor %}"
                "{% if add_generation_prompt %}<|im_start|>assistant {% endif %}")
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<|im_start|>",
                                  eos_token="<|im_end|>", pad_token="<|im_end|>")
    tok.chat_template = template
    return tok


@pytest.fixture(scope="session")
def digit_model_dir(digit_tokenizer, tmp_path_factory):
    """A tiny random Llama over the 16-token vocabulary: fast enough to train many steps in a test."""
    return save_model(tiny_llama(digit_tokenizer), digit_tokenizer, tmp_path_factory.mktemp("digit-llama"))
