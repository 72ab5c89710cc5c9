import math

import pytest

from curation.backends import Sampling, load_backend
from schemas.errors import ConfigError, DeviceError

CHATS = [[{"role": "user", "content": "What is 2+2?"}],
         [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a color."}],
         [{"role": "user", "content": "Count to three."}]]


def test_shapes_token_counts_and_length_finish(hf_backend):
    done = []
    results = hf_backend.generate(CHATS, 2, Sampling(max_tokens=6), progress=done.append)
    assert [len(r) for r in results] == [2, 2, 2]
    assert done == [3]  # batch_size 8 // n 2 = 4 conversations per batch: one batch
    for completion in (c for r in results for c in r):
        assert 1 <= completion.n_tokens <= 6 and completion.mean_entropy is None
        assert completion.finish_reason == ("length" if completion.n_tokens == 6 else "stop")
    assert hf_backend.model_name == "tiny-llama"


def test_sampling_seed_makes_runs_repeatable(hf_backend):
    sampling = Sampling(max_tokens=8, seed=3)
    texts = lambda s: [c.text for r in hf_backend.generate(CHATS, 2, s) for c in r]  # noqa: E731
    assert texts(sampling) == texts(sampling)
    assert texts(sampling) != texts(sampling.model_copy(update={"seed": 4}))


def test_batches_split_by_sequences(hf_backend):
    done = []
    hf_backend.generate(CHATS, 4, Sampling(max_tokens=2), progress=done.append)
    assert done == [2, 3]  # 8 sequences per batch at n=4: 2 conversations, then 1


def test_greedy_repeats_one_answer(hf_backend):
    (first, second), = hf_backend.generate(CHATS[:1], 2, Sampling(temperature=0.0, max_tokens=8))
    assert first.text == second.text and first.n_tokens == second.n_tokens


def test_entropy_is_exact_and_falls_with_temperature(hf_backend):
    vocab = math.log(len(hf_backend.tokenizer))
    hot = hf_backend.generate(CHATS, 2, Sampling(temperature=1.0, max_tokens=4), want_entropy=True)
    cold = hf_backend.generate(CHATS, 2, Sampling(temperature=0.05, max_tokens=4), want_entropy=True)
    mean = lambda rs: sum(c.mean_entropy for r in rs for c in r) / 6  # noqa: E731
    assert 0 < mean(cold) < mean(hot) <= vocab


def test_prefix_is_continued_not_repeated(hf_backend):
    rendered = hf_backend._render(CHATS[0], "Let me think")
    assert rendered.endswith("<|im_start|>assistant\nLet me think")
    results = hf_backend.generate(CHATS[:1], 1, Sampling(max_tokens=3), prefixes=["Let me think"])
    assert len(results[0]) == 1 and not results[0][0].text.startswith("Let me think")


def test_eos_ends_a_completion_with_stop(tiny_model_dir):
    backend = load_backend("transformers", tiny_model_dir)
    backend.eos_ids = set(range(len(backend.tokenizer)))  # every token ends the answer
    (completion,), = backend.generate(CHATS[:1], 1, Sampling(max_tokens=5))
    assert (completion.text, completion.n_tokens, completion.finish_reason) == ("", 1, "stop")


def test_cuda_without_cuda_is_a_device_error(tiny_model_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(DeviceError, match="CUDA is not available"):
        load_backend("transformers", tiny_model_dir, options={"device": "cuda"})


def test_a_sample_depends_on_its_seed_not_on_its_batch(hf_backend):
    sampling = Sampling(temperature=1.0, max_tokens=8)
    alone = hf_backend.generate(CHATS[:1], 2, sampling, seeds=[[11, 12]])
    batched = hf_backend.generate([CHATS[1], CHATS[0], CHATS[2]], 2, sampling, seeds=[[1, 2], [11, 12], [3, 4]])
    assert [c.text for c in batched[1]] == [c.text for c in alone[0]]  # padded, among others: same draw
    assert alone[0][0].text != alone[0][1].text
    with pytest.raises(ConfigError, match="seeds"):
        hf_backend.generate(CHATS[:1], 2, sampling, seeds=[[1]])


def test_identity_is_the_weights_and_the_chat_template(hf_backend, tiny_model_dir, tmp_path):
    import json
    import shutil

    from curation.backends.factory import identity_without_engine, reported_model_name
    from curation.model_identity import model_fingerprint, template_fingerprint

    assert hf_backend.model_name == reported_model_name("transformers", tiny_model_dir) == tiny_model_dir.name
    identity = hf_backend.identity()
    assert identity.fingerprint == model_fingerprint(tiny_model_dir)
    assert identity.chat_template == template_fingerprint(hf_backend.tokenizer.chat_template)
    assert identity_without_engine("transformers", tiny_model_dir, None) == identity  # what a Ray driver says
    other = shutil.copytree(tiny_model_dir, tmp_path / tiny_model_dir.name)
    (other / "chat_template.jinja").write_text("{% for m in messages %}{{ m['content'] }}\n{% endfor %}")
    config = json.loads((other / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (other / "tokenizer_config.json").write_text(json.dumps(config))
    changed = identity_without_engine("transformers", other, None)
    assert changed.chat_template != identity.chat_template
