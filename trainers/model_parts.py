"""Where the parts of a transformers causal LM live, under a PEFT wrapper or not: the base model,
its text config (multimodal configs nest one) and its decoder stack."""


def base_model(model):
    """The transformers model under a PEFT wrapper (the model itself when unwrapped)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def text_config(model):
    """The config of the language model (the text part of a multimodal config)."""
    config = base_model(model).config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def backbone(model):
    """The decoder stack (`model.model` for Llama-likes, by base_model_prefix), or None."""
    base = base_model(model)
    return getattr(base, getattr(base, "base_model_prefix", "model"), None)
