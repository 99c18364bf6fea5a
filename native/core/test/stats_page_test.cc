// The flat field list and the live statistics page: what a reader in
// another process finds in the file, and when the file goes away.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "check.h"
#include "helpers.h"
#include "stats_fields.h"
#include "stats_page.h"

namespace refheap::testing {
namespace {

// A fresh 0700 directory, removed with everything in it at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char name[] = "/tmp/refheap-page-test-XXXXXX";
    path = mkdtemp(name);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

size_t field_index(const std::string& path) {
  const std::vector<StatsField>& fields = stats_fields();
  for (size_t i = 0; i < fields.size(); i++) {
    if (fields[i].path == path) return i;
  }
  return SIZE_MAX;
}

std::vector<char> read_file(const std::string& path) {
  std::vector<char> bytes;
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return bytes;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) bytes.insert(bytes.end(), buffer, buffer + n);
  close(fd);
  return bytes;
}

double value_in(const std::vector<char>& page, const std::string& path) {
  PageHeader header;
  std::memcpy(&header, page.data(), sizeof header);
  double value;
  std::memcpy(&value, page.data() + header.values_offset + field_index(path) * sizeof(double), sizeof value);
  return value;
}

std::string page_path(const TempDir& dir, const Heap& heap) {
  return dir.path + "/" + std::to_string(getpid()) + "." + std::to_string(heap.id());
}

}  // namespace

TEST(stats_fields_are_unique_short_paths_of_heap_stats) {
  const std::vector<StatsField>& fields = stats_fields();
  std::set<std::string> seen;
  for (const StatsField& field : fields) {
    CHECK(field.path.size() <= kMaxFieldPath);
    CHECK(seen.insert(field.path).second);
  }
  for (const char* path : {"mappedBytes", "liveBlocks", "arenas.current", "largeBlocks.bytes", "sizeClasses.length",
                           "sizeClasses.31.blocksFree", "gc.counts.2", "gc.generations.2.uncollectable",
                           "gc.pauses.totalMs", "gc.garbage"}) {
    CHECK(seen.count(path) == 1);
  }
  CHECK(fields[field_index("gc.enabled")].kind == FieldKind::kBoolean);
  CHECK(fields[field_index("liveBlocks")].kind == FieldKind::kNumber);
}

TEST(stats_values_follow_the_heap) {
  Heap heap;
  Block* a = must_alloc(heap, 24);
  must_alloc(heap, 24, 2);
  heap.gc().collect(1);
  std::vector<double> values(stats_fields().size());
  heap.take_snapshot(values.data());
  const HeapStats s = heap.stats();
  CHECK_EQ(values[field_index("liveBlocks")], 2.0);
  CHECK_EQ(values[field_index("trackedBlocks")], 1.0);
  CHECK_EQ(values[field_index("allocatedBytes")], static_cast<double>(s.allocated_bytes));
  CHECK_EQ(values[field_index("sizeClasses.length")], static_cast<double>(s.size_classes.size()));
  CHECK_EQ(values[field_index("sizeClasses.0.blockSize")], static_cast<double>(s.size_classes[0].block_size));
  CHECK_EQ(values[field_index("gc.generations.1.collections")], 1.0);
  CHECK_EQ(values[field_index("gc.thresholds.0")], 700.0);
  CHECK_EQ(values[field_index("gc.enabled")], 1.0);
  heap.release(a);
}

