"""GENet-Res50: Gather-Excite on ResNet-50 (Hu et al., "Gather-Excite: Exploiting Feature Context in
Convolutional Neural Networks", NeurIPS 2018, arXiv 1810.12348), built as the MindSpore model zoo's GENet_Res50.

The backbone is ResNet-50 (7x7 stride-2 stem + BN + ReLU, 3x3 stride-2 max pool with padding 1, bottleneck
stages [3, 4, 6, 3] with the stride on the 3x3 conv, 1x1 conv + BN downsample, global average pool, Dense
2048 -> classes). Every bottleneck applies a Gather-Excite operator to its output before the residual add:
gather a per-channel context, optionally pass it through an MLP, sigmoid gate, multiply, then add the identity and
apply ReLU. The three variants of the paper, with the model zoo's `extra` / `mlp` switches and their trainable
parameter counts at 1000 classes:

- GE-theta-minus (`extra=False`): parameter-free global average gather; 25,557,032 (the ResNet-50 count).
- GE-theta (`extra=True, mlp=False`): a depthwise conv whose kernel equals the feature size (global extent, valid
  padding, 1x1 output) + BN. In the first stage the model zoo first applies a dense 3x3 stride-2 conv + BN (its
  workaround for large depthwise kernels), so the 56x56 maps of a 224 input are gathered by a 28x28 kernel;
  31,071,272. (The zoo's rule is "feature size >= 56", which at 224 is exactly the first stage; here the dense conv
  sits in the first stage at every `image_size`, so the parameter names do not depend on the resolution.)
- GE-theta-plus (`extra=True, mlp=True`): theta, then 1x1 conv C -> C/16, ReLU, 1x1 conv C/16 -> C, both without
  bias; 33,586,216. (The paper's pure depthwise gather, without the first-stage dense conv, would give 31.11M and
  33.62M.)

The zoo's switches also allow `extra=False, mlp=True` (mean gather + the MLP, an SE without biases; 28,071,976),
which is none of the paper's variants; the class builds it, no name is registered for it.

In training mode the beta of the first-stage dense conv's BN gets no gradient (exactly zero up to rounding): the
full-extent gather turns it into a per-channel constant that the gather's BN subtracts again. The model zoo's
structure has this parameter, so it is kept (it stays near its initial zero) for the counts and the checkpoint layout.

The depthwise gather ties theta and theta-plus to one input resolution: the kernels are sized for the feature maps
that `image_size` (default 224) produces, and running those networks at another resolution raises a ValueError
naming both resolutions (in PyNative and in graph mode, where it is raised while the graph is compiled).
Theta-minus gathers with a global mean and runs at any resolution. The theta and theta-plus builders are registered
with a default config of `fixed_resolution=True`, so `create_model(..., image_size=N)` builds them for N x N
inputs.

The bottleneck is the shared ResNet one (resnet.py) with Gather-Excite as its attention hook, under the
attribute name `ge`. Checkpoint filter: the model zoo's GENet_Res50 names.
"""
import re
from typing import Mapping, Optional

from mindspore import nn

from .convert import apply_rules
from ..kernels.pointwise import GateProduct
from .layers import ClassifierMixin, GlobalAvgPool, batch_norm, conv2d, conv_bn, init_weights
from .registry import DefaultCfg, WeightSource, register_model
from .resnet import EXPANSION, Bottleneck, ResNetMixin, out_size

# ResNet-50 stages. Feature size at a 224 input: 56, 28, 14, 7.
# blocks, planes (the 3x3 width; outputs planes * 4), stride
GENET_RES50_STAGES = [
    (3, 64, 1),
    (4, 128, 2),
    (6, 256, 2),
    (3, 512, 2),
]
MLP_REDUCTION = 16  # theta-plus MLP: C -> C / 16 -> C


