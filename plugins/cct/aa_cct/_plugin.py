"""Hook implementations of this plugin (kept free of torch: factories load lazily)."""
from aa_core.plugin import Component, hookimpl

from .config import CCTCellConfig, CCTTextConfig, SubwordConfig, WordPieceConfig


@hookimpl
def aa_components():
    return [
        Component(
            "cell",
            "cct",
            CCTCellConfig,
            "aa_cct.cell:build",
            "CCT cell: conv tokenizer over the neighbourhood, tiny transformer encoder, SeqPool (Hassani et al. 2021)",
        ),
        Component("subword", "bpe", SubwordConfig, "aa_cct.subword:build", "subword tokenizer (tokenizers): BPE trained on the training split"),
        Component("subword", "wordpiece", WordPieceConfig, "aa_cct.subword:build", "subword tokenizer: the teacher's WordPiece vocabulary"),
        Component("encoder", "cct_text", CCTTextConfig, "aa_cct.text_encoder:build",
                  "CCT text encoder: token ids → conv tokenizer → masked encoder → per-cell SeqPool → input face"),
    ]

