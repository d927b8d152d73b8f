"""Deployment: export (MINDIR, ONNX, AIR) with the model record inside, runners for exported files, the harness's
result-file naming, and the parity helpers that compare them with the network."""
from .export import FILE_FORMATS, export_model, export_path, head_classes, output_names, read_file_record
from .naming import KEY_SEPARATOR, RESULT_SUFFIX, list_images, result_key, result_keys
from .parity import calibrate_batchnorm, relative_difference
from .runners import (check_onnx_input_size, load_mindir, make_predictor, mindir_outputs, onnx_outputs, onnx_session,
                      predict_batches, run_mindir, run_onnx)

__all__ = ["FILE_FORMATS", "KEY_SEPARATOR", "RESULT_SUFFIX", "calibrate_batchnorm", "check_onnx_input_size",
           "export_model", "export_path", "head_classes", "list_images", "load_mindir", "make_predictor",
           "mindir_outputs", "onnx_outputs", "onnx_session", "output_names", "predict_batches", "read_file_record",
           "relative_difference", "result_key", "result_keys", "run_mindir", "run_onnx"]