class GatherExcite(nn.Cell):
    """Gather-Excite operator on a C-channel map of `feature_size` x `feature_size`: returns x * sigmoid(excite).

    extra=False: the gather is a global mean. extra=True: [dense 3x3 stride-2 conv + BN if `downsample`], then a
    depthwise conv covering the whole (remaining) map + BN. mlp=True adds 1x1 C -> C/16, ReLU, 1x1 C/16 -> C.
    Children: `down` (conv_bn, keys `down.0.weight`, `down.1.*`), `gather` (`gather.0.weight`, `gather.1.*`),
    `mlp` (`mlp.0.weight`, `mlp.2.weight`).
    """

    def __init__(self, channels: int, feature_size: int, extra: bool, mlp: bool, downsample: bool):
        super().__init__()
        self.use_mlp = mlp
        self.has_down = extra and downsample
        # the mean gather keeps no copy of x for its gradient, so a Bottleneck may run the product with bn3
        # (resnet.py): the gather's convolutions (extra) keep x anyway
        self.gate_after_bn = not extra
        if extra:
            extent = feature_size
            if downsample:
                self.down = conv_bn(channels, channels, 3, stride=2)
                extent = out_size(feature_size, 3, 2, 1)
            # Global-extent depthwise conv: the kernel covers the whole map and valid padding leaves 1x1, so the
            # conv2d helper (padding k // 2) does not apply here.
            self.gather = nn.SequentialCell([
                nn.Conv2d(channels, channels, extent, stride=1, pad_mode="valid", group=channels, has_bias=False),
                batch_norm(channels),
            ])
        else:
            self.gather = GlobalAvgPool(keep_dims=True)
        if mlp:
            hidden = channels // MLP_REDUCTION
            self.mlp = nn.SequentialCell([conv2d(channels, hidden, 1), nn.ReLU(), conv2d(hidden, channels, 1)])
        self.gate = nn.Sigmoid()
        self.product = GateProduct()  # our kernels on CPU, which keep no tiled gate for the gradient

    def gate_of(self, x):
        """The gate sigmoid(excite) (N, C, 1, 1) of x."""
        context = x
        if self.has_down:
            context = self.down(context)
        context = self.gather(context)
        if self.use_mlp:
            context = self.mlp(context)
        return self.gate(context)

    def construct(self, x):
        return self.product(x, self.gate_of(x))


class InputCheck(nn.Cell):
    """Passes `image_size` x `image_size` inputs through and refuses others (the theta gathers' kernels span the
    feature maps of one resolution)."""

    def __init__(self, image_size: int):
        super().__init__()
        self.image_size = image_size

    def construct(self, x):
        height, width = x.shape[2], x.shape[3]
        if height != self.image_size or width != self.image_size:
            raise ValueError(f"this GENet-Res50 was built for {self.image_size}x{self.image_size} inputs (its "
                             f"gather kernels span the feature maps of that size), got {height}x{width}; "
                             f"build it with image_size matching the input")
        return x


class GENetRes50(ResNetMixin, ClassifierMixin, nn.Cell):
    """GENet-Res50. `extra=False`: GE-theta-minus; `extra=True, mlp=False`: GE-theta; both True: GE-theta-plus.

    `image_size` is the input resolution the depthwise gathers are sized for (`extra=True`); the network then
    refuses other resolutions. With `extra=False` the gather is a global mean without size-dependent parameters and
    the network runs at any resolution. `drop_rate`: dropout before the classifier.
    """

    def __init__(self, num_classes: int = 1000, extra: bool = True, mlp: bool = True, image_size: int = 224,
                 drop_rate: float = 0.0, in_channels: int = 3):
        super().__init__()
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
        self.extra = extra
        self.mlp = mlp
        self.image_size = image_size
        self.check_size = extra  # only the depthwise gather depends on the resolution
        if extra:
            self.input_check = InputCheck(image_size)
            self.fixed_stride_reason = "its Gather-Excite kernels span the maps of output stride 32"

        channels = self.init_stem(in_channels)
        size = self.stem_output_size(image_size)
        self.feature_sizes = []
        for index, (blocks, planes, stride) in enumerate(GENET_RES50_STAGES):
            size = out_size(size, 3, stride, 1)
            self.feature_sizes.append(size)
            out = planes * EXPANSION
            layer = []
            for j in range(blocks):
                ge = GatherExcite(out, size, extra, mlp, downsample=index == 0)
                layer.append(Bottleneck(channels, planes, out, stride if j == 0 else 1, attn=ge, attn_name="ge"))
                channels = out
            setattr(self, f"layer{index + 1}", nn.SequentialCell(layer))
        self.init_feature_levels([p * EXPANSION for _, p, _ in GENET_RES50_STAGES],
                                 [s for _, _, s in GENET_RES50_STAGES], ("input_check",) if extra else ())
        self.init_classifier(channels, num_classes, drop_rate)
        init_weights(self)

    def forward_features(self, x):
        if self.check_size:
            x = self.input_check(x)
        return self.forward_stages(x)


