/**
 * Self-contained tests of ascend310_infer/src/utils.cc (no MindSpore, no test framework).
 *
 *   utils_test               run the tests; the last line is "N passed, M failed"; exit 1 when any failed
 *   utils_test --list ROOT   print the ResultKey of every ListImages(ROOT) image, one per line, in order
 *                            (tests/test_harness.py compares this with src/deploy.py)
 */
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "utils.h"

namespace {

int g_passed = 0;
int g_failed = 0;

void Record(bool ok, const char* file, int line, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    std::printf("FAILED %s:%d: %s\n", file, line, what.c_str());
  }
}

template <typename A, typename B>
std::string Describe(const char* a_text, const char* b_text, const A& a, const B& b) {
  std::ostringstream out;
  out << a_text << " == " << b_text << " (got '" << a << "' vs '" << b << "')";
  return out.str();
}

#define CHECK(cond) Record(static_cast<bool>(cond), __FILE__, __LINE__, #cond)
#define CHECK_EQ(a, b) Record((a) == (b), __FILE__, __LINE__, Describe(#a, #b, (a), (b)))
#define CHECK_CONTAINS(haystack, needle)                                                   \
  Record(std::string(haystack).find(needle) != std::string::npos, __FILE__, __LINE__,      \
         std::string(#haystack " contains '") + (needle) + "' (got '" + (haystack) + "')")

// argv for ParseArgs: "main" followed by `args`.
class Argv {
 public:
  explicit Argv(std::initializer_list<std::string> args) : storage_(args) {
    storage_.insert(storage_.begin(), "main");
    for (std::string& s : storage_) ptrs_.push_back(s.data());
    ptrs_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(storage_.size()); }
  char** argv() { return ptrs_.data(); }

 private:
  std::vector<std::string> storage_;
  std::vector<char*> ptrs_;
};

bool Parse(std::initializer_list<std::string> args, harness::Options* opts, std::string* error) {
  Argv argv(args);
  return harness::ParseArgs(argv.argc(), argv.argv(), opts, error);
}

// Expects ParseArgs(args) to fail with an error naming `flag` and containing `expected`, leaving opts untouched.
void ExpectParseError(std::initializer_list<std::string> args, const std::string& flag, const std::string& expected,
                      int line) {
  harness::Options opts;
  opts.device_id = 42;
  std::string error;
  const bool ok = Parse(args, &opts, &error);
  Record(!ok, __FILE__, line, "ParseArgs fails");
  Record(error.find(flag) != std::string::npos, __FILE__, line, "error names " + flag + " (got '" + error + "')");
  Record(error.find(expected) != std::string::npos, __FILE__, line,
         "error says '" + expected + "' (got '" + error + "')");
  Record(opts.device_id == 42, __FILE__, line, "options untouched on failure");
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

void TestParseArgs() {
  harness::Options opts;
  std::string error;
  CHECK(Parse({"--mindir_path=m.mindir", "--dataset_path=data"}, &opts, &error));
  CHECK_EQ(opts.mindir_path, std::string("m.mindir"));
  CHECK_EQ(opts.dataset_path, std::string("data"));
  CHECK_EQ(opts.output_dir, std::string("."));
  CHECK_EQ(opts.device_id, 0);
  CHECK_EQ(opts.device_type, std::string("Ascend310"));
  CHECK_EQ(opts.image_size, 224);
  CHECK_EQ(opts.resize_size, 256);
  CHECK_EQ(opts.input_format, std::string("image"));
  CHECK(opts.mean == std::vector<float>({0.485f, 0.456f, 0.406f}));
  CHECK(opts.std == std::vector<float>({0.229f, 0.224f, 0.225f}));

  harness::Options normalised;
  CHECK(Parse({"--mindir_path=m", "--dataset_path=d", "--mean=0.5,0.5,0.5", "--std", "0.25,0.5,1e-1",
               "--input_format=tensor"},
              &normalised, &error));
  CHECK(normalised.mean == std::vector<float>({0.5f, 0.5f, 0.5f}));
  CHECK(normalised.std == std::vector<float>({0.25f, 0.5f, 0.1f}));
  CHECK_EQ(normalised.input_format, std::string("tensor"));

  harness::Options spaced;
  CHECK(Parse({"--mindir_path", "/m/net.mindir", "--dataset_path", "/d/val", "--device_id", "3", "--device_type",
               "GPU", "--output_dir", "out dir", "--image_size", "192", "--resize_size", "220"},
              &spaced, &error));
  CHECK_EQ(spaced.mindir_path, std::string("/m/net.mindir"));
  CHECK_EQ(spaced.dataset_path, std::string("/d/val"));
  CHECK_EQ(spaced.device_id, 3);
  CHECK_EQ(spaced.device_type, std::string("GPU"));
  CHECK_EQ(spaced.output_dir, std::string("out dir"));
  CHECK_EQ(spaced.image_size, 192);
  CHECK_EQ(spaced.resize_size, 220);

  harness::Options mixed;
  CHECK(Parse({"--device_type=Ascend910", "--dataset_path", "d", "--mindir_path=a=b.mindir", "--device_id=0",
               "--device_type", "CPU", "--device_id", "7"},
              &mixed, &error));
  CHECK_EQ(mixed.mindir_path, std::string("a=b.mindir"));  // only the first '=' separates the value
  CHECK_EQ(mixed.device_type, std::string("CPU"));         // the last occurrence wins
  CHECK_EQ(mixed.device_id, 7);
  for (const std::string& type : harness::DeviceTypes()) {
    harness::Options typed;
    CHECK(Parse({"--mindir_path=m", "--dataset_path=d", "--device_type=" + type}, &typed, &error));
    CHECK_EQ(typed.device_type, type);
  }

  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--bogus=1"}, "--bogus", "expected one of", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--bogus", "1"}, "--bogus", "unknown flag", __LINE__);
  ExpectParseError({"--dataset_path=d"}, "--mindir_path", "expected --mindir_path=PATH", __LINE__);
  ExpectParseError({"--mindir_path=m"}, "--dataset_path", "expected --dataset_path=PATH", __LINE__);
  ExpectParseError({}, "--mindir_path", "missing", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--device_id=abc"}, "--device_id",
                   "non-negative integer", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--device_id=-1"}, "--device_id", "non-negative integer",
                   __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--device_id", "-1"}, "--device_id",
                   "non-negative integer", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--device_id=1.5"}, "--device_id", "integer", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--device_id=+1"}, "--device_id", "integer", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--device_id= 1"}, "--device_id", "integer", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--device_id="}, "--device_id", "integer", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--device_id=99999999999"}, "--device_id", "integer",
                   __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--image_size=0"}, "--image_size", "positive integer",
                   __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--image_size=-224"}, "--image_size", "positive integer",
                   __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--resize_size", "big"}, "--resize_size",
                   "positive integer", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--device_type=Ascend"}, "--device_type",
                   "Ascend310, Ascend910, GPU, CPU", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--device_type=gpu"}, "--device_type", "expects one of",
                   __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--device_id"}, "--device_id", "expects a value",
                   __LINE__);
  ExpectParseError({"--mindir_path", "--dataset_path=d"}, "--mindir_path", "expects a value", __LINE__);
  ExpectParseError({"--mindir_path=", "--dataset_path=d"}, "--mindir_path", "non-empty path", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--output_dir="}, "--output_dir", "non-empty path",
                   __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "extra"}, "extra", "unexpected argument", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--mean=0.5,0.5"}, "--mean", "three numbers", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--mean=0.5,x,0.5"}, "--mean", "three numbers",
                   __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--mean=0.5,0.5,0.5,0.5"}, "--mean", "three numbers",
                   __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--mean=0.5,,0.5"}, "--mean", "three numbers", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--mean=nan,0.5,0.5"}, "--mean", "three numbers",
                   __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--std=0.2,0,0.2"}, "--std", "positive numbers", __LINE__);
  ExpectParseError({"--mindir_path=m", "--dataset_path=d", "--input_format=jpeg"}, "--input_format",
                   "image or tensor", __LINE__);
  ExpectParseError({"--mindir_path=m", "-device_id=1", "--dataset_path=d"}, "-device_id", "--name=VALUE", __LINE__);

  Argv help({"--mindir_path=m", "--help"});
  CHECK(harness::HelpRequested(help.argc(), help.argv()));
  Argv short_help({"-h"});
  CHECK(harness::HelpRequested(short_help.argc(), short_help.argv()));
  Argv no_help({"--mindir_path=m", "--dataset_path=d"});
  CHECK(!harness::HelpRequested(no_help.argc(), no_help.argv()));

  const std::string usage = harness::Usage("ascend310_infer/out/main");
  CHECK_CONTAINS(usage, "Usage: ascend310_infer/out/main --mindir_path=PATH --dataset_path=PATH");
  CHECK_CONTAINS(usage, "[--device_type=Ascend310|Ascend910|GPU|CPU]");
  for (const char* flag : {"--device_id", "--output_dir", "--image_size", "--resize_size", "--mean", "--std",
                           "--input_format", "--help"}) {
    CHECK_CONTAINS(usage, flag);
  }
}