TEST(page_is_created_private_and_filled) {
  TempDir dir;
  Heap heap;
  Block* block = must_alloc(heap, 100);
  std::string error;
  CHECK(heap.publish_to(dir.path, "orders", &error));
  CHECK(error.empty());
  const std::string path = page_path(dir, heap);
  struct stat info;
  CHECK(lstat(path.c_str(), &info) == 0);
  CHECK_EQ(info.st_mode & 0777, 0600u);
  CHECK(access((dir.path + "/." + std::to_string(getpid()) + "." + std::to_string(heap.id()) + ".new").c_str(), F_OK) != 0);

  const std::vector<char> page = read_file(path);
  PageHeader header;
  std::memcpy(&header, page.data(), sizeof header);
  CHECK(std::memcmp(header.magic, kPageMagic, 8) == 0);
  CHECK_EQ(header.version, kPageVersion);
  CHECK_EQ(header.page_bytes, static_cast<uint64_t>(info.st_size));
  CHECK_EQ(header.page_bytes, static_cast<uint64_t>(page.size()));
  CHECK_EQ(header.pid, static_cast<uint64_t>(getpid()));
  CHECK_EQ(header.heap_id, heap.id());
  CHECK(header.sequence % 2 == 0 && header.sequence > 0);
  CHECK(header.process_start > 0);
  CHECK(std::string(header.name, header.name_bytes) == "orders");
  CHECK_EQ(header.field_count, static_cast<uint32_t>(stats_fields().size()));
  CHECK(std::string(page.data() + header.paths_offset + field_index("liveBlocks") * kPathSlot) == "liveBlocks");
  CHECK_EQ(value_in(page, "liveBlocks"), 1.0);

  heap.release(block);
  heap.publish_now();
  CHECK_EQ(value_in(read_file(path), "liveBlocks"), 0.0);
  heap.close();
  CHECK(access(path.c_str(), F_OK) != 0);
}

TEST(page_keeps_up_with_calls_from_javascript) {
  TempDir dir;
  Heap heap;
  std::string error;
  CHECK(heap.publish_to(dir.path, "busy", &error));
  const std::string path = page_path(dir, heap);
  // The page is refreshed from Operation's end, at most every 10 ms: keep
  // allocating, as a JavaScript loop would, until it shows.
  std::vector<Block*> blocks;
  for (int round = 0; round < 200000 && value_in(read_file(path), "liveBlocks") < 1000; round++) {
    for (int i = 0; i < 1000; i++) {
      Heap::Operation operation(heap);
      blocks.push_back(must_alloc(heap, 16));
    }
  }
  CHECK(value_in(read_file(path), "liveBlocks") >= 1000);
  for (Block* block : blocks) heap.release(block);
}

TEST(page_name_is_cut_on_a_character_boundary) {
  TempDir dir;
  Heap heap;
  std::string name(kPageNameBytes - 1, 'x');
  name += "\xc3\xa9tail";  // "é" straddles the limit
  std::string error;
  CHECK(heap.publish_to(dir.path, name, &error));
  const std::vector<char> page = read_file(page_path(dir, heap));
  PageHeader header;
  std::memcpy(&header, page.data(), sizeof header);
  CHECK_EQ(header.name_bytes, static_cast<uint32_t>(kPageNameBytes - 1));
}

TEST(page_replaces_a_stale_file_and_reports_a_missing_directory) {
  TempDir dir;
  Heap heap;
  const std::string path = page_path(dir, heap);
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0600);  // as a killed process with this pid left it
  CHECK(write(fd, "stale", 5) == 5);
  close(fd);
  std::string error;
  CHECK(heap.publish_to(dir.path, "h", &error));
  CHECK(read_file(path).size() > sizeof(PageHeader));

  Heap other;
  CHECK(!other.publish_to(dir.path + "/missing", "h", &error));
  CHECK(error.find("cannot create the statistics page") != std::string::npos);
  CHECK(error.find("No such file or directory") != std::string::npos);
  CHECK(!other.published());
  must_alloc(other, 8);  // still usable
}

}  // namespace refheap::testing

