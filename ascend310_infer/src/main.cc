/**
 * MindIR inference harness (Ascend 310 by default; Ascend 910, GPU and CPU through --device_type).
 *
 * For every image under --dataset_path (ListImages: recursive, sorted by relative path, as src/deploy/naming.py):
 * read the file, Decode, Resize(short side --resize_size), CenterCrop(--image_size), Normalize(--mean and --std,
 * scaled by 255), HWC2CHW on the CPU with mindspore::dataset::Execute, Model::Predict, and write the first output
 * as raw float32 to <output_dir>/result_Files/<key>_0.bin (ResultKey, as result_key in Python). The preprocessing
 * values come from the model record of the exported file: scripts/run_infer_310.sh reads it and passes them.
 * With --input_format=tensor every input is a .bin file holding one preprocessed float32 CHW tensor (CIFAR-10's
 * binary batches, converted by python -m src.tools.cifar_to_tensors), fed as it is. The mean Predict latency goes
 * to <output_dir>/time_Result/test_perform_static.txt. Any failure is reported with the image or file it concerns
 * and gives exit status 1; 0 means every input was written.
 *
 * Uses the MindSpore C++ inference API (include/api/model.h, context.h, serialization.h, types.h and
 * include/dataset/execute.h, vision.h) as the model zoo's ascend310_infer/src/main.cc did: MindSpore 1.3 and later
 * (1.2 named the GPU device NvidiaGPUDeviceInfo; from 1.6 Ascend310DeviceInfo and Ascend910DeviceInfo are aliases
 * of AscendDeviceInfo, which changes nothing here).
 */
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "include/api/context.h"
#include "include/api/model.h"
#include "include/api/serialization.h"
#include "include/api/types.h"
#include "include/dataset/execute.h"
#include "include/dataset/vision.h"
#include "utils.h"

namespace ms = mindspore;
namespace ds = mindspore::dataset;

namespace {

constexpr size_t kProgressEvery = 1000;

// The 0..1 mean or std of the options scaled to 0..255 (Normalize runs on uint8 HWC images).
std::vector<float> Scaled255(const std::vector<float>& values) {
  std::vector<float> out;
  for (float v : values) out.push_back(v * 255.0f);
  return out;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

std::string TypeText(ms::DataType type) {
  switch (type) {
    case ms::DataType::kNumberTypeFloat32:
      return "float32";
    case ms::DataType::kNumberTypeFloat16:
      return "float16";
    case ms::DataType::kNumberTypeUInt8:
      return "uint8";
    case ms::DataType::kNumberTypeInt32:
      return "int32";
    default:
      return "DataType " + std::to_string(static_cast<int>(type));
  }
}

std::string StatusText(const ms::Status& status) {
  const std::string text = status.ToString();
  return text.empty() ? "status code " + std::to_string(static_cast<uint32_t>(status.StatusCode())) : text;
}

bool HasDynamicDim(const std::vector<int64_t>& shape) {
  for (int64_t dim : shape) {
    if (dim < 0) return true;
  }
  return false;
}

// The device description for --device_type / --device_id.
std::shared_ptr<ms::DeviceInfoContext> MakeDeviceInfo(const harness::Options& opts) {
  const auto device_id = static_cast<uint32_t>(opts.device_id);
  if (opts.device_type == "Ascend910") {
    auto info = std::make_shared<ms::Ascend910DeviceInfo>();
    info->SetDeviceID(device_id);
    return info;
  }
  if (opts.device_type == "GPU") {
    auto info = std::make_shared<ms::GPUDeviceInfo>();
    info->SetDeviceID(device_id);
    return info;
  }
  if (opts.device_type == "CPU") {
    return std::make_shared<ms::CPUDeviceInfo>();  // the CPU has no device id
  }
  auto info = std::make_shared<ms::Ascend310DeviceInfo>();  // "Ascend310", the default (ParseArgs checked the name)
  info->SetDeviceID(device_id);
  return info;
}

// Reads the whole file into a uint8 tensor (the encoded image Decode expects, or the raw bytes of a preprocessed
// float32 tensor); checks open, size and read.
bool ReadFileToTensor(const std::string& path, ms::MSTensor* tensor, std::string* error) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in.is_open()) {
    *error = "cannot open image '" + path + "'";
    return false;
  }
  const std::streamoff size = in.tellg();
  if (size < 0) {
    *error = "cannot get the size of image '" + path + "'";
    return false;
  }
  if (size == 0) {
    *error = "image '" + path + "' is empty";
    return false;
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0, std::ios::beg);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    *error = "cannot read image '" + path + "'";
    return false;
  }
  // The constructor copies `bytes` into the tensor's own buffer.
  *tensor = ms::MSTensor("image", ms::DataType::kNumberTypeUInt8, {static_cast<int64_t>(bytes.size())}, bytes.data(),
                         bytes.size());
  if (tensor->Data() == nullptr || tensor->DataSize() != bytes.size()) {
    *error = "cannot allocate a tensor of " + std::to_string(bytes.size()) + " bytes for image '" + path + "'";
    return false;
  }
  return true;
}

