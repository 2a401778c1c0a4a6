"""The plain-torch teacher equals transformers' BertModel on the shipped teacher, and folders it cannot
read exactly fall back to transformers."""
import json
import shutil

import pytest
import torch

from aa_qa import bert_encoder
from aa_qa.teacher import DEFAULT_MODEL, model_dir

TEXTS = ["What is overfitting?", "", "Héllo wörld — naïve café 東京 🤖 [SEP] [CLS]", "gradient " * 300,
         "Why does stochastic gradient descent converge on convex problems?", "  leading and trailing spaces  "]


@pytest.fixture(scope="module")
def teacher_path():
    return model_dir(DEFAULT_MODEL)


def test_same_ids_hidden_states_and_sentence_vectors_as_transformers(teacher_path):
    from transformers import AutoModel, AutoTokenizer

    tok, enc = bert_encoder.load(teacher_path, 128)
    hf_tok = AutoTokenizer.from_pretrained(str(teacher_path), local_files_only=True)
    hf = AutoModel.from_pretrained(str(teacher_path), local_files_only=True).eval()
    batch = hf_tok(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
    ids, mask, types = tok(TEXTS)
    assert torch.equal(ids, batch["input_ids"]) and torch.equal(mask, batch["attention_mask"])
    assert torch.equal(types, batch["token_type_ids"]) and ids.shape[1] == 128  # the long text is truncated
    with torch.no_grad():
        ours, theirs = enc(ids, mask, types), hf(**batch).last_hidden_state
        real = mask[..., None].bool()
        assert (ours - theirs).masked_fill(~real, 0).abs().max() < 1e-4
        a = bert_encoder.mean_pooled(ours, mask)
        b = bert_encoder.mean_pooled(theirs, mask)
    assert (a - b).abs().max() < 1e-5
    # one text alone (no padding: the unmasked attention path) gives the same vector as in the batch
    with torch.no_grad():
        one = bert_encoder.mean_pooled(enc(*tok(TEXTS[:1])), tok(TEXTS[:1])[1])
    assert (one[0] - a[0]).abs().max() < 1e-5


@pytest.mark.parametrize("change", [{"model_type": "roberta"}, {"hidden_act": "relu"}, {"position_embedding_type": "relative_key"}])
def test_other_architectures_are_not_read(teacher_path, tmp_path, change):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        (folder / name).symlink_to(teacher_path / name)
    cfg = json.loads((teacher_path / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, **change}))
    assert bert_encoder.load(folder, 128) is None


def test_no_tokenizer_json_is_not_read(teacher_path, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(teacher_path, folder, ignore=shutil.ignore_patterns("tokenizer.json", "*.safetensors"))
    (folder / "model.safetensors").symlink_to(teacher_path / "model.safetensors")
    assert not bert_encoder.supported(folder)
