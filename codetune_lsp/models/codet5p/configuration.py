"""Configuration of the native CodeT5+ 2B/6B/16B encoder-decoder.

The published ``config.json`` nests two stack configurations, ``encoder`` and ``decoder``, each
shaped like a CodeGen model (``n_embd``, ``n_layer``, ``n_head``, ``rotary_dim``). These classes
read that file unchanged; keys the model does not use are kept as plain attributes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from transformers import PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

#: ``config.json`` spelling of the top-level model type and of the stack configs.
MODEL_TYPE = "codet5p"
STACK_MODEL_TYPE = "codet5p_module"


class CodeT5pStackConfig(PreTrainedConfig):
    """One stack (the encoder or the decoder): a CodeGen-shaped transformer."""

    model_type = STACK_MODEL_TYPE
    attribute_map: ClassVar[dict[str, str]] = {
        "max_position_embeddings": "n_positions",
        "hidden_size": "n_embd",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
    }

    vocab_size: int = 51200
    n_positions: int = 2048
    n_ctx: int = 2048
    n_embd: int = 1024
    n_layer: int = 20
    n_head: int = 16
    rotary_dim: int | None = 32
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    is_decoder: bool = False
    add_cross_attention: bool = False
    use_cache: bool = True
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 50256
    pad_token_id: int | None = None
    tie_word_embeddings: bool = False

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def inner_dim(self) -> int:
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd


class CodeT5pConfig(PreTrainedConfig):
    """The encoder-decoder: a shallow encoder, a deep decoder, one cross-attention at its top.

    ``prompt_to_decoder`` is the family's convention for the 2B/6B/16B checkpoints: the prompt
    goes to the encoder and also, after ``decoder_start_token_id``, into the decoder, which
    continues it (see :meth:`CodeT5pForConditionalGeneration.generate`).
    """

    model_type = MODEL_TYPE
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "encoder": SubConfigSpec(config_class=CodeT5pStackConfig),
        "decoder": SubConfigSpec(
            config_class=CodeT5pStackConfig,
            init_kwargs={"is_decoder": True, "add_cross_attention": True},
        ),
    }

    encoder: CodeT5pStackConfig | dict | None = None
    decoder: CodeT5pStackConfig | dict | None = None
    is_encoder_decoder: bool = True
    pad_token_id: int | None = 50256
    eos_token_id: int | list[int] | None = 50256
    bos_token_id: int | None = 1
    decoder_start_token_id: int | None = 50256
    prompt_to_decoder: bool = True
    tie_word_embeddings: bool = False
    use_cache: bool = True

    def __post_init__(self, **kwargs: Any) -> None:
        for key in ("encoder", "decoder"):
            sub = getattr(self, key)
            if isinstance(sub, dict):
                # The published files spell the stack type; our spec already names the class.
                sub = {k: v for k, v in sub.items() if k != "model_type"}
                if key == "decoder":
                    sub.setdefault("is_decoder", True)
                    sub.setdefault("add_cross_attention", True)
                setattr(self, key, sub)
        super().__post_init__(**kwargs)
        assert isinstance(self.encoder, CodeT5pStackConfig)
        assert isinstance(self.decoder, CodeT5pStackConfig)
        if self.encoder.vocab_size != self.decoder.vocab_size:
            raise ValueError(
                f"encoder and decoder vocabularies differ ({self.encoder.vocab_size} vs "
                f"{self.decoder.vocab_size})"
            )
        self.vocab_size = self.decoder.vocab_size

    @property
    def hidden_size(self) -> int:  # what generation utilities read from the top-level config
        assert isinstance(self.decoder, CodeT5pStackConfig)
        return self.decoder.n_embd
