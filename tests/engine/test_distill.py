"""Knowledge distillation (src/engine/distill.py): the loss against NumPy, the teacher frozen (no gradient, no
update, BN statistics unchanged, not in the optimizer), and bad input named."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from src.engine import distill
from src.engine.distill import DistillationLoss, TEACHER_PREFIX, create_teacher, distillation_network
from src.engine.loss import CrossEntropySmooth
from src.engine.optim import create_optimizer
from src.models import create_model


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _numpy_kd_loss(student, teacher, labels, weight, temperature, smoothing):
    n = student.shape[-1]
    target = np.eye(n)[labels] * (1 - smoothing) + smoothing / n
    label_loss = -(target * _log_softmax(student)).sum(-1).mean()
    log_t, log_s = _log_softmax(teacher / temperature), _log_softmax(student / temperature)
    kl = (np.exp(log_t) * (log_t - log_s)).sum(-1).mean()
    return (1 - weight) * label_loss + weight * temperature ** 2 * kl, kl


@pytest.mark.parametrize("weight,temperature", [(0.5, 1.0), (0.3, 4.0), (1.0, 2.0), (0.0, 3.0)])
def test_loss_against_numpy(weight, temperature):
    rng = np.random.default_rng(0)
    student = (rng.standard_normal((6, 9)) * 3).astype(np.float32)
    teacher = (rng.standard_normal((6, 9)) * 3).astype(np.float32)
    labels = np.array([0, 8, 3, 3, 1, 5], np.int32)
    loss = DistillationLoss(CrossEntropySmooth(0.1, 9), weight, temperature)
    got = float(loss(ms.Tensor(student), ms.Tensor(teacher), ms.Tensor(labels)).asnumpy())
    expected, kl = _numpy_kd_loss(student.astype(np.float64), teacher.astype(np.float64), labels, weight,
                                  temperature, 0.1)
    assert kl > 0.05  # the soft term is not negligible
    assert got == pytest.approx(expected, rel=1e-5)
    # KL vanishes when the student matches the teacher
    same = float(loss.kl(ms.Tensor(teacher), ms.Tensor(teacher)).asnumpy())
    assert abs(same) < 1e-6


def test_bad_weights_refused():
    with pytest.raises(ValueError, match="kd_weight must be in"):
        DistillationLoss(CrossEntropySmooth(), 1.5, 1.0)
    with pytest.raises(ValueError, match="kd_temperature must be positive"):
        DistillationLoss(CrossEntropySmooth(), 0.5, 0.0)


def _teacher_checkpoint(tmp_path, name="mobilenet_v1_025", num_classes=5):
    net = create_model(name, num_classes=num_classes)
    path = str(tmp_path / f"{name}_teacher.ckpt")
    ms.save_checkpoint(net, path)
    return path


def _snapshot(net):
    return {p.name: p.asnumpy().copy() for p in net.get_parameters()}


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE], ids=["pynative", "graph"])
def test_a_training_step_updates_the_student_only(mode, tmp_path, monkeypatch):
    """One optimizer step of the distillation network: every teacher parameter and BN statistic is unchanged
    (checked against a control whose teacher BN is not frozen, which does change), the student's change."""
    ms.set_context(mode=mode)
    rng = np.random.default_rng(0)
    images = ms.Tensor(rng.standard_normal((8, 3, 32, 32)).astype(np.float32))
    labels = ms.Tensor(np.arange(8, dtype=np.int32) % 5)

    def step_once(teacher):
        student = create_model("mobilenet_v1_025", num_classes=5, drop_rate=0.0)
        network = distillation_network(student, teacher, CrossEntropySmooth(0.1, 5), 0.5, 2.0)
        optimizer = create_optimizer(student, np.full(3, 0.1, np.float32), weight_decay=1e-4)
        assert not {id(p) for p in optimizer.parameters} & {id(p) for p in teacher.get_parameters()}
        train = nn.TrainOneStepCell(network, optimizer)
        train.set_train(True)
        before_s, before_t = _snapshot(student), _snapshot(teacher)
        loss = float(train(images, labels).asnumpy())
        assert np.isfinite(loss)
        after_s, after_t = _snapshot(student), _snapshot(teacher)
        changed_s = [k for k in before_s if not np.array_equal(before_s[k], after_s[k])]
        changed_t = [k for k in before_t if not np.array_equal(before_t[k], after_t[k])]
        return student, changed_s, changed_t

    teacher = create_teacher("mobilenet_v1_025", _teacher_checkpoint(tmp_path), 5, 32)
    assert all(p.name.startswith(TEACHER_PREFIX) and not p.requires_grad for p in teacher.get_parameters())
    student, changed_s, changed_t = step_once(teacher)
    assert changed_t == []
    assert len(changed_s) > 0.9 * len(list(student.get_parameters()))  # weights and BN statistics
    assert any(k.endswith("moving_mean") for k in changed_s)

    # control: with the teacher's BN left in training mode, the same check sees its statistics move
    monkeypatch.setattr(distill, "freeze_batch_norm", lambda net: 0)
    loose = create_teacher("mobilenet_v1_025", _teacher_checkpoint(tmp_path), 5, 32)
    _, _, changed_t = step_once(loose)
    assert changed_t and all(k.endswith(("moving_mean", "moving_variance")) for k in changed_t)