// The tree of TestListImages; the expected order was produced by src/deploy.py list_images + result_key.
void MakeTree(const std::string& root) {
  for (const char* dir : {"", "a", "a/deep", "a/.hidden_sub", "a-b", ".hidden_dir", "dir.jpg", "other"}) {
    std::error_code ec;
    std::filesystem::create_directories(root + "/" + dir, ec);
  }
  for (const char* file : {"b.jpg", "a.JPEG", "a_b.jpg", "z.jpg", "\xc3\xa9.jpg", "sp ace.png", "m.tar.jpg",
                           ".dot.jpg", "a/z.jpg", "a/y.png", "a/deep/x.bmp", "a/deep/W.BMP", "a-b/c.jpg",
                           "dir.jpg/in.PNG", "a/.hidden_sub/h.jpg", ".hidden_dir/h.jpg", "notes.txt", "c.Jpg",
                           "d.jpg.txt", "e.gif", "other/readme.md", "jpg"}) {
    WriteText(root + "/" + file, "x");
  }
  // A link to a folder is not descended into (os.walk(followlinks=False)); a link to a file is an image.
  if (::symlink("a", (root + "/link").c_str()) != 0) std::perror("symlink");
  if (::symlink("b.jpg", (root + "/l.jpg").c_str()) != 0) std::perror("symlink");
}

