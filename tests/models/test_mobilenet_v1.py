"""MobileNetV1 (src/models/mobilenet_v1.py): the model zoo's head sizes."""
from src.models import count_params, create_model


def test_mobilenet_v1_heads_of_the_model_zoo():
    assert count_params(create_model("mobilenet_v1_100", num_classes=1001)) == 4_233_001
    assert count_params(create_model("mobilenet_v1_100", num_classes=10)) == 3_217_226
