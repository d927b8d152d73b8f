"""The published weights each model can take, timm's way: `<model>.<tag>` (e.g. `ghostnet_100.in1k`).

Every entry records where the file lives (a Hugging Face hub repository or a URL), its file name, its sha256 (the
full hash where the publisher gives it; MindCV's file names carry only the first 8 hex digits, which are checked),
the class count and label set of its head, the preprocessing it was trained and evaluated with, the top-1 its
publisher reports, and how its parameter names convert (`source`, one of the model's WeightSources). Facts come
from timm 1.0.31's pretrained cfgs, MindCV 0.3.0's `default_cfgs` and configs/*/README.md, and the MindSpore Hub
asset pages of the model zoo's releases; what none of them gives is left unknown (None).
"""
import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class WeightTag:
    name: str                         # <model>.<tag>
    source: str                       # how the parameter names convert: timm | mindcv | modelzoo
    file: str                         # the file name (in the hub repository, or the URL's last part)
    hub_id: str = ""                  # Hugging Face hub repository (timm's weights)
    url: str = ""                     # plain download URL
    sha256: Optional[str] = None      # full hash, or None when unknown
    sha256_prefix: str = ""           # the hash prefix a file name carries (MindCV)
    num_classes: int = 1000
    label_set: str = "imagenet-1k"    # see classes.LABEL_SETS
    interpolation: str = "bilinear"
    input_size: int = 224
    eval_resize: int = 256            # short side before the centre crop (crop_pct = input_size / eval_resize)
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    top1: Optional[float] = None      # reported ImageNet-1k top-1 (%) at input_size
    notes: str = ""
    model_kwargs: Dict = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def tag(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def location(self) -> str:
        return f"hf-hub:{self.hub_id}/{self.file}" if self.hub_id else self.url

    def preprocessing(self) -> Dict:
        """The DefaultCfg fields these weights were trained with (for the converted checkpoint's record)."""
        return {"image_size": self.input_size, "eval_resize": self.eval_resize, "interpolation": self.interpolation,
                "mean": self.mean, "std": self.std}


def _timm(model: str, timm_name: str, top1: Optional[float] = None, **kw) -> WeightTag:
    """A timm weight on the hub (`timm/<name>`, model.safetensors); timm's cfg: bicubic, crop 0.875."""
    tag = timm_name.split(".", 1)[1]
    return WeightTag(f"{model}.{tag}", "timm", "model.safetensors", hub_id=f"timm/{timm_name}",
                     interpolation="bicubic", top1=top1, **kw)


MINDCV_URL = "https://download.mindspore.cn/toolkits/mindcv"
MINDCV_A2_URL = "https://download-mindspore.osinfra.cn/toolkits/mindcv"


def _mindcv(model: str, folder: str, prefix: str, top1: float, tag: str = "mindcv", suffix: str = "",
            base: str = MINDCV_URL, **kw) -> WeightTag:
    """A MindCV checkpoint `{model}-{sha256[:8]}{suffix}.ckpt`; MindCV's recipes: bilinear, crop 0.875."""
    file = f"{model}-{prefix}{suffix}.ckpt"
    return WeightTag(f"{model}.{tag}", "mindcv", file, url=f"{base}/{folder}/{file}", sha256_prefix=prefix,
                     top1=top1, **kw)


_MOBILENET_MINDCV = dict(num_classes=1001, label_set="imagenet-1k+1", model_kwargs={"act": "relu"},
                         notes="ReLU network (MindCV's); 1001 outputs, the last unused")
_REPGHOST_TOP1 = {"050": 66.95, "058": 68.94, "080": 72.24, "100": 74.22, "111": 75.07, "130": 76.37,
                  "150": 77.45, "200": 78.81}  # the official checkpoints' file names

TAGS: List[WeightTag] = [
    _timm("ghostnet_100", "ghostnet_100.in1k", 73.958, notes="the official ghostnet_1x.pth"),
    *[_timm(f"ghostnetv2_{w}", f"ghostnetv2_{w}.in1k") for w in ("100", "130", "160")],
    _timm("ghostnetv3_100", "ghostnetv3_100.in1k", 76.94),
    *[_timm(f"repghostnet_{w}", f"repghostnet_{w}.in1k", top1) for w, top1 in _REPGHOST_TOP1.items()],
    _timm("mobilenet_v1_100", "mobilenetv1_100.ra4_e3600_r224_in1k", 75.388, mean=INCEPTION, std=INCEPTION,
          notes="timm tests it at 256 with crop 0.95 (76.088)"),
    _mindcv("ghostnet_050", "ghostnet", "85b91860", 66.03),
    _mindcv("ghostnet_100", "ghostnet", "bef8025a", 73.78),
    _mindcv("ghostnet_130", "ghostnet", "cf4c235c", 75.50),
    _mindcv("ghostnet_050", "ghostnet", "ae7771cb", 65.93, tag="mindcv_910v2", suffix="-910v2", base=MINDCV_A2_URL,
            notes="trained on Atlas 800T A2"),
    _mindcv("mobilenet_v1_025", "mobilenet/mobilenetv1", "d3377fba", 53.87, **_MOBILENET_MINDCV),
    _mindcv("mobilenet_v1_050", "mobilenet/mobilenetv1", "23e9ddbe", 65.94, **_MOBILENET_MINDCV),
    _mindcv("mobilenet_v1_075", "mobilenet/mobilenetv1", "5bed0c73", 70.44, **_MOBILENET_MINDCV),
    _mindcv("mobilenet_v1_100", "mobilenet/mobilenetv1", "91c7b206", 72.95, **_MOBILENET_MINDCV),
    _mindcv("mobilenet_v1_025", "mobilenet/mobilenetv1", "cbe3d3b3", 54.05, tag="mindcv_910v2", suffix="-910v2",
            base=MINDCV_A2_URL, **dict(_MOBILENET_MINDCV, notes="trained on Atlas 800T A2; ReLU, 1001 outputs")),
    WeightTag("ghostnet_100.modelzoo", "modelzoo",
              "ghostnet_ascend_v190_imagenet2012_research_cv_top1acc74.19_top5acc91.78.ckpt",
              url="https://download.mindspore.cn/models/r1.9/"
                  "ghostnet_ascend_v190_imagenet2012_research_cv_top1acc74.19_top5acc91.78.ckpt",
              sha256="2c1db3f228a130e382356514215c388c2ebf758a637eee76e87e3f6562c4e663", top1=74.19,
              notes="MindSpore Hub, model zoo r1.9 research/cv/ghostnet"),
    WeightTag("mobilenet_v1_100.modelzoo", "modelzoo",
              "mobilenetv1_ascend_v1100_imagenet2012_official_cv_top1acc71.96_top5acc90.44.ckpt",
              url="https://download.mindspore.cn/models/r1.10/"
                  "mobilenetv1_ascend_v1100_imagenet2012_official_cv_top1acc71.96_top5acc90.44.ckpt",
              sha256="b0c379792495cce4c253e7e042f3ce80eddd353de61082bf35c1ac14012f5cde", top1=71.96,
              num_classes=1001, label_set="imagenet-1k+1",
              notes="MindSpore Hub, model zoo r1.10; trained with pad_mode 'same' (ours pads symmetrically)"),
]
_BY_NAME: Dict[str, WeightTag] = {t.name: t for t in TAGS}
# The tag `pretrained=True` takes: the first one listed for each model.
DEFAULT_TAGS: Dict[str, str] = {}
for _t in TAGS:
    DEFAULT_TAGS.setdefault(_t.model, _t.name)


def list_pretrained(pattern: str = "") -> List[str]:
    """Names of the published weights (`model.tag`) matching a shell-style `pattern` ("ghostnet_*", "*.mindcv")."""
    return [t.name for t in TAGS if not pattern or fnmatch.fnmatch(t.name, pattern)]


def get_tag(name: str, model: Optional[str] = None) -> WeightTag:
    """The tag `name` (`model.tag`, or just `tag` with `model`); a KeyError listing close matches otherwise, and a
    ValueError for the weights of another model."""
    if model and "." not in name:
        name = f"{model}.{name}"
    if name not in _BY_NAME:
        close = difflib.get_close_matches(name, list(_BY_NAME), n=4, cutoff=0.6)
        hint = f"; close: {', '.join(close)}" if close else ""
        raise KeyError(f"unknown weights '{name}'{hint} (python -m src.tools.weights list shows all)")
    tag = _BY_NAME[name]
    if model and tag.model != model:
        raise ValueError(f"weights '{name}' are for {tag.model}, not {model}; weights of {model}: "
                         f"{', '.join(list_pretrained(model + '.*')) or 'none published'}")
    return tag


def default_tag(model: str) -> WeightTag:
    if model not in DEFAULT_TAGS:
        raise ValueError(f"no published weights for {model}; models with weights: {', '.join(sorted(DEFAULT_TAGS))}")
    return _BY_NAME[DEFAULT_TAGS[model]]
