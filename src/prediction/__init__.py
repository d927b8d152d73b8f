"""Predictions on image files: `inputs` finds and reads the images, `predictor` scores them through a checkpoint's
network or an exported .onnx / .mindir file, `outputs` writes the table, CSV / JSON and the picture grid.
predict.py uses them; the preprocessing and class names come from the model's record."""
from .inputs import collect_images, eval_preprocess, load_images, true_class
from .outputs import (OUTPUT_FORMATS, accuracy, check_output_path, draw_grid, format_table, predictions_csv,
                      predictions_json, spread_over_classes, thumbnail, write_predictions)
from .predictor import (MODEL_SUFFIXES, Prediction, PredictionRun, Predictor, check_model_file, network_predict,
                        open_predictor, padded_predict, predict_files, softmax, top_k)

__all__ = ["MODEL_SUFFIXES", "OUTPUT_FORMATS", "Prediction", "PredictionRun", "Predictor", "accuracy",
           "check_model_file", "check_output_path", "collect_images", "draw_grid", "eval_preprocess", "format_table",
           "load_images", "network_predict", "open_predictor", "padded_predict", "predict_files",
           "predictions_csv", "predictions_json", "softmax", "spread_over_classes", "thumbnail", "top_k",
           "true_class", "write_predictions"]
