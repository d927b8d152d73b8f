"""The record a checkpoint or an exported file carries about the model it holds: model name, class count, class
names (folder order), preprocessing, the data it was trained on and the effective config.

Checkpoints store it as one string entry, `ghostzoo_record` (JSON), beside the parameters; ONNX files as metadata
properties and MINDIR files in their `user_info` (src/deploy/export.py). eval.py, export.py, fine_tune.py,
eval_onnx.py, predict.py and the tools read what they need from it; a command-line value overrides it.
"""
import json
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Mapping, Optional

from ..data.preprocessing import Preprocessing
from ..errors import CheckpointError

RECORD_KEY = "ghostzoo_record"
FORMAT = 1


@dataclass
class ModelRecord:
    model: str
    num_classes: int
    preprocessing: Preprocessing
    classes: Optional[List[str]] = None      # class names in label order (the class folders' sorted names)
    dataset: str = ""                        # the kind of data it was trained on: imagenet | folder | cifar10 | ...
    data_path: str = ""                      # the data root it was trained on (absolute)
    source: str = ""                         # what wrote it: train.py, fine_tune.py, convert_weights (timm), ...
    config: Dict = field(default_factory=dict)  # the effective config of the run
    model_kwargs: Dict = field(default_factory=dict)  # builder arguments the weights need (e.g. {"act": "relu"})

    def to_dict(self) -> Dict:
        out = asdict(self)
        out["preprocessing"] = self.preprocessing.to_dict()
        out["format"] = FORMAT
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def append_dict(self) -> Dict[str, str]:
        """The entry to add to a checkpoint (ms.save_checkpoint's append_dict)."""
        return {RECORD_KEY: self.to_json()}

    @classmethod
    def from_dict(cls, values: Mapping, where: str = "") -> "ModelRecord":
        try:
            classes = values.get("classes")
            return cls(model=str(values["model"]), num_classes=int(values["num_classes"]),
                       preprocessing=Preprocessing.from_dict(values["preprocessing"]),
                       classes=[str(c) for c in classes] if classes is not None else None,
                       dataset=str(values.get("dataset", "")), data_path=str(values.get("data_path", "")),
                       source=str(values.get("source", "")), config=dict(values.get("config") or {}),
                       model_kwargs=dict(values.get("model_kwargs") or {}))
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"the model record of {where or 'the file'} is damaged ({e!r}); pass --model, "
                                  f"--num_classes and the preprocessing options yourself") from None

    @classmethod
    def from_json(cls, text: str, where: str = "") -> "ModelRecord":
        try:
            values = json.loads(text)
        except ValueError:
            raise CheckpointError(f"the model record of {where or 'the file'} is not valid JSON") from None
        if not isinstance(values, dict):
            raise CheckpointError(f"the model record of {where or 'the file'} is not a JSON object")
        return cls.from_dict(values, where)


def record_of(entries: Mapping, where: str = "") -> Optional[ModelRecord]:
    """The record among a checkpoint's entries (ms.load_checkpoint's dict), or None when it has none."""
    text = entries.get(RECORD_KEY)
    if text is None:
        return None
    if not isinstance(text, str):
        raise CheckpointError(f"the entry {RECORD_KEY} of {where or 'the checkpoint'} is not a string")
    return ModelRecord.from_json(text, where)