# --- checkpoint filter: research/cv/GENet_Res50 (src/GENet.py + GEBlock.py) --------------------------------------
# Stem `conv1` / `bn1`, `layer1..4`, `end_point` (Dense); each GEBlock has `conv1..3` and `down_layer` as
# nn.Conv2dBnAct (`conv.weight`, `batchnorm.*`), the gather as `downop` (SequentialCell: [dense 3x3 s2 conv, BN,]
# depthwise conv, BN; the first pair only at spatial >= 56) and the MLP as `mlpLayer` (0: conv, 1: ReLU, 2: conv).
_ZOO_BLOCK = re.compile(r"^(layer[1-4]\.\d+)\.(.+)$")
_ZOO_BLOCK_RULES = [
    (re.compile(r"^conv([123])\.conv\.weight$"), r"conv\1.weight"),
    (re.compile(r"^conv([123])\.batchnorm\.(\w+)$"), r"bn\1.\2"),
    (re.compile(r"^down_layer\.conv\.weight$"), r"downsample.0.weight"),
    (re.compile(r"^down_layer\.batchnorm\.(\w+)$"), r"downsample.1.\1"),
    (re.compile(r"^mlpLayer\.([02])\.weight$"), r"ge.mlp.\1.weight"),
]
_ZOO_DOWNOP = re.compile(r"^downop\.([0-3])\.(\w+)$")


def _zoo_rename(name: str, state: Mapping) -> Optional[str]:
    if re.match(r"^(conv1\.weight|bn1\.\w+)$", name):
        return name
    m = re.match(r"^end_point\.(weight|bias)$", name)
    if m:
        return f"classifier.{m.group(1)}"
    m = _ZOO_BLOCK.match(name)
    if not m:
        return None
    block, rest = m.groups()
    inner = apply_rules(_ZOO_BLOCK_RULES, rest)
    if inner is not None:
        return f"{block}.{inner}"
    d = _ZOO_DOWNOP.match(rest)
    if not d:
        return None
    index, leaf = int(d.group(1)), d.group(2)
    # The zoo's downop holds a dense stride-2 conv + BN before the depthwise gather when it has four entries.
    has_down = f"{block}.downop.2.weight" in state
    if has_down and index < 2:
        return f"{block}.ge.down.{index}.{leaf}"
    return f"{block}.ge.gather.{index - 2 if has_down else index}.{leaf}"


_ZOO = {"modelzoo": WeightSource(_zoo_rename)}


def _cfg(fixed: bool) -> DefaultCfg:
    return DefaultCfg(stem="conv1", fixed_resolution=fixed, weights=("MindSpore model zoo: GENet_Res50",))


@register_model(default_cfg=_cfg(False), sources=_ZOO)
def genet_res50_theta_minus(num_classes: int = 1000, **kwargs) -> GENetRes50:
    return GENetRes50(num_classes, extra=False, mlp=False, **kwargs)


@register_model(default_cfg=_cfg(True), sources=_ZOO)
def genet_res50_theta(num_classes: int = 1000, **kwargs) -> GENetRes50:
    return GENetRes50(num_classes, extra=True, mlp=False, **kwargs)


@register_model(default_cfg=_cfg(True), sources=_ZOO)
def genet_res50_theta_plus(num_classes: int = 1000, **kwargs) -> GENetRes50:
    return GENetRes50(num_classes, extra=True, mlp=True, **kwargs)
