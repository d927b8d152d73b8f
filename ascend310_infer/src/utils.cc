/**
 * Helpers of the MindIR inference harness (standard library and POSIX only; see inc/utils.h).
 */
#include "utils.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>
#include <utility>

namespace harness {
namespace {

constexpr const char kResultDir[] = "result_Files";
constexpr const char kResultSuffix[] = "_0.bin";
constexpr const char kKeySeparator[] = "__";
constexpr const char kTimeDir[] = "time_Result";
constexpr const char kTimeFile[] = "test_perform_static.txt";

// Runs `fn`; an exception (in practice only std::bad_alloc or a std::filesystem error) becomes `*error`.
template <typename R, typename F>
R Guarded(std::string* error, R on_failure, F&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    *error = std::string("internal error: ") + e.what();
  } catch (...) {
    *error = "internal error: unknown exception";
  }
  return on_failure;
}

std::string ErrnoText(int err) { return std::strerror(err); }

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// a + "/" + b without doubling a trailing slash of a (os.path.join for a relative b).
std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::vector<std::string> SplitSlash(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Python's os.path.abspath(p).split("/") without empty parts: relative paths are taken from the current folder,
// then "." and empty components are dropped and ".." removes the previous component (lexically, as normpath).
std::vector<std::string> AbsoluteComponents(const std::string& path) {
  std::string full = path;
  if (full.empty() || full[0] != '/') {
    std::vector<char> buf(4096);
    while (::getcwd(buf.data(), buf.size()) == nullptr) {
      if (errno != ERANGE || buf.size() > (1u << 20)) {
        buf.assign(2, '\0');
        buf[0] = '/';
        break;
      }
      buf.resize(buf.size() * 2);
    }
    full = JoinPath(std::string(buf.data()), path);
  }
  std::vector<std::string> parts;
  for (const std::string& part : SplitSlash(full)) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  return parts;
}

// os.path.relpath(path, start) for POSIX paths.
std::string RelPath(const std::string& path, const std::string& start) {
  const std::vector<std::string> start_parts = AbsoluteComponents(start);
  const std::vector<std::string> path_parts = AbsoluteComponents(path);
  size_t common = 0;
  while (common < start_parts.size() && common < path_parts.size() && start_parts[common] == path_parts[common]) {
    ++common;
  }
  std::vector<std::string> rel(start_parts.size() - common, "..");
  rel.insert(rel.end(), path_parts.begin() + static_cast<std::ptrdiff_t>(common), path_parts.end());
  if (rel.empty()) return ".";
  std::string out = rel[0];
  for (size_t i = 1; i < rel.size(); ++i) out += "/" + rel[i];
  return out;
}

// os.path.splitext(p)[0] (posixpath / genericpath._splitext with sep "/", extsep "."): the extension starts at
// the last dot of the last component, unless everything before that dot in the component is dots.
std::string StripExtension(const std::string& p) {
  const size_t sep = p.rfind('/');
  const size_t dot = p.rfind('.');
  const size_t name_start = sep == std::string::npos ? 0 : sep + 1;
  if (dot == std::string::npos || (sep != std::string::npos && dot < sep)) return p;
  for (size_t i = name_start; i < dot; ++i) {
    if (p[i] != '.') return p.substr(0, dot);
  }
  return p;
}

// Case-insensitive (ASCII), as src/data/folders.py is_image_name: "x.Jpg" is an image for every command.
bool HasExtension(const std::string& name, const std::vector<std::string>& extensions) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const std::string& ext : extensions) {
    if (EndsWith(lower, ext)) return true;
  }
  return false;
}

struct DirCloser {
  void operator()(DIR* dir) const {
    if (dir != nullptr) ::closedir(dir);
  }
};

struct FileCloser {
  void operator()(std::FILE* file) const {
    if (file != nullptr) std::fclose(file);
  }
};

// Removes a temporary file on scope exit unless disarmed.
class TempFileRemover {
 public:
  explicit TempFileRemover(std::string path) : path_(std::move(path)) {}
  TempFileRemover(const TempFileRemover&) = delete;
  TempFileRemover& operator=(const TempFileRemover&) = delete;
  ~TempFileRemover() {
    if (armed_) std::remove(path_.c_str());
  }
  void Disarm() { armed_ = false; }