void TestListImages(const std::string& tmp) {
  const std::string root = tmp + "/tree";
  MakeTree(root);
  std::string error;
  const std::vector<std::string> images = harness::ListImages(root, &error);
  CHECK_EQ(error, std::string());
  const std::vector<std::string> expected_rel = {
      ".dot.jpg", "a/deep/W.BMP", "a/deep/x.bmp", "a/y.png", "a/z.jpg", "a-b/c.jpg", "a.JPEG", "a_b.jpg",
      "b.jpg",    "c.Jpg",       "dir.jpg/in.PNG", "l.jpg",      "m.tar.jpg", "sp ace.png", "z.jpg", "\xc3\xa9.jpg"};
  CHECK_EQ(images.size(), expected_rel.size());
  for (size_t i = 0; i < images.size() && i < expected_rel.size(); ++i) {
    CHECK_EQ(images[i], root + "/" + expected_rel[i]);
  }
  std::vector<std::string> keys;
  for (const std::string& path : images) keys.push_back(harness::ResultKey(root, path));
  const std::vector<std::string> expected_keys = {
      ".dot",  "a__deep__W", "a__deep__x", "a__y", "a__z", "a-b__c", "a", "a_b", "b", "c", "dir.jpg__in", "l",
      "m.tar", "sp ace",     "z",          "\xc3\xa9"};
  CHECK(keys == expected_keys);
  // Component order differs from plain string order here: "a-b/c.jpg" < "a/z.jpg" as strings ('-' < '/').
  CHECK(std::string("a-b/c.jpg") < std::string("a/z.jpg"));
  CHECK_EQ(expected_rel[4], std::string("a/z.jpg"));
  CHECK_EQ(expected_rel[5], std::string("a-b/c.jpg"));
  CHECK_EQ(expected_rel[7], std::string("a_b.jpg"));
  // The keys of this tree are unique.
  CHECK(harness::CheckUniqueKeys(root, images, &error));

  // A trailing slash on the root gives the same order and keys.
  const std::vector<std::string> slashed = harness::ListImages(root + "/", &error);
  CHECK_EQ(slashed.size(), images.size());
  if (!slashed.empty()) CHECK_EQ(slashed[0], root + "/.dot.jpg");
  std::vector<std::string> slashed_keys;
  for (const std::string& path : slashed) slashed_keys.push_back(harness::ResultKey(root + "/", path));
  CHECK(slashed_keys == expected_keys);

  // Errors: missing root, a file as root, a folder without images (hidden folders do not count).
  error.clear();
  CHECK(harness::ListImages(tmp + "/missing", &error).empty());
  CHECK_CONTAINS(error, "does not exist");
  CHECK_CONTAINS(error, tmp + "/missing");
  error.clear();
  CHECK(harness::ListImages(root + "/b.jpg", &error).empty());
  CHECK_CONTAINS(error, "not a directory");
  error.clear();
  CHECK(harness::ListImages("", &error).empty());
  CHECK(!error.empty());
  const std::string empty_root = tmp + "/no_images";
  std::error_code ec;
  std::filesystem::create_directories(empty_root + "/.cache", ec);
  WriteText(empty_root + "/readme.txt", "x");
  WriteText(empty_root + "/.cache/hidden.jpg", "x");
  error.clear();
  CHECK(harness::ListImages(empty_root, &error).empty());
  CHECK_CONTAINS(error, "no images found under '" + empty_root + "'");

  // Tensor inputs: only .bin files, in the same order and with the same keys.
  const std::string tensors = tmp + "/tensors";
  std::filesystem::create_directories(tensors + "/sub", ec);
  for (const char* name : {"00001.bin", "00000.bin", "sub/00002.bin", "labels.json", "x.jpg"}) {
    WriteText(tensors + "/" + name, "x");
  }
  const std::vector<std::string> inputs = harness::ListFiles(tensors, harness::TensorExtensions(), &error);
  CHECK(inputs == std::vector<std::string>({tensors + "/00000.bin", tensors + "/00001.bin",
                                            tensors + "/sub/00002.bin"}));
  if (inputs.size() == 3) CHECK_EQ(harness::ResultKey(tensors, inputs[2]), std::string("sub__00002"));
  error.clear();
  CHECK(harness::ListFiles(empty_root, harness::TensorExtensions(), &error).empty());
  CHECK_CONTAINS(error, "no input files found under '" + empty_root + "' (extensions .bin)");
}