def test_no_gradient_reaches_the_teacher(tmp_path, monkeypatch):
    """Nothing of the teacher is trainable, and even were it, its logits are behind stop_gradient: its weights get
    exactly zero gradient from the KL term (a control without stop_gradient gets a non-zero one); the student's
    get one."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    rng = np.random.default_rng(1)
    images = ms.Tensor(rng.standard_normal((4, 3, 32, 32)).astype(np.float32))
    labels = ms.Tensor(np.arange(4, dtype=np.int32))
    teacher = create_teacher("mobilenet_v1_025", _teacher_checkpoint(tmp_path), 5, 32)
    assert teacher.trainable_params() == []
    student = create_model("mobilenet_v1_025", num_classes=5)
    weights = [p for p in teacher.get_parameters() if not p.name.endswith(("moving_mean", "moving_variance"))]
    for param in weights:  # as if someone made them trainable: the graph itself must still cut them off
        param.requires_grad = True

    def teacher_gradient(network):
        network.set_train(True)
        grads = ms.grad(network, grad_position=None, weights=weights)(images, labels)
        return max(float(np.abs(g.asnumpy()).max()) for g in grads)

    network = distillation_network(student, teacher, CrossEntropySmooth(0.0, 5), 1.0, 2.0)  # the KL term only
    assert teacher_gradient(network) == 0.0
    student_grads = ms.grad(network, grad_position=None, weights=student.trainable_params())(images, labels)
    assert sum(float(np.abs(g.asnumpy()).sum()) > 0 for g in student_grads) > 0.9 * len(student_grads)
    monkeypatch.setattr(distill.ops, "stop_gradient", lambda x: x)
    assert teacher_gradient(distillation_network(student, teacher, CrossEntropySmooth(0.0, 5), 1.0, 2.0)) > 1e-6


def test_teacher_input_errors(tmp_path):
    ckpt = _teacher_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="kd_teacher: unknown model 'ghostnet_10'"):
        create_teacher("ghostnet_10", ckpt, 5)
    with pytest.raises(ValueError, match="needs its trained weights: pass --kd_teacher_ckpt"):
        create_teacher("mobilenet_v1_025", "", 5)
    with pytest.raises(FileNotFoundError, match="kd_teacher_ckpt '.*nope.ckpt' does not exist"):
        create_teacher("mobilenet_v1_025", str(tmp_path / "nope.ckpt"), 5)
    with pytest.raises(ValueError, match="has a 5-class head; the student trains 7 classes"):
        create_teacher("mobilenet_v1_025", ckpt, 7)
    with pytest.raises(ValueError, match="kd_teacher_ckpt is not a checkpoint of kd_teacher ghostnet_050"):
        create_teacher("ghostnet_050", ckpt, 5)


def test_a_reparameterisable_teacher_is_folded(tmp_path):
    teacher = create_teacher("repghostnet_050", _teacher_checkpoint(tmp_path, "repghostnet_050"), 5)
    names = [p.name for p in teacher.get_parameters()]
    assert not any("fusion_bn" in n for n in names) and "kd_teacher.conv_stem.weight" in names
