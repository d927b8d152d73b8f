"""The reliability tool's catalogue of bad inputs: each case gives train.py, eval.py, export.py, predict.py,
eval_onnx.py or a tool one bad input (a missing or corrupt file, a wrong value, a folder of the wrong shape,
contradicting values, ...) and the outcome is classified: a clear error (non-zero exit, exactly one `error:` line,
no traceback), a traceback, a crash (killed by a signal), or accepted (exit 0). The case list is a table, data."""
import os
import shutil
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def subprocess_env() -> Dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, GLOG_v="3", ONEDNN_MAX_CPU_ISA=os.environ.get("ONEDNN_MAX_CPU_ISA", "AVX2"),
                PYTHONUNBUFFERED="1", PYTHONPATH=ROOT + (os.pathsep + path if path else ""))


def _write_images(root: str, classes: int = 2, per_class: int = 3, size: int = 32) -> str:
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = os.path.join(root, f"class_{c}")
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
                os.path.join(folder, f"img_{i}.jpg"), quality=90)
    return root


def cases(work: str, ckpt: str, onnx: str) -> List[Tuple[str, List[str], Optional[Callable[[str], None]]]]:
    """(name, [script, args...], setup(case_dir)) for every bad input. `{d}` in an argument is the case folder."""
    quick = ["--config", os.path.join(ROOT, "configs", "quickstart.yaml"), "--epoch_size", "1",
             "--image_size", "32", "--eval_resize", "32", "--num_classes", "2", "--dataset", "imagenet"]
    train = ["train.py"] + quick + ["--output_dir", "{d}/out"]
    good_data = ["--data_path", "{d}/data"]

    def data(d):
        _write_images(os.path.join(d, "data", "train"), per_class=40)
        _write_images(os.path.join(d, "data", "val"))

    def bad_file(name: str, content: Callable[[bytes], bytes]):
        def setup(d):
            data(d)
            good = open(os.path.join(d, "data", "train", "class_0", "img_0.jpg"), "rb").read()
            with open(os.path.join(d, "data", "train", "class_1", name), "wb") as f:
                f.write(content(good))
        return setup

    def write(path: str, text: str):
        def setup(d):
            data(d)
            full = path.format(d=d)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        return setup

    def both(*setups):
        def setup(d):
            for s in setups:
                s(d)
        return setup

    def one_class(d):
        _write_images(os.path.join(d, "data", "train"), classes=1, per_class=40)

    def empty_classes(d):
        os.makedirs(os.path.join(d, "data", "train", "a"))
        os.makedirs(os.path.join(d, "data", "train", "b"))

    def loose_images(d):
        _write_images(os.path.join(d, "data", "train"))
        for c in ("class_0", "class_1"):
            for name in os.listdir(os.path.join(d, "data", "train", c)):
                shutil.move(os.path.join(d, "data", "train", c, name), os.path.join(d, "data", "train", c + name))
            os.rmdir(os.path.join(d, "data", "train", c))

    def cifar(records: int, label: int = 1):
        def setup(d):
            folder = os.path.join(d, "cifar")
            os.makedirs(folder)
            for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
                with open(os.path.join(folder, name), "wb") as f:
                    f.write((bytes([label]) + bytes(3072)) * records + (b"\0" * 100 if records == 3 else b""))
        return setup

    def pickle_bomb(d):
        import pickle
        data(d)

        class Bomb:
            def __reduce__(self):
                return (os.system, (f"touch {d}/pwned",))
        with open(os.path.join(d, "evil.pth"), "wb") as f:
            pickle.dump({"conv_stem.weight": Bomb()}, f)

    def locked(d):
        data(d)
        code = ("import sys, time; sys.path.insert(0, %r); from src.outputs import RunLock; "
                "RunLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(120)") % ROOT
        holder = subprocess.Popen([sys.executable, "-c", code, os.path.join(d, "out")], stdout=subprocess.PIPE,
                                  text=True)
        holder.stdout.readline()
        _HOLDERS.append(holder)

    def output_file(d):
        data(d)
        open(os.path.join(d, "out"), "w").write("a file")

    def jpeg_cut(length: int):
        return bad_file("cut.jpg", lambda good: good[:length])

    def ckpt_copy(d):
        data(d)
        shutil.copy(ckpt, os.path.join(d, "model.ckpt"))

    ev = ["eval.py"] + quick
    imagenet_recipe = os.path.join(ROOT, "configs", "ghostnet_050_imagenet.yaml")

    def folder(path: str, images: int = 1):  # a folder of `images` images at `path` (made aside, then moved)
        def setup(d):
            made = os.path.join(_write_images(os.path.join(d, "aside"), 1, images), "class_0")
            os.makedirs(os.path.dirname(os.path.join(d, path)), exist_ok=True)
            os.rename(made, os.path.join(d, path))
        return setup

    return [
        ("train: missing data path", train + ["--data_path", "{d}/nowhere"], None),
        ("train: data path is a file", train + ["--data_path", "{d}/file"], write("{d}/file", "x")),
        ("train: empty class folders", train + good_data, empty_classes),
        ("train: images but no class folders", train + good_data, loose_images),
        ("train: one class", train + good_data, one_class),
        ("train: text file named .jpg", train + good_data, bad_file("text.jpg", lambda g: b"hello world")),
        ("train: zero-byte .jpg", train + good_data, bad_file("empty.jpg", lambda g: b"")),
        ("train: JPEG cut to 300 bytes", train + good_data, jpeg_cut(300)),
        ("train: JPEG cut to 450 bytes", train + good_data, jpeg_cut(450)),
        ("train: JPEG cut to 600 bytes", train + good_data, jpeg_cut(600)),
        ("train: JPEG cut in half", train + good_data, bad_file("half.jpg", lambda g: g[:len(g) // 2])),
        ("train: JPEG with its scan data zeroed", train + good_data,
         bad_file("zeros.jpg", lambda g: g[:len(g) // 3] + bytes(len(g) - len(g) // 3))),
        ("train: PNG cut short", train + good_data, bad_file("cut.png", lambda g: b"\x89PNG\r\n\x1a\n" + g[8:60])),
        ("train: unknown model", train + good_data + ["--model", "ghostnet_10"], data),
        ("train: unknown key", train + good_data + ["--epoch_sise", "3"], data),
        ("train: option without a value", train + ["--data_path", "--epoch_size", "3"], data),
        ("train: non-integer epoch_size", train + good_data + ["--epoch_size", "abc"], data),
        ("train: zero batch size", train + good_data + ["--batch_size", "0"], data),
        ("train: batch larger than the data", train + good_data + ["--batch_size", "4096"], data),
        ("train: negative lr", train + good_data + ["--lr_max", "-0.1"], data),
        ("train: NaN lr", train + good_data + ["--lr_max", "nan"], data),
        ("train: infinite lr", train + good_data + ["--lr_init", "inf"], data),
        ("train: unknown optimizer", train + good_data + ["--optimizer", "adamw"], data),
        ("train: unknown lr decay mode", train + good_data + ["--lr_decay_mode", "exp"], data),
        ("train: drop_rate 1.5", train + good_data + ["--drop_rate", "1.5"], data),
        ("train: bad crop_ratio", train + good_data + ["--crop_ratio", "2,1"], data),
        ("train: two-value mean", train + good_data + ["--mean", "0.5,0.5"], data),
        ("train: warmup longer than training", train + good_data + ["--warmup_epochs", "5"], data),
        ("train: fewer classes than folders", train + good_data + ["--num_classes", "1"], data),
        ("train: missing config file", ["train.py", "--config", "{d}/none.yaml"] + good_data, data),
        ("train: config not YAML", ["train.py", "--config", "{d}/c.yaml"] + good_data,
         write("{d}/c.yaml", "model: [unclosed")),
        ("train: config is a list", ["train.py", "--config", "{d}/c.yaml"] + good_data, write("{d}/c.yaml", "- a")),
        ("train: unknown key in config", ["train.py", "--config", "{d}/c.yaml"] + good_data,
         write("{d}/c.yaml", "modle: ghostnet_050\n")),
        ("train: resume from a missing file", train + good_data + ["--resume", "{d}/none.ckpt"], data),
        ("train: resume from a folder", train + good_data + ["--resume", "{d}/data"], data),
        ("train: resume from a damaged file", train + good_data + ["--resume", "{d}/bad.ckpt"],
         write("{d}/bad.ckpt", "garbage" * 50)),
        ("train: resume from another model", train + good_data + ["--resume", "{d}/model.ckpt", "--model",
                                                                  "mobilenet_v1_025"], ckpt_copy),
        ("train: pretrained of another model", train + good_data + ["--pretrained_ckpt", "{d}/model.ckpt",
                                                                    "--model", "mobilenet_v1_025"], ckpt_copy),
        ("train: output_dir is a file", train + good_data, output_file),
        ("train: output_dir in use by another run", train + good_data, locked),
        ("train: CIFAR-10 files truncated", ["train.py"] + quick[:-2] + ["--dataset", "cifar10", "--num_classes",
                                                                           "10", "--data_path", "{d}/cifar",
                                                                           "--output_dir", "{d}/out"], cifar(3)),
        ("train: CIFAR-10 label 12", ["train.py"] + quick[:-2] + ["--dataset", "cifar10", "--num_classes", "10",
                                                                    "--data_path", "{d}/cifar", "--output_dir",
                                                                    "{d}/out"], cifar(2, label=12)),
        ("train: CIFAR-10 folder without batches", ["train.py"] + quick[:-2] + ["--dataset", "cifar10",
                                                                                  "--num_classes", "10",
                                                                                  "--data_path", "{d}/data",
                                                                                  "--output_dir", "{d}/out"], data),
        ("train: RANK_SIZE=2 without a launcher", ["env:RANK_SIZE=2"] + train + good_data, data),
        ("train: unavailable device", train + good_data + ["--device_target", "Ascend"], data),
        ("eval: missing checkpoint", ev + good_data + ["--checkpoint_path", "{d}/none.ckpt"], data),
        ("eval: checkpoint is a folder", ev + good_data + ["--checkpoint_path", "{d}/data"], data),
        ("eval: damaged checkpoint", ev + good_data + ["--checkpoint_path", "{d}/bad.ckpt"],
         write("{d}/bad.ckpt", "garbage" * 50)),
        ("eval: checkpoint of another model", ev + good_data + ["--checkpoint_path", "{d}/model.ckpt", "--model",
                                                                "ghostnet_nose_050"], ckpt_copy),
        ("eval: wrong class count", ev + good_data + ["--checkpoint_path", "{d}/model.ckpt", "--num_classes", "3"],
         ckpt_copy),
        ("eval: truncated JPEG in val", ev + good_data + ["--checkpoint_path", "{d}/model.ckpt"],
         both(ckpt_copy, lambda d: open(os.path.join(d, "data", "val", "class_0", "img_1.jpg"), "r+b").truncate(400))),
        ("eval: missing data path", ev + ["--data_path", "{d}/nowhere", "--checkpoint_path", "{d}/model.ckpt"],
         ckpt_copy),
        ("export: missing checkpoint", ["export.py", "--model", "ghostnet_050", "--checkpoint_path", "{d}/none.ckpt"],
         None),
        ("export: unknown format", ["export.py", "--model", "ghostnet_050", "--checkpoint_path", "{d}/model.ckpt",
                                    "--file_format", "TFLITE"], ckpt_copy),
        ("export: AIR without Ascend", ["export.py", "--model", "ghostnet_050", "--checkpoint_path",
                                        "{d}/model.ckpt", "--file_format", "AIR", "--file_name", "{d}/m"], ckpt_copy),
        ("export: negative batch size", ["export.py", "--model", "ghostnet_050", "--checkpoint_path",
                                         "{d}/model.ckpt", "--batch_size", "-1"], ckpt_copy),
        ("export: checkpoint of another model", ["export.py", "--model", "mobilenet_v1_025", "--checkpoint_path",
                                                 "{d}/model.ckpt", "--file_name", "{d}/m"], ckpt_copy),
        ("eval_onnx: missing file", ["eval_onnx.py", "--onnx_path", "{d}/none.onnx", "--data_path", "{d}/data"],
         data),
        ("eval_onnx: not an ONNX file", ["eval_onnx.py", "--onnx_path", "{d}/bad.onnx", "--data_path",
                                         "{d}/data"], write("{d}/bad.onnx", "garbage")),
        ("eval_onnx: input size differs from the recipe", ["eval_onnx.py", "--onnx_path", onnx, "--data_path",
                                                           "{d}/data"], data),
        ("convert_weights: missing input", ["-m", "src.tools.convert_weights", "--source", "timm", "--model",
                                            "ghostnet_100", "--input", "{d}/none.pth", "--output", "{d}/o.ckpt"],
         None),
        ("convert_weights: pickle that runs code", ["-m", "src.tools.convert_weights", "--source", "timm",
                                                    "--model", "ghostnet_100", "--input", "{d}/evil.pth",
                                                    "--output", "{d}/o.ckpt"], pickle_bomb),
        ("convert_weights: wrong suffix", ["-m", "src.tools.convert_weights", "--source", "timm", "--model",
                                           "ghostnet_100", "--input", "{d}/w.txt", "--output", "{d}/o.ckpt"],
         write("{d}/w.txt", "x")),
        ("fine_tune: no starting checkpoint", ["fine_tune.py"] + quick + good_data + ["--output_dir", "{d}/out"],
         data),
        ("postprocess: missing result folder", ["postprocess.py", "--result_path", "{d}/none", "--label_path",
                                                "{d}/l.json"], write("{d}/l.json", "{}")),
        ("postprocess: label file missing", ["postprocess.py", "--result_path", "{d}", "--label_path",
                                             "{d}/none.json"], None),
        ("create label: no class folders", ["create_imagenet2012_label.py", "--img_path", "{d}/none"], None),
        ("model_info: unknown model", ["-m", "src.tools.model_info", "ghostnet_10"], None),
        ("train: validation class the training set lacks", train + good_data, both(data, folder("data/val/zebra"))),
        ("train: empty class folder beside full ones", train + good_data, both(data, folder("data/train/class_9", 0))),
        ("train: class images only in a sub-folder", train + good_data,
         both(data, folder("data/train/class_9/inner"))),
        ("train: output folder inside flat class folders", train[:-1] + ["{d}/data/train/run", "--data_path",
                                                                         "{d}/data/train"], data),
        ("train: recipe num_classes 1000 on 2 classes", ["train.py", "--config", imagenet_recipe, "--image_size", "32",
                                                         "--output_dir", "{d}/out"] + good_data, data),
        ("train: eval_resize below image_size", train + good_data + ["--eval_resize", "16"], data),
        ("train: lr_end above lr_max", train + good_data + ["--lr_end", "0.5"], data),
        ("train: config with a tab", ["train.py", "--config", "{d}/c.yaml"] + good_data,
         write("{d}/c.yaml", "model: ghostnet_050\n\tepoch_size: 3\n")),
        ("train: config with a duplicate key", ["train.py", "--config", "{d}/c.yaml"] + good_data,
         write("{d}/c.yaml", "epoch_size: 3\nmodel: ghostnet_050\nepoch_size: 30\n")),
        ("eval: result_json under a file", ev + good_data + ["--checkpoint_path", "{d}/model.ckpt", "--result_json",
                                                             "{d}/f/r.json"], both(ckpt_copy, write("{d}/f", "x"))),
        ("export: ONNX under a file", ["export.py", "--model", "ghostnet_050", "--checkpoint_path", "{d}/model.ckpt",
                                       "--file_format", "ONNX", "--file_name", "{d}/f/m"],
         both(ckpt_copy, write("{d}/f", "x"))),
        ("export: MINDIR under a file", ["export.py", "--model", "ghostnet_050", "--checkpoint_path",
                                         "{d}/model.ckpt", "--file_name", "{d}/f/m"],
         both(ckpt_copy, write("{d}/f", "x"))),
        ("benchmark: results_file under a file", ["benchmark.py", "--model", "ghostnet_050", "--bench", "infer",
                                                  "--results_file", "{d}/f/r.csv"], write("{d}/f", "x")),
        ("predict: record-less ONNX of another size", ["predict.py", "{d}/data/val", "--checkpoint_path", onnx,
                                                       "--model", "ghostnet_050"], data),
    ]


_HOLDERS: List[subprocess.Popen] = []


def classify(returncode: int, stderr: str) -> str:
    """clear | traceback | crash | accepted, as the module docstring defines them."""
    if returncode < 0 or returncode >= 128:
        return "crash"
    if "Traceback" in stderr:
        return "traceback"
    if returncode == 0:
        return "accepted"
    errors = [line for line in stderr.splitlines() if "error:" in line]
    return "clear" if len(errors) == 1 else "unclear"


def bad_inputs(workdir: str, log: Callable[[str], None], only: int = 0) -> Dict:
    """Run every case (the first `only` when given); return the outcome counts and the cases' lines."""
    from ..models import create_model
    from ..deploy import export_model
    from ..outputs import atomic_save_checkpoint
    os.makedirs(workdir, exist_ok=True)
    net = create_model("ghostnet_050", num_classes=2)
    ckpt = os.path.join(workdir, "ghostnet_050.ckpt")
    atomic_save_checkpoint(net, ckpt)
    onnx = export_model(net, os.path.join(workdir, "ghostnet_050_64"), "ONNX", 1, 64)
    chosen = cases(workdir, ckpt, onnx)[:only or None]
    counts = {"clear": 0, "traceback": 0, "crash": 0, "accepted": 0, "unclear": 0}
    lines = []
    for index, (name, argv, setup) in enumerate(chosen):
        case_dir = os.path.join(workdir, f"case_{index:02d}")
        shutil.rmtree(case_dir, ignore_errors=True)
        os.makedirs(case_dir)
        env = subprocess_env()
        while argv and argv[0].startswith("env:"):
            key, _, value = argv[0][4:].partition("=")
            env[key] = value
            argv = argv[1:]
        if setup is not None:
            setup(case_dir)
        command = [sys.executable] + [a.format(d=case_dir) for a in argv]
        if not argv[0].startswith("-"):
            command[1] = os.path.join(ROOT, command[1])
        try:
            proc = subprocess.run(command, cwd=case_dir, env=env, capture_output=True, text=True, timeout=300)
            outcome = classify(proc.returncode, proc.stderr)
            message = ([line for line in proc.stderr.splitlines() if "error:" in line] or
                       proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"])[0]
        except subprocess.TimeoutExpired:
            outcome, message = "crash", "timed out after 300 s"
        finally:
            for holder in _HOLDERS:
                holder.kill()
                holder.wait()
            _HOLDERS.clear()
        if "pickle" in name and os.path.exists(os.path.join(case_dir, "pwned")):
            outcome, message = "accepted", "the pickle's code ran"
        counts[outcome] += 1
        lines.append(f"{outcome:9s} {name}: {message[:160]}")
        log(lines[-1])
    counts["tried"] = len(chosen)
    return {"counts": counts, "cases": lines}