namespace refheap::testing {

// Two copies of the addon in one process count heap ids from 1 each: the
// second page with a taken name must not replace the live first one.
TEST(page_never_replaces_a_live_page_of_this_process) {
  TempDir dir;
  Heap heap;
  std::string error;
  CHECK(heap.publish_to(dir.path, "first", &error));
  std::vector<double> values(stats_fields().size(), 0.0);
  CHECK(StatsPage::create(dir.path, "second", heap.id(), values.data(), &error) == nullptr);
  CHECK(error.find("another copy of refheap") != std::string::npos);
  const std::vector<char> page = read_file(page_path(dir, heap));
  PageHeader header;
  std::memcpy(&header, page.data(), sizeof header);
  CHECK(std::string(header.name, header.name_bytes) == "first");
  CHECK(access((dir.path + "/." + std::to_string(getpid()) + "." + std::to_string(heap.id()) + ".new").c_str(), F_OK) != 0);
}

}  // namespace refheap::testing

namespace refheap::testing {

// A call that does the work of many (alloc_many) counts as many toward the
// page's clock: a few big batches, 15 ms apart, keep the page current.
TEST(page_keeps_up_with_batches) {
  TempDir dir;
  Heap heap;
  std::string error;
  CHECK(heap.publish_to(dir.path, "batches", &error));
  std::vector<double> refs(5 * 1000);
  for (int round = 0; round < 5; round++) {
    usleep(15000);
    Heap::Operation operation(heap);
    CHECK(heap.alloc_many(1000, 16, 0, 0, refs.data() + round * 1000) == Status::kOk);
  }
  CHECK(value_in(read_file(page_path(dir, heap)), "liveBlocks") >= 4000);
  for (double ref : refs) heap.release(heap.resolve(ref));
}

}  // namespace refheap::testing

namespace refheap::testing {

// Any process of the user can write to the page. The writer keeps its own
// state and never maps the file: a truncated page costs no SIGBUS (the
// next snapshot writes it whole again), a sequence set odd is even again
// after the next snapshot, and a changed pid does not keep close() from
// removing the file.
TEST(page_writer_survives_what_others_write_into_its_file) {
  TempDir dir;
  Heap heap;
  std::string error;
  CHECK(heap.publish_to(dir.path, "distrust", &error));
  const std::string path = page_path(dir, heap);
  Block* block = must_alloc(heap, 16);

  CHECK(truncate(path.c_str(), 0) == 0);
  heap.publish_now();  // wrote through a mapping before: SIGBUS
  CHECK_EQ(value_in(read_file(path), "liveBlocks"), 1.0);

  const int fd = open(path.c_str(), O_RDWR);
  CHECK(fd >= 0);
  const uint64_t odd = 12345;
  CHECK(pwrite(fd, &odd, sizeof odd, offsetof(PageHeader, sequence)) == sizeof odd);
  heap.publish_now();
  PageHeader header;
  std::vector<char> page = read_file(path);
  std::memcpy(&header, page.data(), sizeof header);
  CHECK(header.sequence % 2 == 0);  // readers can read it again

  const uint64_t other_pid = 1;
  CHECK(pwrite(fd, &other_pid, sizeof other_pid, offsetof(PageHeader, pid)) == sizeof other_pid);
  close(fd);
  heap.release(block);
  heap.close();
  CHECK(access(path.c_str(), F_OK) != 0);  // removed all the same
}

}  // namespace refheap::testing

namespace refheap::testing {

// A refresh waits the interval, or ten times its own cost when that is
// longer: a heap whose statistics take long to gather is not refreshed
// back to back.
TEST(page_refreshes_are_spaced_by_their_cost) {
  CHECK_EQ(page_refresh_gap_ns(0), kPagePublishIntervalNs);
  CHECK_EQ(page_refresh_gap_ns(kPagePublishIntervalNs / kPageCostShare), kPagePublishIntervalNs);
  CHECK_EQ(page_refresh_gap_ns(15'000'000), 15'000'000 * kPageCostShare);
  CHECK(page_refresh_gap_ns(kPagePublishIntervalNs) > kPagePublishIntervalNs);
}

}  // namespace refheap::testing