 private:
  std::string path_;
  bool armed_ = true;
};

// One level of os.walk(root): files with one of `extensions` are appended to `rels` as paths relative to the walk
// root ("a/b.jpg").
bool Walk(const std::string& dir, const std::string& rel_prefix, const std::vector<std::string>& extensions,
          std::vector<std::string>* rels, std::string* error) {
  std::vector<std::string> names;
  {
    std::unique_ptr<DIR, DirCloser> handle(::opendir(dir.c_str()));
    if (!handle) {
      *error = "cannot read folder '" + dir + "': " + ErrnoText(errno);
      return false;
    }
    while (true) {
      errno = 0;
      const dirent* entry = ::readdir(handle.get());
      if (entry == nullptr) {
        if (errno != 0) {
          *error = "cannot read folder '" + dir + "': " + ErrnoText(errno);
          return false;
        }
        break;
      }
      const std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      names.push_back(name);
    }
  }
  for (const std::string& name : names) {
    const std::string full = JoinPath(dir, name);
    struct stat st {};
    // os.walk sorts entries with DirEntry.is_dir(), which follows links and is false when stat fails.
    const bool is_dir = ::stat(full.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (is_dir) {
      if (name[0] == '.') continue;  // list_images prunes hidden folders
      struct stat lst {};
      if (::lstat(full.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) continue;  // os.walk(followlinks=False)
      if (!Walk(full, rel_prefix + name + "/", extensions, rels, error)) return false;
    } else if (HasExtension(name, extensions)) {
      rels->push_back(rel_prefix + name);
    }
  }
  return true;
}

enum class ValueKind { kPath, kNonNegative, kPositive, kDeviceType, kThreeFloats, kInputFormat };

struct FlagSpec {
  const char* name;
  ValueKind kind;
};

constexpr FlagSpec kFlags[] = {
    {"mindir_path", ValueKind::kPath},      {"dataset_path", ValueKind::kPath},
    {"device_id", ValueKind::kNonNegative}, {"device_type", ValueKind::kDeviceType},
    {"output_dir", ValueKind::kPath},       {"image_size", ValueKind::kPositive},
    {"resize_size", ValueKind::kPositive},  {"mean", ValueKind::kThreeFloats},
    {"std", ValueKind::kThreeFloats},       {"input_format", ValueKind::kInputFormat},
};

const FlagSpec* FindFlag(const std::string& name) {
  for (const FlagSpec& spec : kFlags) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

std::string KnownFlags() {
  std::string out;
  for (const FlagSpec& spec : kFlags) {
    if (!out.empty()) out += ", ";
    out += std::string("--") + spec.name;
  }
  return out + ", --help";
}

std::string DeviceTypeList() {
  std::string out;
  for (const std::string& type : DeviceTypes()) {
    if (!out.empty()) out += ", ";
    out += type;
  }
  return out;
}

// A decimal integer without sign, spaces or trailing characters that fits in an int.
bool ParseNonNegativeInt(const std::string& text, int* value) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  int parsed = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) return false;
  *value = parsed;
  return true;
}

// Three finite decimal numbers separated by commas ("0.485,0.456,0.406"), nothing else.
bool ParseThreeFloats(const std::string& text, std::vector<float>* values) {
  std::vector<float> parsed;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) return false;
    char* end = nullptr;
    const float number = std::strtof(item.c_str(), &end);
    const bool leading_space = std::isspace(static_cast<unsigned char>(item[0])) != 0;
    if (end != item.c_str() + item.size() || !std::isfinite(number) || leading_space) return false;
    parsed.push_back(number);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (parsed.size() != 3) return false;
  *values = parsed;
  return true;
}