void TestResultKey() {
  CHECK_EQ(harness::ResultKey("/data", "/data/ILSVRC2012_val_00000001.JPEG"), std::string("ILSVRC2012_val_00000001"));
  CHECK_EQ(harness::ResultKey("/data/", "/data/n01440764/x.JPEG"), std::string("n01440764__x"));
  CHECK_EQ(harness::ResultKey("data", "data/a/b/c.d.png"), std::string("a__b__c.d"));
  CHECK_EQ(harness::ResultKey("./data", "data//a/./x.jpg"), std::string("a__x"));
  CHECK_EQ(harness::ResultKey("/data", "/data/.jpg"), std::string(".jpg"));  // os.path.splitext keeps a lone dot
  CHECK_EQ(harness::ResultKey("/data", "/data/..x.jpg"), std::string("..x"));
  CHECK_EQ(harness::ResultKey("/data", "/data/a.b/c"), std::string("a.b__c"));
  CHECK_EQ(harness::ResultKey("/data", "/data/a__b/c.jpg"), std::string("a__b__c"));
  CHECK_EQ(harness::ResultKey("/data/val", "/data/train/x.jpg"), std::string("..__train__x"));
  std::error_code ec;
  const std::string cwd = std::filesystem::current_path(ec).string();
  CHECK_EQ(harness::ResultKey("rel", cwd + "/rel/x.jpg"), std::string("x"));
  CHECK_EQ(harness::ResultKey(cwd + "/rel", "rel/sub/x.jpg"), std::string("sub__x"));
}