// Preprocesses, runs and writes one image; returns false with `*error` on any failure.
bool InferOne(const harness::Options& opts, const std::string& image_path, const std::string& key,
              ds::Execute* preprocess, ms::Model* model, const ms::MSTensor& input_info,
              harness::LatencyRecorder* latency, std::string* error) {
  ms::MSTensor encoded;
  if (!ReadFileToTensor(image_path, &encoded, error)) return false;

  ms::MSTensor image;
  ms::Status status;
  if (opts.input_format == "tensor") {
    // Already preprocessed: float32 CHW of the model input's size.
    if (encoded.DataSize() != input_info.DataSize() && !HasDynamicDim(input_info.Shape())) {
      *error = "input '" + image_path + "' holds " + std::to_string(encoded.DataSize()) + " bytes but the model "
               "input '" + input_info.Name() + "' has shape " + ShapeText(input_info.Shape()) + " (" +
               std::to_string(input_info.DataSize()) + " bytes of float32)";
      return false;
    }
    std::vector<int64_t> chw = input_info.Shape();
    if (!chw.empty()) chw.erase(chw.begin());
    image = ms::MSTensor("image", ms::DataType::kNumberTypeFloat32, chw, encoded.Data().get(), encoded.DataSize());
  } else {
    status = (*preprocess)(encoded, &image);
    if (status != ms::kSuccess) {
      *error = "preprocessing image '" + image_path + "' failed: " + StatusText(status);
      return false;
    }
  }
  if (image.Data() == nullptr || image.DataType() != ms::DataType::kNumberTypeFloat32) {
    *error = "preprocessing image '" + image_path + "' gave no float32 tensor (got " + TypeText(image.DataType()) +
             ")";
    return false;
  }
  if (image.DataType() != input_info.DataType()) {
    *error = "the model input '" + input_info.Name() + "' is " + TypeText(input_info.DataType()) +
             " but the preprocessed image is " + TypeText(image.DataType());
    return false;
  }
  std::vector<int64_t> shape = input_info.Shape();
  if (HasDynamicDim(shape)) {
    shape = image.Shape();
    shape.insert(shape.begin(), 1);  // batch of one
  } else if (image.DataSize() != input_info.DataSize()) {
    *error = "image '" + image_path + "' preprocesses to shape " + ShapeText(image.Shape()) + " (" +
             std::to_string(image.DataSize()) + " bytes) but the model input '" + input_info.Name() + "' has shape " +
             ShapeText(input_info.Shape()) + " (" + std::to_string(input_info.DataSize()) +
             " bytes); check --image_size and that the MindIR was exported with batch size 1";
    return false;
  }

  std::vector<ms::MSTensor> inputs;
  inputs.emplace_back(input_info.Name(), input_info.DataType(), shape, image.Data().get(), image.DataSize());
  std::vector<ms::MSTensor> outputs;
  const auto start = std::chrono::steady_clock::now();
  status = model->Predict(inputs, &outputs);
  const auto stop = std::chrono::steady_clock::now();
  if (status != ms::kSuccess) {
    *error = "Predict failed for image '" + image_path + "': " + StatusText(status);
    return false;
  }
  if (outputs.empty()) {
    *error = "Predict returned no output for image '" + image_path + "'";
    return false;
  }
  const ms::MSTensor& logits = outputs[0];
  if (logits.DataType() != ms::DataType::kNumberTypeFloat32) {
    *error = "the first model output is " + TypeText(logits.DataType()) + ", expected float32 logits";
    return false;
  }
  const std::shared_ptr<const void> data = logits.Data();
  if (data == nullptr || logits.DataSize() == 0) {
    *error = "the first model output for image '" + image_path + "' is empty";
    return false;
  }
  if (!harness::WriteBinary(harness::ResultPath(opts.output_dir, key), data.get(), logits.DataSize(), error)) {
    return false;
  }
  latency->Add(std::chrono::duration<double, std::milli>(stop - start).count());
  return true;
}