bool ApplyFlag(const FlagSpec& spec, const std::string& value, Options* opts, std::string* error) {
  const std::string flag = std::string("--") + spec.name;
  const std::string name = spec.name;
  switch (spec.kind) {
    case ValueKind::kPath:
      if (value.empty()) {
        *error = flag + " expects a non-empty path";
        return false;
      }
      if (name == "mindir_path") {
        opts->mindir_path = value;
      } else if (name == "dataset_path") {
        opts->dataset_path = value;
      } else {
        opts->output_dir = value;
      }
      return true;
    case ValueKind::kNonNegative:
    case ValueKind::kPositive: {
      int number = 0;
      const bool positive = spec.kind == ValueKind::kPositive;
      if (!ParseNonNegativeInt(value, &number) || (positive && number == 0)) {
        *error = flag + " expects a " + (positive ? "positive" : "non-negative") + " integer, got '" + value + "'";
        return false;
      }
      if (name == "device_id") {
        opts->device_id = number;
      } else if (name == "image_size") {
        opts->image_size = number;
      } else {
        opts->resize_size = number;
      }
      return true;
    }
    case ValueKind::kThreeFloats: {
      std::vector<float> values;
      if (!ParseThreeFloats(value, &values)) {
        *error = flag + " expects three numbers separated by commas (R,G,B of 0..1 values, e.g. 0.485,0.456,0.406), "
                        "got '" + value + "'";
        return false;
      }
      if (name == "std") {
        if (*std::min_element(values.begin(), values.end()) <= 0.0f) {
          *error = flag + " expects positive numbers, got '" + value + "'";
          return false;
        }
        opts->std = values;
      } else {
        opts->mean = values;
      }
      return true;
    }
    case ValueKind::kInputFormat:
      if (value != "image" && value != "tensor") {
        *error = flag + " expects image or tensor, got '" + value + "'";
        return false;
      }
      opts->input_format = value;
      return true;
    case ValueKind::kDeviceType: {
      const std::vector<std::string>& types = DeviceTypes();
      if (std::find(types.begin(), types.end(), value) == types.end()) {
        *error = flag + " expects one of " + DeviceTypeList() + ", got '" + value + "'";
        return false;
      }
      opts->device_type = value;
      return true;
    }
  }
  *error = "internal error: unhandled flag " + flag;
  return false;
}

bool ParseArgsImpl(int argc, char** argv, Options* out, std::string* error) {
  Options opts;
  bool have_mindir = false;
  bool have_dataset = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i] != nullptr ? argv[i] : "";
    if (arg.size() < 3 || !StartsWith(arg, "--")) {
      *error = "unexpected argument '" + arg + "'; expected flags of the form --name=VALUE or --name VALUE";
      return false;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const FlagSpec* spec = FindFlag(name);
    if (spec == nullptr) {
      *error = "unknown flag '--" + name + "'; expected one of " + KnownFlags();
      return false;
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else {
      if (i + 1 >= argc || argv[i + 1] == nullptr || StartsWith(argv[i + 1], "--")) {
        *error = "--" + name + " expects a value (--" + name + "=VALUE or --" + name + " VALUE)";
        return false;
      }
      value = argv[++i];
    }
    if (!ApplyFlag(*spec, value, &opts, error)) return false;
    if (name == "mindir_path") have_mindir = true;
    if (name == "dataset_path") have_dataset = true;
  }
  if (!have_mindir) {
    *error = "missing --mindir_path: expected --mindir_path=PATH of the MindIR file to run";
    return false;
  }
  if (!have_dataset) {
    *error = "missing --dataset_path: expected --dataset_path=PATH of the image folder";
    return false;
  }
  *out = std::move(opts);
  return true;
}

}  // namespace

const std::vector<std::string>& DeviceTypes() {
  static const std::vector<std::string> types = {"Ascend310", "Ascend910", "GPU", "CPU"};
  return types;
}

const std::vector<std::string>& ImageExtensions() {
  static const std::vector<std::string> exts = {".jpg", ".jpeg", ".png", ".bmp"};  // any case: HasExtension
  return exts;
}