void TestCheckUniqueKeys() {
  std::string error;
  CHECK(harness::CheckUniqueKeys("/r", {"/r/a/b.jpg", "/r/a__c.jpg", "/r/b.jpg"}, &error));
  CHECK(!harness::CheckUniqueKeys("/r", {"/r/a/b__c.jpg", "/r/x.jpg", "/r/a__b/c.jpg"}, &error));
  CHECK_CONTAINS(error, "'/r/a/b__c.jpg'");
  CHECK_CONTAINS(error, "'/r/a__b/c.jpg'");
  CHECK_CONTAINS(error, "a__b__c_0.bin");
  error.clear();
  CHECK(!harness::CheckUniqueKeys("/r", {"/r/x.jpg", "/r/x.png"}, &error));
  CHECK_CONTAINS(error, "x_0.bin");
  CHECK(harness::CheckUniqueKeys("/r", {}, &error));
}

void TestEnsureDirectory(const std::string& tmp) {
  std::string error;
  const std::string nested = tmp + "/mk/a/b/c";
  CHECK(harness::EnsureDirectory(nested, &error));
  CHECK(IsDir(nested));
  CHECK(harness::EnsureDirectory(nested, &error));  // exists already
  CHECK(harness::EnsureDirectory(tmp + "/mk/d/", &error));
  CHECK(IsDir(tmp + "/mk/d"));
  WriteText(tmp + "/mk/file", "x");
  error.clear();
  CHECK(!harness::EnsureDirectory(tmp + "/mk/file", &error));
  CHECK_CONTAINS(error, tmp + "/mk/file");
  error.clear();
  CHECK(!harness::EnsureDirectory(tmp + "/mk/file/sub", &error));
  CHECK_CONTAINS(error, "cannot create folder");
  error.clear();
  CHECK(!harness::EnsureDirectory("", &error));
  CHECK(!error.empty());
}

void TestWriteBinary(const std::string& tmp) {
  std::string error;
  const std::string dir = tmp + "/bin";
  CHECK(harness::EnsureDirectory(dir, &error));
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i) * 0.5f - 3.25f;
  const std::string path = dir + "/x_0.bin";
  CHECK(harness::WriteBinary(path, logits.data(), logits.size() * sizeof(float), &error));
  const std::string back = ReadAll(path);
  CHECK_EQ(back.size(), logits.size() * sizeof(float));
  CHECK(back.size() == logits.size() * sizeof(float) &&
        std::equal(back.begin(), back.end(), reinterpret_cast<const char*>(logits.data())));
  // Overwriting replaces the whole file.
  const char small[3] = {'a', 'b', 'c'};
  CHECK(harness::WriteBinary(path, small, sizeof(small), &error));
  CHECK_EQ(ReadAll(path), std::string("abc"));
  CHECK(harness::WriteBinary(dir + "/empty.bin", nullptr, 0, &error));
  CHECK(Exists(dir + "/empty.bin"));
  CHECK_EQ(ReadAll(dir + "/empty.bin"), std::string());

  // Failures: a missing folder, a folder in the way, no data; no temporary file is left behind.
  error.clear();
  CHECK(!harness::WriteBinary(dir + "/missing/y_0.bin", small, sizeof(small), &error));
  CHECK_CONTAINS(error, dir + "/missing/y_0.bin");
  CHECK(harness::EnsureDirectory(dir + "/taken", &error));
  error.clear();
  CHECK(!harness::WriteBinary(dir + "/taken", small, sizeof(small), &error));
  CHECK_CONTAINS(error, "cannot rename");
  CHECK(IsDir(dir + "/taken"));
  error.clear();
  CHECK(!harness::WriteBinary(dir + "/null.bin", nullptr, 4, &error));
  CHECK(!error.empty());
  CHECK(!Exists(dir + "/null.bin"));
  size_t leftovers = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) ++leftovers;
  }
  CHECK_EQ(leftovers, static_cast<size_t>(0));
  if (::geteuid() != 0) {  // root may write anywhere
    error.clear();
    CHECK(!harness::WriteBinary("/proc/harness_test_cannot_write.bin", small, sizeof(small), &error));
    CHECK(!error.empty());
  }
}

