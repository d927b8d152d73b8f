"""Fault storm: random SIGKILLs of a training run with resumes, and a catalogue of bad inputs.

    python -m src.tools.reliability [--kills 30] [--part kills|inputs|both] [--workdir DIR] [--seed 0]

Kills: the quickstart recipe at 32x32 (6 generated classes, 60 training images each, batch 32, a checkpoint every
epoch, dropout off) runs once without interruption, then again under a storm: each process is killed with
SIGKILL at a random moment within its first 1.5 epochs of logged steps (every third kill instead waits for a
checkpoint write to start and kills during it) and the next process resumes from the newest checkpoint, until
the run completes. Reported: kills survived (the next resume worked), the steps each kill lost (last step logged
minus the newest checkpoint's step), whether every checkpoint left behind loads and no temp file survives a
restart, and the largest difference between the stormed run's final checkpoint and the uninterrupted run's
(0.0: bitwise equal).

Inputs: each case gives train.py, eval.py, export.py, eval_onnx.py or a tool one bad input (a missing or corrupt
file, a wrong value, a folder of the wrong shape, ...) and classifies the outcome: a clear error (non-zero exit,
exactly one `error:` line, no traceback), a traceback, a crash (killed by a signal), or accepted (exit 0).
The README's reliability section shows this tool's output.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

from ..cli import run_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEP_LINE = re.compile(r"epoch: (\d+) step: \[?(\d+)(?:/\d+\])?[,:]")
STORM_ARGS = ["--config", os.path.join(ROOT, "configs", "quickstart.yaml"), "--image_size", "32",
              "--eval_resize", "32", "--synthetic_image_size", "32", "--synthetic_train_per_class", "60",
              "--synthetic_val_per_class", "10", "--save_checkpoint_epochs", "1", "--keep_checkpoint_max", "3",
              "--drop_rate", "0", "--log_interval", "1", "--eval_interval", "2"]


def _env() -> Dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, GLOG_v="3", ONEDNN_MAX_CPU_ISA=os.environ.get("ONEDNN_MAX_CPU_ISA", "AVX2"),
                PYTHONUNBUFFERED="1", PYTHONPATH=ROOT + (os.pathsep + path if path else ""))


def _train(args: List[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py")] + args, cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs)


def _checkpoints(ckpt_dir: str, model: str) -> List[Tuple[int, str]]:
    from ..engine.run_files import periodic_checkpoints
    return periodic_checkpoints(ckpt_dir, model)


def _global_step(path: str) -> int:
    from ..engine.checkpoint import read_checkpoint
    return int(read_checkpoint(path)["global_step"].asnumpy().reshape(-1)[0])


def _last_logged_step(log_text: str, steps_per_epoch: int) -> int:
    last = 0
    for match in STEP_LINE.finditer(log_text):
        epoch, step = int(match.group(1)), int(match.group(2))
        last = max(last, (epoch - 1) * steps_per_epoch + step)
    return last


def _steps_logged_since(train_log: str, offset: int) -> int:
    """How many training-step lines the log holds past `offset` (those of the current process)."""
    if not os.path.isfile(train_log):
        return 0
    with open(train_log) as f:
        f.seek(offset)
        return len(STEP_LINE.findall(f.read()))


def _max_difference(a_path: str, b_path: str) -> float:
    """The largest absolute difference over every numeric entry of two checkpoints (weights, BN statistics,
    optimizer moments, step counters); inf when they hold other entries. Text entries (the model record, which
    names the run's own folder) are not compared."""
    import numpy as np
    from ..engine.checkpoint import read_checkpoint
    a, b = read_checkpoint(a_path), read_checkpoint(b_path)
    numeric = lambda d: {k: v.asnumpy().astype(np.float64) for k, v in d.items()  # noqa: E731
                         if hasattr(v, "asnumpy")}
    a, b = numeric(a), numeric(b)
    if set(a) != set(b) or any(a[k].shape != b[k].shape for k in a):
        return float("inf")
    return max((float(np.max(np.abs(a[k] - b[k]))) for k in a if a[k].size), default=0.0)


def kill_storm(workdir: str, kills: int, epochs: int, seed: int, log: Callable[[str], None]) -> Dict:
    """Run the storm described in the module docstring; return its figures."""
    rng = random.Random(seed)
    model = "ghostnet_050"
    data = os.path.join(workdir, "data")
    ref_dir, storm_dir = os.path.join(workdir, "uninterrupted"), os.path.join(workdir, "storm")
    base = STORM_ARGS + ["--data_path", data, "--dataset", "synthetic", "--epoch_size", str(epochs),
                         "--seed", str(seed)]
    start = time.time()
    ref = _train(base + ["--output_dir", ref_dir])
    _, err = ref.communicate()
    if ref.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed: {err[-2000:]}")
    ref_log = open(os.path.join(ref_dir, "train.log")).read()
    steps = int(re.search(r"(\d+) steps of", ref_log).group(1))
    log(f"uninterrupted run: {epochs} epochs of {steps} steps in {time.time() - start:.0f} s")
    ckpt_dir, train_log = os.path.join(storm_dir, "ckpt"), os.path.join(storm_dir, "train.log")
    figures = {"kills": 0, "kills_in_checkpoint_write": 0, "survived": 0, "steps_lost": [], "unreadable": [],
               "temp_files_left_after_restart": 0, "failed_restarts": []}
    final = os.path.join(ckpt_dir, f"{model}-{epochs}_{steps}.ckpt")
    while True:
        found = _checkpoints(ckpt_dir, model)
        if found and found[-1][1] == final:  # killed after its last checkpoint: nothing left to resume
            break
        resume = ["--resume", found[-1][1]] if found else []
        temp_before = [n for n in os.listdir(ckpt_dir) if ".tmp" in n] if os.path.isdir(ckpt_dir) else []
        proc = _train(base + ["--output_dir", storm_dir] + resume)
        if figures["kills"] >= kills:
            _, err = proc.communicate()
            if proc.returncode != 0:
                figures["failed_restarts"].append(err.strip().splitlines()[-1:] or ["?"])
            break
        in_write = figures["kills"] % 3 == 2
        # The random moment is counted in this process's own logged steps, not in seconds (start-up and graph
        # compilation vary from seconds to minutes with the machine's load, a step from 0.1 to 3 s): the kill comes
        # after step k of the process, k uniform in 1 .. 1.5 epochs, plus a random fraction of a step.
        log_start = os.path.getsize(train_log) if os.path.isfile(train_log) else 0
        kill_after = rng.randint(1, max(1, (3 * steps) // 2))
        extra_wait = rng.uniform(0.0, 0.15)
        deadline = None
        killed_in_write = False
        while proc.poll() is None:
            if in_write and os.path.isdir(ckpt_dir) and any(n.endswith((".tmp.ckpt", ".tmp.tmp"))
                                                           and n not in temp_before for n in os.listdir(ckpt_dir)):
                killed_in_write = True
                break
            if not in_write and deadline is None and _steps_logged_since(train_log, log_start) >= kill_after:
                deadline = time.time() + extra_wait
            if deadline is not None and time.time() > deadline:
                break
            time.sleep(0.005)
        if proc.poll() is not None:  # finished (or failed) before the kill
            _, err = proc.communicate()
            if proc.returncode != 0:
                figures["failed_restarts"].append(err.strip().splitlines()[-1:] or ["?"])
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        figures["kills"] += 1
        figures["kills_in_checkpoint_write"] += int(killed_in_write)
        logged = _last_logged_step(open(train_log).read(), steps) if os.path.isfile(train_log) else 0
        found = _checkpoints(ckpt_dir, model)
        saved = 0
        for _, path in found:
            try:
                saved = max(saved, _global_step(path))
            except ValueError as e:
                figures["unreadable"].append(f"{path}: {e}")
        lost = max(0, logged - saved)
        figures["steps_lost"].append(lost)
        log(f"kill {figures['kills']}{' (during a checkpoint write)' if killed_in_write else ''}: last logged step "
            f"{logged}, newest checkpoint at step {saved}: {lost} steps lost")
        figures["survived"] += 1  # counted back below if the next start fails
    if os.path.isdir(ckpt_dir):
        figures["temp_files_left_after_restart"] = len([n for n in os.listdir(ckpt_dir) if ".tmp" in n])
    figures["survived"] -= len(figures["failed_restarts"])
    reference = os.path.join(ref_dir, "ckpt", f"{model}-{epochs}_{steps}.ckpt")
    figures["completed"] = os.path.isfile(final)
    figures["max_difference_after_resume"] = _max_difference(reference, final) if os.path.isfile(final) else None
    figures["seconds"] = round(time.time() - start)
    return figures


# ---------------------------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------------------------

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


def _cases(work: str, ckpt: str, onnx: str) -> List[Tuple[str, List[str], Optional[Callable[[str], None]]]]:
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
    cases = _cases(workdir, ckpt, onnx)[:only or None]
    counts = {"clear": 0, "traceback": 0, "crash": 0, "accepted": 0, "unclear": 0}
    lines = []
    for index, (name, argv, setup) in enumerate(cases):
        case_dir = os.path.join(workdir, f"case_{index:02d}")
        shutil.rmtree(case_dir, ignore_errors=True)
        os.makedirs(case_dir)
        env = _env()
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
    counts["tried"] = len(cases)
    return {"counts": counts, "cases": lines}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.tools.reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["kills", "inputs", "both"], default="both")
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the stormed run (the storm ends early "
                        "when the run completes; about 1.5 kills per epoch here)")
    parser.add_argument("--cases", type=int, default=0, help="run only the first N bad inputs (0: all)")
    parser.add_argument("--workdir", default="runs/reliability")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="", help="also write the figures to this file")
    return run_main("reliability", parser.parse_args, _run, argv)


def _run(args) -> int:
    if args.kills < 0 or args.epochs < 1:
        raise ValueError("--kills must be >= 0 and --epochs >= 1")
    workdir = os.path.abspath(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    figures = {}

    def log(line: str) -> None:
        print(line, flush=True)
    if args.part in ("kills", "both"):
        storm = kill_storm(os.path.join(workdir, "storm"), args.kills, args.epochs, args.seed, log)
        lost = storm["steps_lost"] or [0]
        print(f"kills: {storm['kills']} ({storm['kills_in_checkpoint_write']} during a checkpoint write), survived "
              f"{storm['survived']}, run completed: {storm['completed']}; steps lost per kill: max {max(lost)}, "
              f"mean {sum(lost) / len(lost):.1f}; unreadable checkpoints: {len(storm['unreadable'])}; temp files "
              f"left: {storm['temp_files_left_after_restart']}; max |difference| to the uninterrupted run: "
              f"{storm['max_difference_after_resume']}")
        figures["kills"] = storm
    if args.part in ("inputs", "both"):
        result = bad_inputs(os.path.join(workdir, "inputs"), log, args.cases)
        c = result["counts"]
        print(f"bad inputs: {c['tried']} tried: {c['clear']} clear errors, {c['unclear']} unclear, "
              f"{c['traceback']} tracebacks, {c['crash']} crashes, {c['accepted']} accepted")
        figures["inputs"] = result
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