std::string Usage(const char* prog) {
  const std::string name = prog != nullptr && *prog != '\0' ? prog : "main";
  return "Usage: " + name +
         " --mindir_path=PATH --dataset_path=PATH [--device_id=N] [--device_type=" + [] {
           std::string types;
           for (const std::string& type : DeviceTypes()) types += (types.empty() ? "" : "|") + type;
           return types;
         }() +
         "] [--output_dir=DIR] [--image_size=N] [--resize_size=N] [--mean=R,G,B] [--std=R,G,B]\n"
         "       [--input_format=image|tensor]\n"
         "\n"
         "Runs a MindIR classifier on every image under --dataset_path (recursively, sorted by relative path;\n"
         "Decode, Resize(short side), CenterCrop, Normalize(mean, std), HWC2CHW), writes each image's raw\n"
         "float32 logits to DIR/result_Files/<key>_0.bin (<key>: the path relative to --dataset_path without its\n"
         "extension, '/' replaced by '__') and the mean Predict latency to\n"
         "DIR/time_Result/test_perform_static.txt. With --input_format=tensor the inputs are .bin files of\n"
         "preprocessed float32 CHW tensors (CIFAR-10: python -m src.tools.cifar_to_tensors writes them).\n"
         "\n"
         "  --mindir_path=PATH   the exported MindIR model (required)\n"
         "  --dataset_path=PATH  the image folder (required)\n"
         "  --device_id=N        device number (default 0)\n"
         "  --device_type=T      Ascend310 (default), Ascend910, GPU or CPU\n"
         "  --output_dir=DIR     where result_Files/ and time_Result/ are written (default .)\n"
         "  --image_size=N       centre crop size (default 224)\n"
         "  --resize_size=N      short side after resizing (default 256)\n"
         "  --mean=R,G,B         normalisation mean of 0..1 values (default ImageNet's 0.485,0.456,0.406)\n"
         "  --std=R,G,B          normalisation std of 0..1 values (default ImageNet's 0.229,0.224,0.225)\n"
         "  --input_format=F     image (default: encoded images) or tensor (.bin float32 CHW files)\n"
         "  --help               print this text\n"
         "Flags also accept the form --name VALUE.\n";
}

bool HelpRequested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == nullptr) continue;
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

bool ParseArgs(int argc, char** argv, Options* out, std::string* error) {
  return Guarded(error, false, [&] { return ParseArgsImpl(argc, argv, out, error); });
}

std::vector<std::string> ListImages(const std::string& root, std::string* error) {
  return ListFiles(root, ImageExtensions(), error);
}

const std::vector<std::string>& TensorExtensions() {
  static const std::vector<std::string> exts = {".bin"};
  return exts;
}

std::vector<std::string> ListFiles(const std::string& root, const std::vector<std::string>& extensions,
                                   std::string* error) {
  return Guarded(error, std::vector<std::string>(), [&]() -> std::vector<std::string> {
    struct stat st {};
    if (root.empty() || ::stat(root.c_str(), &st) != 0) {
      *error = "image folder '" + root + "' does not exist";
      return {};
    }
    if (!S_ISDIR(st.st_mode)) {
      *error = "image folder '" + root + "' is not a directory";
      return {};
    }
    std::vector<std::string> rels;
    if (!Walk(root, "", extensions, &rels, error)) return {};
    if (rels.empty()) {
      std::string listed;
      for (const std::string& ext : extensions) listed += " " + ext;
      *error = "no " + std::string(extensions == ImageExtensions() ? "images" : "input files") + " found under '" +
               root + "' (extensions" + listed + ")";
      return {};
    }
    // Sort by the list of path components, as Python sorts lists of str (code point order == UTF-8 byte order).
    std::vector<std::pair<std::vector<std::string>, std::string>> keyed;
    keyed.reserve(rels.size());
    for (std::string& rel : rels) keyed.emplace_back(SplitSlash(rel), std::move(rel));
    std::sort(keyed.begin(), keyed.end());
    std::vector<std::string> images;
    images.reserve(keyed.size());
    for (const auto& item : keyed) images.push_back(JoinPath(root, item.second));
    return images;
  });
}

std::string ResultKey(const std::string& root, const std::string& path) {
  std::string stem = StripExtension(RelPath(path, root));
  std::string key;
  key.reserve(stem.size() + 8);
  for (char c : stem) {
    if (c == '/') {
      key += kKeySeparator;
    } else {
      key += c;
    }
  }
  return key;
}

