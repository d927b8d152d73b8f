"""Knowledge distillation (Hinton et al., arXiv 1503.02531), as GhostNetV3's recipe trains with it.

loss = (1 - w) * label_loss(student, labels) + w * T^2 * KL(softmax(teacher / T) || softmax(student / T)),
the KL summed over classes and averaged over the batch; T^2 keeps the soft term's gradients on the scale of the
label term's as T grows. The official GhostNetV3 code adds the two terms with weights 1 and 1: that is w = 0.5 with
the whole loss doubled.

The teacher is a registered model loaded from its checkpoint and frozen: eval-mode BatchNorm (moving statistics,
never updated, also while the student trains), no dropout, no parameter trainable, its logits behind
stop_gradient. `DistillationNetwork` wraps student, teacher and loss into the cell `ms.Model` trains (the
optimizer holds the student's parameters only). The teacher's parameters are named `kd_teacher.*` so they never
collide with the student's and can be left out of the student's checkpoints (`TEACHER_PREFIX`).
"""
from typing import Optional

import mindspore as ms
from mindspore import nn, ops

from ..errors import CheckpointError
from ..models import check_model_name, create_model, freeze_batch_norm, get_default_cfg, reparameterize
from .checkpoint import load_weights, read_checkpoint, split_training_state

TEACHER_PREFIX = "kd_teacher."


class DistillationLoss(nn.Cell):
    """(1 - weight) * label_loss(student, labels) + weight * T^2 * KL(teacher || student at temperature T)."""

    def __init__(self, label_loss: nn.Cell, weight: float = 0.5, temperature: float = 1.0):
        super().__init__()
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"kd_weight must be in [0, 1], got {weight}")
        if temperature <= 0:
            raise ValueError(f"kd_temperature must be positive, got {temperature}")
        self.label_loss = label_loss
        self.weight = float(weight)
        self.temperature = float(temperature)
        self.log_softmax = nn.LogSoftmax(axis=-1)

    def kl(self, student_logits, teacher_logits):
        """Mean over the batch of KL(softmax(teacher / T) || softmax(student / T))."""
        log_p_teacher = self.log_softmax(teacher_logits.astype(ms.float32) / self.temperature)
        log_p_student = self.log_softmax(student_logits.astype(ms.float32) / self.temperature)
        return (ops.exp(log_p_teacher) * (log_p_teacher - log_p_student)).sum(-1).mean()

    def construct(self, student_logits, teacher_logits, labels):
        soft = self.kl(student_logits, teacher_logits) * (self.temperature * self.temperature)
        return (1.0 - self.weight) * self.label_loss(student_logits, labels) + self.weight * soft


class DistillationNetwork(nn.Cell):
    """(images, labels) -> distillation loss of `student` against the frozen `teacher` (see create_teacher)."""

    def __init__(self, student: nn.Cell, teacher: nn.Cell, loss: DistillationLoss):
        super().__init__(auto_prefix=False)  # the student's parameters keep their names, as under WithLossCell
        self.student = student
        self.teacher = teacher
        self.loss = loss

    def construct(self, images, labels):
        teacher_logits = ops.stop_gradient(self.teacher(images))
        return self.loss(self.student(images), teacher_logits, labels)


def check_teacher(name: str, checkpoint: str) -> None:
    """Raise a clear error unless `name` is a registered model and `checkpoint` an existing file."""
    import os
    try:
        check_model_name(name)
    except ValueError as e:
        raise ValueError(f"kd_teacher: {e}") from None
    if not checkpoint:
        raise ValueError(f"kd_teacher {name} needs its trained weights: pass --kd_teacher_ckpt FILE.ckpt")
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"kd_teacher_ckpt '{checkpoint}' does not exist")


def create_teacher(name: str, checkpoint: str, num_classes: int, image_size: Optional[int] = None) -> nn.Cell:
    """The frozen teacher: `name` built for `num_classes`, its weights from `checkpoint` (ours; convert foreign
    weights first with src.tools.convert_weights), re-parameterised when it can be, BN on moving statistics,
    nothing trainable, parameters renamed `kd_teacher.*`."""
    check_teacher(name, checkpoint)
    params, _ = split_training_state(read_checkpoint(checkpoint))
    head = params.get(f"{get_default_cfg(name).classifier}.weight")
    if head is not None and head.shape[0] != num_classes:
        raise CheckpointError(f"kd_teacher_ckpt '{checkpoint}' has a {head.shape[0]}-class head; the student trains "
                              f"{num_classes} classes, and distillation needs the teacher's over the same ones")
    teacher = create_model(name, num_classes=num_classes, drop_rate=0.0, image_size=image_size)
    try:
        load_weights(teacher, checkpoint)
    except CheckpointError as e:
        raise CheckpointError(f"kd_teacher_ckpt is not a checkpoint of kd_teacher {name}: {e}") from None
    teacher.set_train(False)
    reparameterize(teacher)  # a faster teacher, same outputs
    freeze_batch_norm(teacher)  # moving statistics even inside the student's training-mode graph
    for param in teacher.get_parameters():
        param.requires_grad = False
        param.name = TEACHER_PREFIX + param.name
    return teacher


def distillation_network(student: nn.Cell, teacher: nn.Cell, label_loss: nn.Cell, weight: float,
                         temperature: float) -> DistillationNetwork:
    """The cell to train: student and frozen teacher with DistillationLoss(label_loss, weight, temperature)."""
    return DistillationNetwork(student, teacher, DistillationLoss(label_loss, weight, temperature))
