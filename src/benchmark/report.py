"""Which timm network each of ours is compared with, medians over the repeated runs, the table and the CSV file."""
import csv
import statistics
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

# Our model -> (timm's model doing the same work, or None; why that one, or why none).
REFERENCE_MODELS: Dict[str, Tuple[Optional[str], str]] = {
    "ghostnet_050": ("ghostnet_050", "same network"),
    "ghostnet_100": ("ghostnet_100", "same network"),
    "ghostnet_130": ("ghostnet_130", "same network"),
    "ghostnet_nose_050": (None, "timm has no GhostNet without squeeze-excite"),
    "ghostnet_nose_100": (None, "timm has no GhostNet without squeeze-excite"),
    "ghostnet_nose_130": (None, "timm has no GhostNet without squeeze-excite"),
    "ghostnet_600m": (None, "timm has no GhostNet-600M; nearest: --reference_map ghostnet_600m=ghostnet_130"),
    "mobilenet_v1_025": (None, "timm has no MobileNetV1 0.25 (only mobilenetv1_100 / _125)"),
    "mobilenet_v1_050": (None, "timm has no MobileNetV1 0.5 (only mobilenetv1_100 / _125)"),
    "mobilenet_v1_075": (None, "timm has no MobileNetV1 0.75 (only mobilenetv1_100 / _125)"),
    "mobilenet_v1_100": ("mobilenetv1_100", "same network"),
    "genet_res50_theta_minus": ("resnet50", "the ResNet-50 it extends (GE-theta-minus adds no parameters)"),
    "genet_res50_theta": ("resnet50", "the ResNet-50 it extends"),
    "genet_res50_theta_plus": ("resnet50", "the ResNet-50 it extends"),
    "ghostnet_d_50": ("resnet50", "the ResNet-50 it ghosts"),
    "ghostnet_d_101": ("resnet101", "the ResNet-101 it ghosts"),
}
# GhostNetV2, GhostNetV3 and RepGhost: timm holds the same networks under the same names (ours are converted from them)
REFERENCE_MODELS.update({name: (name, "same network") for name in (
    "ghostnetv2_100", "ghostnetv2_130", "ghostnetv2_160", "ghostnetv3_050", "ghostnetv3_100", "ghostnetv3_130",
    "ghostnetv3_160", "repghostnet_050", "repghostnet_058", "repghostnet_080", "repghostnet_100", "repghostnet_111",
    "repghostnet_130", "repghostnet_150", "repghostnet_200")})


def reference_model(name: str, overrides: Optional[Dict[str, str]] = None) -> Tuple[Optional[str], str]:
    """(timm model name or None, the reason) for our model `name`; `overrides` (ours -> timm) win."""
    if overrides and name in overrides:
        return overrides[name], "chosen with --reference_map"
    return REFERENCE_MODELS.get(name, (None, "no timm counterpart known"))