bool CheckUniqueKeys(const std::string& root, const std::vector<std::string>& images, std::string* error) {
  return Guarded(error, false, [&] {
    std::map<std::string, std::string> seen;
    for (const std::string& path : images) {
      const std::string key = ResultKey(root, path);
      const auto inserted = seen.emplace(key, path);
      if (!inserted.second) {
        *error = "images '" + inserted.first->second + "' and '" + path + "' would both be written as '" + key +
                 kResultSuffix + "'; rename one of them";
        return false;
      }
    }
    return true;
  });
}

bool EnsureDirectory(const std::string& path, std::string* error) {
  return Guarded(error, false, [&] {
    if (path.empty()) {
      *error = "cannot create a folder with an empty name";
      return false;
    }
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    std::error_code check_ec;
    if (std::filesystem::is_directory(path, check_ec)) return true;
    *error = "cannot create folder '" + path + "': " +
             (ec ? ec.message() : std::string("it exists and is not a folder"));
    return false;
  });
}

bool WriteBinary(const std::string& path, const void* data, size_t bytes, std::string* error) {
  return Guarded(error, false, [&] {
    if (path.empty()) {
      *error = "cannot write a file with an empty name";
      return false;
    }
    if (data == nullptr && bytes != 0) {
      *error = "cannot write '" + path + "': no data";
      return false;
    }
    const std::string tmp = path + ".tmp." + std::to_string(static_cast<long long>(::getpid()));
    TempFileRemover remover(tmp);  // declared first: runs after the file is closed
    std::unique_ptr<std::FILE, FileCloser> file(std::fopen(tmp.c_str(), "wb"));
    if (!file) {
      *error = "cannot open '" + tmp + "' for writing: " + ErrnoText(errno);
      return false;
    }
    if (bytes != 0 && std::fwrite(data, 1, bytes, file.get()) != bytes) {
      *error = "cannot write " + std::to_string(bytes) + " bytes to '" + tmp + "': " + ErrnoText(errno);
      return false;
    }
    if (std::fflush(file.get()) != 0) {
      *error = "cannot write '" + tmp + "': " + ErrnoText(errno);
      return false;
    }
    if (std::fclose(file.release()) != 0) {
      *error = "cannot close '" + tmp + "': " + ErrnoText(errno);
      return false;
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      *error = "cannot rename '" + tmp + "' to '" + path + "': " + ErrnoText(errno);
      return false;
    }
    remover.Disarm();
    return true;
  });
}

std::string ResultDir(const std::string& output_dir) { return JoinPath(output_dir, kResultDir); }

std::string ResultPath(const std::string& output_dir, const std::string& key) {
  return JoinPath(ResultDir(output_dir), key + kResultSuffix);
}

std::string LatencyPath(const std::string& output_dir) {
  return JoinPath(JoinPath(output_dir, kTimeDir), kTimeFile);
}

std::string LatencyLine(const LatencyRecorder& latency) {
  char buf[160];
  const int n = std::snprintf(buf, sizeof(buf), "NN inference cost average time: %.3f ms of infer_count %zu\n",
                              latency.MeanMs(), latency.count());
  if (n < 0) return std::string();
  if (static_cast<size_t>(n) < sizeof(buf)) return std::string(buf, static_cast<size_t>(n));
  std::vector<char> big(static_cast<size_t>(n) + 1);
  std::snprintf(big.data(), big.size(), "NN inference cost average time: %.3f ms of infer_count %zu\n",
                latency.MeanMs(), latency.count());
  return std::string(big.data(), static_cast<size_t>(n));
}

bool WriteLatency(const std::string& output_dir, const LatencyRecorder& latency, std::string* error) {
  return Guarded(error, false, [&] {
    if (latency.count() == 0) {
      *error = "no inference was timed; nothing to write to " + LatencyPath(output_dir);
      return false;
    }
    if (!EnsureDirectory(JoinPath(output_dir, kTimeDir), error)) return false;
    const std::string line = LatencyLine(latency);
    if (line.empty()) {
      *error = "cannot format the latency line";
      return false;
    }
    return WriteBinary(LatencyPath(output_dir), line.data(), line.size(), error);
  });
}

}  // namespace harness
