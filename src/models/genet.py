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
with `fixed_resolution=True`, so `create_model(..., image_size=N)` builds them for N x N inputs.
"""
from mindspore import nn

from .layers import ClassifierMixin, GlobalAvgPool, ResNetMixin, batch_norm, conv2d, conv_bn, init_weights
from .registry import register_model

# ResNet-50 stages. Feature size at a 224 input: 56, 28, 14, 7.
# blocks, mid_channels, out_channels, stride
GENET_RES50_STAGES = [
    (3, 64, 256, 1),
    (4, 128, 512, 2),
    (6, 256, 1024, 2),
    (3, 512, 2048, 2),
]
MLP_REDUCTION = 16  # theta-plus MLP: C -> C / 16 -> C


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Spatial output size of a convolution or pooling window (PyTorch formula, floor)."""
    return (size + 2 * padding - kernel) // stride + 1


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
        if extra:
            extent = feature_size
            if downsample:
                self.down = conv_bn(channels, channels, 3, stride=2)
                extent = _out_size(feature_size, 3, 2, 1)
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

    def construct(self, x):
        context = x
        if self.has_down:
            context = self.down(context)
        context = self.gather(context)
        if self.use_mlp:
            context = self.mlp(context)
        return x * self.gate(context)


class GEBottleneck(nn.Cell):
    """ResNet bottleneck (1x1, 3x3 with the stride, 1x1 expansion; conv + BN each) with Gather-Excite on the
    output before the residual add, then ReLU. `downsample` (1x1 conv + BN) when the shape changes."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int, feature_size: int,
                 extra: bool, mlp: bool, ge_downsample: bool):
        super().__init__()
        self.conv1 = conv2d(in_channels, mid_channels, 1)
        self.bn1 = batch_norm(mid_channels)
        self.conv2 = conv2d(mid_channels, mid_channels, 3, stride=stride)
        self.bn2 = batch_norm(mid_channels)
        self.conv3 = conv2d(mid_channels, out_channels, 1)
        self.bn3 = batch_norm(out_channels)
        self.relu = nn.ReLU()
        self.ge = GatherExcite(out_channels, feature_size, extra, mlp, ge_downsample)
        self.has_downsample = stride != 1 or in_channels != out_channels
        if self.has_downsample:
            self.downsample = conv_bn(in_channels, out_channels, 1, stride=stride)

    def construct(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.ge(self.bn3(self.conv3(out)))
        if self.has_downsample:
            identity = self.downsample(x)
        return self.relu(out + identity)


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
        self.num_classes = num_classes
        self.extra = extra
        self.mlp = mlp
        self.image_size = image_size
        self.check_size = extra  # only the depthwise gather depends on the resolution

        channels = self.init_stem(in_channels)
        size = _out_size(_out_size(image_size, 7, 2, 3), 3, 2, 1)

        self.feature_sizes = []
        for index, (blocks, mid, out, stride) in enumerate(GENET_RES50_STAGES):
            size = _out_size(size, 3, stride, 1)
            self.feature_sizes.append(size)
            layer = []
            for j in range(blocks):
                layer.append(GEBottleneck(channels, mid, out, stride if j == 0 else 1, size, extra, mlp,
                                          ge_downsample=index == 0))
                channels = out
            setattr(self, f"layer{index + 1}", nn.SequentialCell(layer))

        self.init_classifier(channels, num_classes, drop_rate)
        init_weights(self)

    def forward_features(self, x):
        if self.check_size:
            height, width = x.shape[2], x.shape[3]
            if height != self.image_size or width != self.image_size:
                raise ValueError(f"this GENet-Res50 was built for {self.image_size}x{self.image_size} inputs (its "
                                 f"gather kernels span the feature maps of that size), got {height}x{width}; "
                                 f"build it with image_size matching the input")
        return self.forward_stages(x)


@register_model
def genet_res50_theta_minus(num_classes: int = 1000, **kwargs) -> GENetRes50:
    return GENetRes50(num_classes, extra=False, mlp=False, **kwargs)


@register_model(fixed_resolution=True)
def genet_res50_theta(num_classes: int = 1000, **kwargs) -> GENetRes50:
    return GENetRes50(num_classes, extra=True, mlp=False, **kwargs)


@register_model(fixed_resolution=True)
def genet_res50_theta_plus(num_classes: int = 1000, **kwargs) -> GENetRes50:
    return GENetRes50(num_classes, extra=True, mlp=True, **kwargs)