def parse_reference_map(text: str) -> Dict[str, str]:
    """"ours=timm,ours2=timm2" -> dict; ValueError naming a malformed entry."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        ours, sep, theirs = item.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise ValueError(f"--reference_map entry '{item}' is not OURS=TIMM (e.g. ghostnet_600m=ghostnet_130)")
        out[ours.strip()] = theirs.strip()
    return out


SIDES = ("ours", "timm", "baseline")  # our code, timm + PyTorch, our code in another checkout (--baseline)
TIMED = ("img_s", "ms_step", "ms_step_min", "ms_step_max", "cpu_ms_step", "compile_s", "first_step_s",
         "peak_rss_mb", "device_mem_mb")


def merge_runs(runs: Sequence[dict]) -> dict:
    """Medians of the timed figures over the runs, the model facts of the first run, the per-run img/s."""
    if not runs:
        return {}
    out = dict(runs[0])
    for key in TIMED:
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    out["img_s_runs"] = [round(r["img_s"], 2) for r in runs]
    return out


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a and b else None


@dataclass
class Row:
    """One model and bench: the runs of each side (result dicts of the workers), or their errors."""
    model: str
    bench: str
    backend: str
    ref_model: Optional[str] = None
    ref_note: str = ""
    runs: Dict[str, List[dict]] = field(default_factory=lambda: {side: [] for side in SIDES})
    errors: List[str] = field(default_factory=list)

    def summary(self) -> dict:
        ours, ref, base = (merge_runs(self.runs[side]) for side in SIDES)
        out = {"model": self.model, "bench": self.bench, "backend": self.backend}
        for key in ("batch_size", "image_size"):
            out[key] = ours.get(key, ref.get(key))
        for key in TIMED + ("params", "macs", "workers", "img_s_runs"):
            out[key] = ours.get(key)
        out["ref_model"] = self.ref_model or ""
        for key in ("img_s", "ms_step", "cpu_ms_step", "peak_rss_mb", "params", "macs", "img_s_runs"):
            out[f"ref_{key}"] = ref.get(key)
            out[f"base_{key}"] = base.get(key)
        out["speed_ratio"] = _ratio(ours.get("img_s"), ref.get("img_s"))
        out["rss_ratio"] = _ratio(ours.get("peak_rss_mb"), ref.get("peak_rss_mb"))
        out["base_speed_ratio"] = _ratio(ours.get("img_s"), base.get("img_s"))
        out["base_rss_ratio"] = _ratio(ours.get("peak_rss_mb"), base.get("peak_rss_mb"))
        out["runs"] = len(self.runs["ours"])
        out["note"] = "; ".join(self.errors) if self.errors else ("" if self.ref_model else self.ref_note)
        return out


CSV_FIELDS = ["model", "bench", "backend", "batch_size", "image_size", "img_s", "ms_step", "ms_step_min",
              "ms_step_max", "cpu_ms_step", "compile_s", "first_step_s", "peak_rss_mb", "device_mem_mb", "params",
              "macs", "workers", "runs", "img_s_runs", "ref_model", "ref_img_s", "ref_ms_step", "ref_cpu_ms_step",
              "ref_peak_rss_mb", "ref_params", "ref_macs", "ref_img_s_runs", "speed_ratio", "rss_ratio",
              "base_img_s", "base_ms_step", "base_cpu_ms_step", "base_peak_rss_mb", "base_img_s_runs",
              "base_speed_ratio", "base_rss_ratio", "note"]


def _fmt(value, digits: int = 1) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, list):
        return "/".join(f"{v:.{digits}f}" for v in value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _millions(value) -> str:
    return "-" if value is None else f"{value / 1e6:.2f}M"


def _times(value) -> str:
    text = _fmt(value, 2)
    return text if text == "-" else text + "x"


def format_table(summaries: Sequence[dict], with_reference: bool, with_baseline: bool = False) -> str:
    """A Markdown table of the summaries (one line per model and bench)."""
    header = ["model", "bench", "backend", "img/s", "ms/step", "CPU ms/step", "compile s", "peak RSS MB", "params",
              "MACs"]
    if with_baseline:
        header += ["baseline img/s", "vs baseline", "baseline CPU ms/step", "baseline RSS MB", "RSS vs baseline"]
    if with_reference:
        header += ["timm model", "timm img/s", "speed ratio", "timm CPU ms/step", "timm RSS MB", "RSS ratio"]
    header += ["img/s per run", "note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for s in summaries:
        cells = [s["model"], s["bench"], s["backend"], _fmt(s["img_s"]), _fmt(s["ms_step"]),
                 _fmt(s["cpu_ms_step"], 0), _fmt(s["compile_s"]), _fmt(s["peak_rss_mb"], 0), _millions(s["params"]),
                 _millions(s["macs"])]
        runs = _fmt(s["img_s_runs"])
        if with_baseline:
            cells += [_fmt(s["base_img_s"]), _times(s["base_speed_ratio"]), _fmt(s["base_cpu_ms_step"], 0),
                      _fmt(s["base_peak_rss_mb"], 0), _fmt(s["base_rss_ratio"], 2)]
            if s["base_img_s_runs"]:
                runs += f" (baseline {_fmt(s['base_img_s_runs'])})"
        if with_reference:
            cells += [s["ref_model"] or "-", _fmt(s["ref_img_s"]), _times(s["speed_ratio"]),
                      _fmt(s["ref_cpu_ms_step"], 0), _fmt(s["ref_peak_rss_mb"], 0), _fmt(s["rss_ratio"], 2)]
            if s["ref_img_s_runs"]:
                runs += f" (timm {_fmt(s['ref_img_s_runs'])})"
        cells += [runs, s["note"] if with_reference or s["img_s"] is None else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(summaries: Sequence[dict], path: str) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for s in summaries:
            writer.writerow({k: (";".join(str(v) for v in s[k]) if isinstance(s.get(k), list) else s.get(k))
                             for k in CSV_FIELDS})
