"""The five seed documents' commands (../shared/seeds/), typed as their users type them, on tiny generated data.

Each command keeps the seed's script name, argument order and option names; only real data paths and checkpoint
paths are filled in, Ascend-only commands are shown with DRY_RUN or refused with the clear off-Ascend message, and
the recipes are tiny ones given through the CONFIG variable every launcher honours (or, for fine_tune.py, which
finds its recipe next to itself, a tiny recipe folder). The README's "Coming from the model zoo" table lists every
command with what it does here.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.support import ROOT, write_cifar10_bin, write_image_folder, zoo_checkpoint

pytestmark = pytest.mark.slow
SCRIPTS = os.path.join(ROOT, "scripts")
TINY = {"image_size": 32, "eval_resize": 32, "batch_size": 4, "eval_batch_size": 4, "epoch_size": 1,
        "num_parallel_workers": 1, "log_interval": 0, "eval_interval": 0, "lr_max": 0.01, "warmup_epochs": 0,
        "save_checkpoint_epochs": 1}


def _recipe(path, model, **extra):
    import yaml
    path.write_text(yaml.safe_dump({"model": model, **TINY, **extra}))
    return str(path)


def _env(**extra):
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, GLOG_v="3", PYTHONPATH=ROOT + (os.pathsep + path if path else ""),
                **{k: str(v) for k, v in extra.items()})


def _run(command, cwd, **env):
    """Run a command line (a list) as a user types it: `sh`/`bash` scripts, or `python SCRIPT` from the repo."""
    proc = subprocess.run(command, cwd=str(cwd), env=_env(**env), capture_output=True, text=True, timeout=900)
    return proc


def _python(script, *args):
    return [sys.executable, os.path.join(ROOT, script), *args]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """ImageNet-style folders (the GhostNet zoo's ilsvrc / validation_preprocess names, and train / val),
    flower_photos split as the zoo's fine_tune.py wants it (./dataset/train, ./dataset/test), and CIFAR-10 as
    cifar-10-batches-bin + cifar-10-verify-bin."""
    root = tmp_path_factory.mktemp("seed_data")
    rng = np.random.default_rng(0)
    write_image_folder(str(root / "imagenet_original" / "ilsvrc"), rng, classes=3, per_class=8, size=40)
    write_image_folder(str(root / "imagenet_original" / "validation_preprocess"), rng, classes=3, per_class=3,
                       size=40)
    write_image_folder(str(root / "imagenet" / "train"), rng, classes=3, per_class=8, size=40)
    write_image_folder(str(root / "imagenet" / "val"), rng, classes=3, per_class=3, size=40)
    write_image_folder(str(root / "flowers" / "dataset" / "train"), rng, classes=5, per_class=4, size=40)
    write_image_folder(str(root / "flowers" / "dataset" / "test"), rng, classes=5, per_class=2, size=40)
    write_cifar10_bin(str(root / "cifar10" / "cifar-10-batches-bin"), rng, train_records=8, test_records=12)
    verify = root / "cifar10" / "cifar-10-verify-bin"
    verify.mkdir()
    (verify / "test_batch.bin").write_bytes((root / "cifar10" / "cifar-10-batches-bin" / "test_batch.bin")
                                            .read_bytes())
    recipes = root / "recipes"
    recipes.mkdir()
    return root


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    from src.rank_table import build_rank_table
    path = tmp_path_factory.mktemp("table") / "hccl_8p_01234567_127.0.0.1.json"
    path.write_text(json.dumps(build_rank_table([f"192.168.10{i}.1" for i in range(8)], "127.0.0.1")))
    return str(path)


# --- GhostNet (000) ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ghostnet_run(data, tmp_path_factory):
    """A2: sh run_standalone_train.sh [DATASET_PATH], from the GhostNet folder's scripts/."""
    work = tmp_path_factory.mktemp("ghostnet_train")
    config = _recipe(data / "recipes" / "ghostnet.yaml", "ghostnet_050")
    proc = _run(["sh", os.path.join(SCRIPTS, "ghostnet", "run_standalone_train.sh"),
                 str(data / "imagenet_original")], work, CONFIG=config)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return work


def test_ghostnet_standalone_train(ghostnet_run):
    log = (ghostnet_run / "train" / "log").read_text()
    assert "epoch: 1 step: 6, loss is " in log and "epoch time: " in log
    assert (ghostnet_run / "train" / "ckpt" / "ghostnet_050-1_6.ckpt").is_file()


def test_ghostnet_eval_and_export_and_310(ghostnet_run, data):
    ckpt = str(ghostnet_run / "train" / "ckpt" / "ghostnet_050-1_6.ckpt")
    # A3 / A4: sh run_eval.sh [DATASET_PATH] [CHECKPOINT_PATH]  -> ./eval/log
    proc = _run(["sh", os.path.join(SCRIPTS, "ghostnet", "run_eval.sh"), str(data / "imagenet_original"), ckpt],
                ghostnet_run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "result: {'top_1_accuracy': " in (ghostnet_run / "eval" / "log").read_text()
    # A5: python export.py --device_target [DEVICE_TARGET] --file_format [FILE_FORMAT] --checkpoint_path [CKPT_PATH]
    for file_format in ("ONNX", "MINDIR"):
        proc = _run(_python("export.py", "--device_target", "CPU", "--file_format", file_format,
                            "--checkpoint_path", ckpt), ghostnet_run)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert (ghostnet_run / "ghostnet_050.onnx").is_file() and (ghostnet_run / "ghostnet_050.mindir").is_file()
    # A6: bash run_infer_310.sh [MINDIR_PATH] [DATA_PATH] [DEVICE_ID]: no Ascend toolkit here, the harness does not
    # build and the script says so; the reference runner does the same job (--reference) and writes acc.log.
    infer = ghostnet_run / "infer"
    infer.mkdir()
    val = str(data / "imagenet_original" / "validation_preprocess")
    proc = _run(["bash", os.path.join(SCRIPTS, "ghostnet", "run_infer_310.sh"),
                 str(ghostnet_run / "ghostnet_050.mindir"), val, "0"], infer)
    assert proc.returncode == 1 and "error: build failed; see" in proc.stderr
    proc = _run(["bash", os.path.join(SCRIPTS, "ghostnet", "run_infer_310.sh"),
                 str(ghostnet_run / "ghostnet_050.mindir"), val, "0", "--reference"], infer)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (infer / "acc.log").read_text().startswith("Total data: 9, top1 accuracy: ")


def test_ghostnet_distributed_on_ascend(data, table, tmp_path):
    # A1: sh run_distribute_train.sh [RANK_TABLE_FILE] [DATASET_PATH]
    command = ["sh", os.path.join(SCRIPTS, "ghostnet", "run_distribute_train.sh"), table,
               str(data / "imagenet_original")]
    proc = _run(command, tmp_path, DRY_RUN=1)
    assert proc.returncode == 0 and proc.stdout.count("--device_target Ascend") == 8
    assert "ghostnet_100_imagenet.yaml" in proc.stdout and "train_parallel7" in proc.stdout
    proc = _run(command, tmp_path, KILL_GRACE=1)
    assert proc.returncode == 1
    # the log of the rank that failed first, which the launcher names: the others are stopped, and rank 0 may be
    # stopped before it has written anything (a whole -n 2 run found its log empty once)
    failed_log = re.search(r"its log: (\S+)", proc.stderr)
    assert failed_log, proc.stderr[-2000:]
    assert "device_target 'Ascend' is not available" in open(os.path.join(tmp_path, failed_log.group(1))).read()


@pytest.fixture(scope="module")
def fine_tuned(data, tmp_path_factory):
    """A7: python fine_tune.py --pre_trained ./pre_ckpt/ghostnet_1x_pets.ckpt, in a folder with ./dataset and
    ./pre_ckpt as the seed lays them out (a model-zoo checkpoint: the zoo's parameter names, no record)."""
    import fine_tune
    work = data / "flowers"
    (work / "pre_ckpt").mkdir(exist_ok=True)
    zoo_checkpoint("ghostnet_100", str(work / "pre_ckpt" / "ghostnet_1x_pets.ckpt"))
    recipes = tmp_path_factory.mktemp("flower_recipes")
    _recipe(recipes / "ghostnet_100_flowers.yaml", "ghostnet_100", num_classes=5, dataset="folder",
            data_path="dataset", output_dir="output", eval_interval=1)
    cwd = os.getcwd()
    os.chdir(work)
    original = fine_tune.RECIPES
    fine_tune.RECIPES = str(recipes)
    try:
        rc = fine_tune.main(["--pre_trained", "./pre_ckpt/ghostnet_1x_pets.ckpt"])
    finally:
        fine_tune.RECIPES = original
        os.chdir(cwd)
    assert rc == 0
    return work


def test_fine_tune_from_a_model_zoo_checkpoint(fine_tuned):
    log = (fine_tuned / "output" / "train.log").read_text()
    assert "ghostnet_100, recognised by its parameter names and shapes (the model zoo's names)" in log
    assert "its 1000-class head replaced by a new 5-class classifier" in log
    assert "Train epoch time: " in log and "epoch: 1 step: 5, loss is " in log


def test_eval_of_the_fine_tuned_checkpoint_needs_nothing_else(fine_tuned, tmp_path):
    # A10: python eval.py --device_target CPU --checkpoint_path ./ckpt/ghostnet_1x_3-500_21.ckpt (our name of it)
    ckpt = str(fine_tuned / "output" / "ckpt" / "ghostnet_100-1_5.ckpt")
    proc = _run(_python("eval.py", "--device_target", "CPU", "--checkpoint_path", ckpt), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"data: {fine_tuned / 'dataset'} (recorded in the checkpoint)" in proc.stdout
    assert "result: {'top_1_accuracy': " in proc.stdout and f"ckpt={ckpt}" in proc.stdout


# --- MindCV (001) ------------------------------------------------------------------------------------------------

def test_mindcv_train_and_validate(data, tmp_path):
    config = _recipe(tmp_path / "ghostnet_050_ascend.yaml", "ghostnet_050", output_dir=str(tmp_path / "out"))
    # B2: python train.py --config CONFIG --data_dir /path/to/dataset --distribute False
    proc = _run(_python("train.py", "--config", config, "--data_dir", str(data / "imagenet"), "--distribute",
                        "False"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = str(tmp_path / "out" / "ckpt" / "ghostnet_050-1_6.ckpt")
    # B3: python validate.py -c CONFIG --data_dir /path/to/imagenet --ckpt_path /path/to/ckpt
    proc = _run(_python("validate.py", "-c", config, "--data_dir", str(data / "imagenet"), "--ckpt_path", ckpt),
                tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "result: {'top_1_accuracy': " in proc.stdout


# --- GENet-Res50 (002) -------------------------------------------------------------------------------------------

def test_genet_train_eval_and_distributed(data, table, tmp_path):
    config = _recipe(tmp_path / "genet.yaml", "genet_res50_theta_plus")
    # C4: bash run_train.sh /data/imagenet/imagenet_original/val True True 5
    proc = _run(["bash", os.path.join(SCRIPTS, "genet_res50", "run_train.sh"), str(data / "imagenet" / "train"),
                 "True", "True", "5"], tmp_path, CONFIG=config)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "epoch: 1 step: 6, loss is " in (tmp_path / "train_standalone" / "log").read_text()
    ckpt = str(tmp_path / "train_standalone" / "ckpt" / "genet_res50_theta_plus-1_6.ckpt")
    # C5: bash run_eval.sh [DATASET_PATH] [CHECKPOINT_PATH] [MLP] [EXTRA] [DEVICE_ID]
    proc = _run(["bash", os.path.join(SCRIPTS, "genet_res50", "run_eval.sh"), str(data / "imagenet" / "val"), ckpt,
                 "True", "True", "0"], tmp_path, CONFIG=config)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "result: {'top_1_accuracy': " in (tmp_path / "eval" / "log").read_text()
    # C6: sh run_eval.sh Ascend ~/imagenet/val/ ~/train/GENet-150_625.ckpt True True 0 (needs an Ascend device)
    proc = _run(["sh", os.path.join(SCRIPTS, "genet_res50", "run_eval.sh"), "Ascend", str(data / "imagenet" / "val"),
                 ckpt, "True", "True", "0"], tmp_path, CONFIG=config)
    assert proc.returncode != 0 and "device_target 'Ascend' is not available" in proc.stdout + proc.stderr
    # flags of another variant than the checkpoint's are refused
    proc = _run(["bash", os.path.join(SCRIPTS, "genet_res50", "run_eval.sh"), str(data / "imagenet" / "val"), ckpt,
                 "False", "True", "0"], tmp_path, CONFIG=config)
    assert proc.returncode != 0 and "--model genet_res50_theta contradicts the checkpoint" in proc.stdout + proc.stderr
    # C3: bash run_distribute_train.sh ~/hccl_8p_01234567_127.0.0.1.json \
    #     /data/imagenet/imagenet_original/train True True
    proc = _run(["bash", os.path.join(SCRIPTS, "genet_res50", "run_distribute_train.sh"), table,
                 str(data / "imagenet" / "train"), "True", "True"], tmp_path, DRY_RUN=1)
    assert proc.returncode == 0 and "genet_res50_theta_plus_imagenet.yaml" in proc.stdout


# --- GhostNet-D (003) --------------------------------------------------------------------------------------------

def test_ghostnet_d_scripts(data, table, tmp_path):
    config = _recipe(tmp_path / "ghostnet_d.yml", "ghostnet_d_50")
    # D1: bash scripts/run_standalone.sh (the data path, which the zoo kept in its yml, as the argument)
    proc = _run(["bash", os.path.join(SCRIPTS, "ghostnet_d", "run_standalone.sh"), str(data / "imagenet")],
                tmp_path, CONFIG=config)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "model ghostnet_d_50" in (tmp_path / "train_standalone" / "log").read_text()
    # D2: bash scripts/run_distributed.sh [RANK_TABLE_FILE] (+ the data path)
    proc = _run(["bash", os.path.join(SCRIPTS, "ghostnet_d", "run_distributed.sh"), table, str(data / "imagenet")],
                tmp_path, DRY_RUN=1)
    assert proc.returncode == 0 and "ghostnet_d_101_imagenet.yaml" in proc.stdout


# --- MobileNetV1 (004) -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mobilenet_run(data, tmp_path_factory):
    """E6: bash run_train_CPU.sh cifar10 [DATASET_PATH], from the MobileNetV1 folder's scripts/."""
    work = tmp_path_factory.mktemp("mobilenet")
    config = _recipe(data / "recipes" / "mobilenet_cifar10.yaml", "mobilenet_v1_025", dataset="cifar10")
    proc = _run(["bash", os.path.join(SCRIPTS, "mobilenetv1", "run_train_CPU.sh"), "cifar10",
                 str(data / "cifar10" / "cifar-10-batches-bin")], work, CONFIG=config)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return work, config


def test_mobilenet_train_cpu_trains_mobilenet(mobilenet_run):
    work, _ = mobilenet_run
    log = (work / "train_cpu" / "log").read_text()
    assert "model mobilenet_v1_025" in log and "10 classes" in log and "epoch: 1 step: 10, loss is " in log


def test_mobilenet_eval_export_and_310_on_cifar10(mobilenet_run, data):
    work, config = mobilenet_run
    ckpt = str(work / "train_cpu" / "ckpt" / "mobilenet_v1_025-1_10.ckpt")
    verify = str(data / "cifar10" / "cifar-10-verify-bin")
    # E14: bash run_eval.sh cifar10 .../cifar-10-verify-bin/ .../mobilenetv1-90_1562.ckpt 0
    proc = _run(["bash", os.path.join(SCRIPTS, "mobilenetv1", "run_eval.sh"), "cifar10", verify + "/", ckpt, "0"],
                work, CONFIG=config)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "result: {'top_1_accuracy': " in (work / "eval" / "log").read_text()
    # E16: bash run_eval_CPU.sh [cifar10|imagenet2012] [DATASET_PATH] [CHECKPOINT_PATH]
    proc = _run(["bash", os.path.join(SCRIPTS, "mobilenetv1", "run_eval_CPU.sh"), "cifar10", verify, ckpt], work,
                CONFIG=config)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # E18: python eval.py --dataset [cifar10|imagenet2012] --dataset_path [VAL_DATASET_PATH] --checkpoint_path [CKPT]
    #      --device_target CPU
    proc = _run(_python("eval.py", "--dataset", "cifar10", "--dataset_path", verify, "--checkpoint_path", ckpt,
                        "--device_target", "CPU"), work)
    assert proc.returncode == 0 and "mobilenet_v1_025, 10 classes" in proc.stdout, proc.stderr[-2000:]
    # E20: python export.py --ckpt_file [CKPT_PATH] --file_name [FILE_NAME] --file_format [FILE_FORMAT]
    proc = _run(_python("export.py", "--ckpt_file", ckpt, "--file_name", "mobilenetv1", "--file_format", "MINDIR"),
                work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # E21: bash run_infer_310.sh [MINDIR_PATH] [DATASET_PATH] [DEVICE_ID] on cifar-10-verify-bin (reference runner)
    proc = _run(["bash", os.path.join(SCRIPTS, "mobilenetv1", "run_infer_310.sh"), str(work / "mobilenetv1.mindir"),
                 verify, "0", "--reference"], work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = (work / "acc.log").read_text().splitlines()
    assert lines[0].startswith("'top1 acc': ") and lines[1].startswith("'top5 acc': ")
    eval_top1 = float((work / "eval" / "log").read_text().split("'top_1_accuracy': ")[1].split(",")[0])
    assert float(lines[0].split(": ")[1]) == pytest.approx(eval_top1)  # the 310 flow scores what eval.py does


def test_mobilenet_gpu_and_distributed_commands(data, table, tmp_path):
    cifar = str(data / "cifar10" / "cifar-10-batches-bin")
    # E7: bash run_standalone_train_gpu.sh [cifar10|imagenet2012] [DATASET_PATH]: no GPU here, refused clearly
    proc = _run(["bash", os.path.join(SCRIPTS, "mobilenetv1", "run_standalone_train_gpu.sh"), "cifar10", cifar],
                tmp_path)
    assert proc.returncode != 0 and "device_target 'GPU' is not available" in proc.stdout + proc.stderr
    # E1/E2: bash run_distribute_train.sh cifar10 [RANK_TABLE_FILE] [DATASET_PATH]: MobileNetV1's recipe
    proc = _run(["bash", os.path.join(SCRIPTS, "mobilenetv1", "run_distribute_train.sh"), "cifar10", table, cifar],
                tmp_path, DRY_RUN=1)
    assert proc.returncode == 0 and proc.stdout.count("mobilenet_v1_100_cifar10.yaml") == 8
    # E8: bash run_distribute_train_gpu.sh [cifar10|imagenet2012] [CONFIG_PATH] [DATASET_PATH] (mpirun, shown)
    config = os.path.join(ROOT, "configs", "mobilenet_v1_100_cifar10.yaml")
    proc = _run(["bash", os.path.join(SCRIPTS, "mobilenetv1", "run_distribute_train_gpu.sh"), "cifar10", config,
                 cifar], tmp_path, DRY_RUN=1, DEVICE_NUM=2)
    assert proc.returncode == 0 and proc.stdout.startswith("mpirun -n 2 ")
    # E12's train.py options inside that mpirun line: accepted, and refused without the launcher behind them
    proc = _run(_python("train.py", f"--config_path={config}", "--dataset=cifar10", "--run_distribute=True",
                        "--device_num=2", f"--dataset_path={cifar}"), tmp_path)
    assert proc.returncode == 2 and "distribute is true but no launcher started this process" in proc.stderr
    # E11: python train.py --device_target GPU --dateset [DATASET] --dataset_path [PATH] --config_path [CONFIG_PATH]
    proc = _run(_python("train.py", "--device_target", "GPU", "--dateset", "cifar10", "--dataset_path", cifar,
                        "--config_path", config), tmp_path)
    assert proc.returncode == 2 and "device_target 'GPU' is not available" in proc.stderr


def test_sh_runs_the_scripts_under_bash(tmp_path):
    """The seeds write `sh run_eval.sh ...`: the scripts still run under bash (dash stops at `set -o pipefail` with
    "Illegal option")."""
    proc = _run(["sh", os.path.join(SCRIPTS, "run_eval.sh")], tmp_path)
    assert proc.returncode == 1 and "Usage: bash" in proc.stderr and "Illegal option" not in proc.stderr