int Run(int argc, char** argv) {
  const char* prog = argc > 0 && argv[0] != nullptr ? argv[0] : "main";
  if (harness::HelpRequested(argc, argv)) {
    std::cout << harness::Usage(prog);
    return 0;
  }
  harness::Options opts;
  std::string error;
  if (!harness::ParseArgs(argc, argv, &opts, &error)) {
    std::cerr << "error: " << error << "\n\n" << harness::Usage(prog);
    return 1;
  }

  // Cheap checks first: the image list, the key collisions and the output folder, before the slow model build.
  const std::vector<std::string> images =
      opts.input_format == "tensor" ? harness::ListFiles(opts.dataset_path, harness::TensorExtensions(), &error)
                                    : harness::ListImages(opts.dataset_path, &error);
  if (images.empty()) {
    std::cerr << "error: " << error << std::endl;
    return 1;
  }
  if (!harness::CheckUniqueKeys(opts.dataset_path, images, &error)) {
    std::cerr << "error: " << error << std::endl;
    return 1;
  }
  if (!harness::EnsureDirectory(harness::ResultDir(opts.output_dir), &error)) {
    std::cerr << "error: " << error << std::endl;
    return 1;
  }
  if (!std::ifstream(opts.mindir_path, std::ios::binary).is_open()) {
    std::cerr << "error: cannot open the MindIR file '" << opts.mindir_path << "'" << std::endl;
    return 1;
  }

  auto context = std::make_shared<ms::Context>();
  context->MutableDeviceInfo().push_back(MakeDeviceInfo(opts));

  std::cout << "loading " << opts.mindir_path << std::endl;
  ms::Graph graph;
  ms::Status status = ms::Serialization::Load(opts.mindir_path, ms::ModelType::kMindIR, &graph);
  if (status != ms::kSuccess) {
    std::cerr << "error: cannot load the MindIR file '" << opts.mindir_path << "': " << StatusText(status)
              << std::endl;
    return 1;
  }
  ms::Model model;
  status = model.Build(ms::GraphCell(graph), context);
  if (status != ms::kSuccess) {
    std::cerr << "error: cannot build the model for " << opts.device_type << " device " << opts.device_id << ": "
              << StatusText(status) << std::endl;
    return 1;
  }
  const std::vector<ms::MSTensor> model_inputs = model.GetInputs();
  if (model_inputs.size() != 1) {
    std::cerr << "error: the model has " << model_inputs.size()
              << " inputs; this harness feeds exactly one image tensor" << std::endl;
    return 1;
  }

  std::vector<std::shared_ptr<ds::TensorTransform>> transforms = {
      std::make_shared<ds::vision::Decode>(),
      std::make_shared<ds::vision::Resize>(std::vector<int32_t>{opts.resize_size}),
      std::make_shared<ds::vision::CenterCrop>(std::vector<int32_t>{opts.image_size, opts.image_size}),
      std::make_shared<ds::vision::Normalize>(Scaled255(opts.mean), Scaled255(opts.std)),
      std::make_shared<ds::vision::HWC2CHW>(),
  };
  ds::Execute preprocess(transforms);

  harness::LatencyRecorder latency;
  std::cout << "running " << images.size() << " images from " << opts.dataset_path << std::endl;
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string key = harness::ResultKey(opts.dataset_path, images[i]);
    if (!InferOne(opts, images[i], key, &preprocess, &model, model_inputs[0], &latency, &error)) {
      std::cerr << "error: " << error << " (" << i << " of " << images.size() << " images were written)"
                << std::endl;
      return 1;
    }
    if ((i + 1) % kProgressEvery == 0 || i + 1 == images.size()) {
      std::cout << "[" << (i + 1) << "/" << images.size() << "] " << key << std::endl;
    }
  }

  if (!harness::WriteLatency(opts.output_dir, latency, &error)) {
    std::cerr << "error: " << error << std::endl;
    return 1;
  }
  std::cout << harness::LatencyLine(latency);
  std::printf("processed %zu images, mean latency %.3f ms\n", latency.count(), latency.MeanMs());
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
  } catch (...) {
    std::cerr << "error: unknown exception" << std::endl;
  }
  return 1;
}