void TestPaths() {
  CHECK_EQ(harness::ResultPath("out", "a__b"), std::string("out/result_Files/a__b_0.bin"));
  CHECK_EQ(harness::ResultPath(".", "ILSVRC2012_val_00000001"),
           std::string("./result_Files/ILSVRC2012_val_00000001_0.bin"));
  CHECK_EQ(harness::ResultPath("/abs/out/", "k"), std::string("/abs/out/result_Files/k_0.bin"));
  CHECK_EQ(harness::ResultDir("out"), std::string("out/result_Files"));
  CHECK_EQ(harness::LatencyPath("out"), std::string("out/time_Result/test_perform_static.txt"));
}

void TestLatency(const std::string& tmp) {
  harness::LatencyRecorder empty;
  CHECK_EQ(empty.count(), static_cast<size_t>(0));
  CHECK_EQ(empty.MeanMs(), 0.0);
  std::string error;
  CHECK(!harness::WriteLatency(tmp + "/lat_empty", empty, &error));
  CHECK_CONTAINS(error, "no inference");

  harness::LatencyRecorder latency;
  latency.Add(1.0);
  latency.Add(2.0);
  latency.Add(3.5);
  CHECK_EQ(latency.count(), static_cast<size_t>(3));
  CHECK(std::fabs(latency.MeanMs() - 6.5 / 3.0) < 1e-12);
  CHECK_EQ(harness::LatencyLine(latency), std::string("NN inference cost average time: 2.167 ms of infer_count 3\n"));
  const std::string out = tmp + "/lat/out";
  error.clear();
  CHECK(harness::WriteLatency(out, latency, &error));
  CHECK_EQ(error, std::string());
  CHECK_EQ(ReadAll(out + "/time_Result/test_perform_static.txt"),
           std::string("NN inference cost average time: 2.167 ms of infer_count 3\n"));

  harness::LatencyRecorder big;
  for (int i = 0; i < 50000; ++i) big.Add(12.3456);
  CHECK_EQ(harness::LatencyLine(big), std::string("NN inference cost average time: 12.346 ms of infer_count 50000\n"));

  WriteText(tmp + "/lat_file", "x");
  error.clear();
  CHECK(!harness::WriteLatency(tmp + "/lat_file", latency, &error));
  CHECK_CONTAINS(error, tmp + "/lat_file");
}

int ListMode(const std::string& root) {
  std::string error;
  const std::vector<std::string> images = harness::ListImages(root, &error);
  if (images.empty()) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return 1;
  }
  for (const std::string& path : images) std::printf("%s\n", harness::ResultKey(root, path).c_str());
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--list") return ListMode(argv[2]);
  if (argc != 1) {
    std::fprintf(stderr, "Usage: %s [--list ROOT]\n", argv[0]);
    return 2;
  }
  char pattern[] = "/tmp/harness_utils_test_XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string tmp = pattern;
  TestParseArgs();
  TestListImages(tmp);
  TestResultKey();
  TestCheckUniqueKeys();
  TestEnsureDirectory(tmp);
  TestWriteBinary(tmp);
  TestPaths();
  TestLatency(tmp);
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  if (ec) std::printf("warning: could not remove %s: %s\n", tmp.c_str(), ec.message().c_str());
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
