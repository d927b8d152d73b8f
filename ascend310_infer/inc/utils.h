/**
 * Helpers of the MindIR inference harness that do not need MindSpore: argument parsing, the image list and the
 * result-file naming shared with the Python side (src/deploy.py), checked file output and latency bookkeeping.
 *
 * Everything reports failures through a `std::string* error` (never null) and a false / empty return value; no
 * function lets an exception escape.
 */
#ifndef ASCEND310_INFER_INC_UTILS_H_
#define ASCEND310_INFER_INC_UTILS_H_

#include <cstddef>
#include <string>
#include <vector>

namespace harness {

/** Command-line options of the harness (see Usage). */
struct Options {
  std::string mindir_path;
  std::string dataset_path;
  std::string output_dir = ".";
  int device_id = 0;
  std::string device_type = "Ascend310";
  int image_size = 224;
  int resize_size = 256;
  // Normalisation of 0..1 RGB values (the model record's; ImageNet's by default); Normalize runs on 0..255 images,
  // so main scales them by 255.
  std::vector<float> mean = {0.485f, 0.456f, 0.406f};
  std::vector<float> std = {0.229f, 0.224f, 0.225f};
  std::string input_format = "image";  // image: encoded image files; tensor: .bin files of float32 CHW tensors
};

/** The device types accepted by --device_type, in the order Usage lists them. */
const std::vector<std::string>& DeviceTypes();

/** The usage text printed for --help and after an argument error. */
std::string Usage(const char* prog);

/** True when argv holds --help or -h (main prints Usage and exits 0). */
bool HelpRequested(int argc, char** argv);

/**
 * Parses `--name=value` or `--name value` flags into `*out` (left untouched on failure). Unknown flags, positional
 * arguments, a missing value, a missing --mindir_path / --dataset_path, a non-integer or negative number, a zero
 * image or resize size, an unknown device type, a --mean / --std that is not three numbers (std > 0) and an
 * --input_format other than image / tensor give false with `*error` naming the flag and what was expected.
 */
bool ParseArgs(int argc, char** argv, Options* out, std::string* error);

/** The extensions of src/data/image_check.py IMAGE_EXTENSIONS, matched in any case (src/data/folders.py
 * is_image_name). */
const std::vector<std::string>& ImageExtensions();

/**
 * Every image file under `root`, as src/deploy.py list_images finds them: a recursive walk that skips
 * directories whose name starts with '.' and does not descend into symbolic links to directories; a file is an
 * image when its name ends with one of ImageExtensions() (hidden files are not skipped: Python keeps them too).
 * The result is sorted by the relative path compared component by component, like
 * `sorted(..., key=lambda p: os.path.relpath(p, root).split(os.sep))`, and each path is `root + "/" + relative`.
 * An empty result and `*error` when root is not a directory, a folder cannot be read, or no image is found.
 */
std::vector<std::string> ListImages(const std::string& root, std::string* error);

/** The extensions of the preprocessed input files of --input_format=tensor (".bin"). */
const std::vector<std::string>& TensorExtensions();

/** As ListImages, for the files with one of `extensions` (ListImages: ImageExtensions()). */
std::vector<std::string> ListFiles(const std::string& root, const std::vector<std::string>& extensions,
                                   std::string* error);

/**
 * The harness's name for image `path` under `root` (src/deploy.py result_key): os.path.relpath(path, root) with
 * the extension removed as os.path.splitext does, every "/" replaced by "__".
 */
std::string ResultKey(const std::string& root, const std::string& path);

/** False with `*error` naming both files when two of `images` have one ResultKey (e.g. a__b/c.jpg, a/b__c.jpg). */
bool CheckUniqueKeys(const std::string& root, const std::vector<std::string>& images, std::string* error);

/** mkdir -p `path`; false with `*error` when it cannot be created or exists as something else than a folder. */
bool EnsureDirectory(const std::string& path, std::string* error);

/**
 * Writes `bytes` bytes at `data` to `path`: to a temporary file next to it first (open, write, flush and close
 * checked), then renamed over `path`, so a failed write never leaves a truncated result behind.
 */
bool WriteBinary(const std::string& path, const void* data, size_t bytes, std::string* error);

/** output_dir + "/result_Files/" + key + "_0.bin" (the file postprocess.py reads for the image). */
std::string ResultPath(const std::string& output_dir, const std::string& key);

/** The folder ResultPath writes to: output_dir + "/result_Files". */
std::string ResultDir(const std::string& output_dir);

/** The latency file WriteLatency writes: output_dir + "/time_Result/test_perform_static.txt". */
std::string LatencyPath(const std::string& output_dir);

/** Accumulates per-inference latencies in milliseconds. */
class LatencyRecorder {
 public:
  void Add(double ms) {
    total_ms_ += ms;
    ++count_;
  }
  size_t count() const { return count_; }
  /** The mean latency; 0 when nothing was recorded. */
  double MeanMs() const { return count_ == 0 ? 0.0 : total_ms_ / static_cast<double>(count_); }

 private:
  double total_ms_ = 0.0;
  size_t count_ = 0;
};

/** The line WriteLatency writes (the model zoo's format), with a trailing newline. */
std::string LatencyLine(const LatencyRecorder& latency);

/**
 * Writes LatencyLine to output_dir/time_Result/test_perform_static.txt (creating the folder); false with
 * `*error` when nothing was recorded or the file cannot be written.
 */
bool WriteLatency(const std::string& output_dir, const LatencyRecorder& latency, std::string* error);

}  // namespace harness

#endif  // ASCEND310_INFER_INC_UTILS_H_
