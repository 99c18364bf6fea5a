#include "stats_page.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>

namespace refheap {
namespace {

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

double wall_clock_ms() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

// Field 22 of /proc/self/stat: when this process started, in clock ticks
// after boot. With the pid it names the process for good: a reader seeing
// another value at that pid knows the page's process is gone.
uint64_t process_start_ticks() {
  std::ifstream file("/proc/self/stat");
  std::string line;
  if (!std::getline(file, line)) return 0;
  const size_t after_name = line.rfind(')');  // the command name may hold spaces
  if (after_name == std::string::npos) return 0;
  std::istringstream fields(line.substr(after_name + 1));
  std::string field;
  for (int number = 3; number <= 22 && fields >> field; number++) {
    if (number == 22) return std::strtoull(field.c_str(), nullptr, 10);
  }
  return 0;
}

std::string os_error(const char* what, const std::string& path) {
  return std::string("cannot ") + what + " the statistics page " + path + ": " +
         std::error_code(errno, std::generic_category()).message();
}

// The pages open in this process, for exit(): a process.exit() ends the
// process without closing its heaps. Leaked on purpose, so that it outlives
// every static destructor that might still close a heap.
std::mutex open_pages_lock;
std::vector<std::string>* open_pages = nullptr;

void remove_open_pages() {
  std::lock_guard<std::mutex> guard(open_pages_lock);
  for (const std::string& path : *open_pages) unlink(path.c_str());
  open_pages->clear();
}

void remember_page(const std::string& path) {
  std::lock_guard<std::mutex> guard(open_pages_lock);
  if (open_pages == nullptr) {
    open_pages = new std::vector<std::string>();
    std::atexit(remove_open_pages);
  }
  open_pages->push_back(path);
}

void forget_page(const std::string& path) {
  std::lock_guard<std::mutex> guard(open_pages_lock);
  for (auto it = open_pages->begin(); it != open_pages->end(); ++it) {
    if (*it == path) {
      open_pages->erase(it);
      return;
    }
  }
}

// `name` cut to at most `limit` bytes without splitting a UTF-8 character.
size_t utf8_prefix(const std::string& name, size_t limit) {
  if (name.size() <= limit) return name.size();
  size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xc0) == 0x80) cut--;
  return cut;
}

}  // namespace

std::unique_ptr<StatsPage> StatsPage::create(const std::string& dir, const std::string& name, uint64_t heap_id,
                                             const double* initial_values, std::string* error) {
  const std::vector<StatsField>& fields = stats_fields();
  const size_t count = fields.size();
  const size_t paths_offset = sizeof(PageHeader);
  const size_t kinds_offset = paths_offset + count * kPathSlot;
  const size_t values_offset = round_up(kinds_offset + count, sizeof(double));
  const size_t bytes = round_up(values_offset + count * sizeof(double), 4096);

  const std::string base = std::to_string(getpid()) + "." + std::to_string(heap_id);
  const std::string path = dir + "/" + base;
  const std::string temporary = dir + "/." + base + ".new";
  unlink(temporary.c_str());  // left by a process that had this pid before
  const int fd = open(temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = os_error("create", temporary);
    return nullptr;
  }
  // fchmod: the umask may have taken bits off 0600.
  void* mapping = MAP_FAILED;
  if (fchmod(fd, 0600) != 0 || ftruncate(fd, static_cast<off_t>(bytes)) != 0 ||
      (mapping = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
    *error = os_error("size", temporary);
    close(fd);
    unlink(temporary.c_str());
    return nullptr;
  }
  close(fd);

  // The file starts zeroed: only what is not zero is written.
  auto* header = static_cast<PageHeader*>(mapping);
  std::memcpy(header->magic, kPageMagic, sizeof kPageMagic);
  header->version = kPageVersion;
  header->header_bytes = sizeof(PageHeader);
  header->page_bytes = bytes;
  header->pid = static_cast<uint64_t>(getpid());
  header->thread_id = static_cast<uint64_t>(syscall(SYS_gettid));
  header->heap_id = heap_id;
  header->created_ms = wall_clock_ms();
  static const uint64_t process_start = process_start_ticks();  // read once per process
  header->process_start = process_start;
  header->field_count = static_cast<uint32_t>(count);
  header->path_slot_bytes = kPathSlot;
  header->paths_offset = static_cast<uint32_t>(paths_offset);
  header->kinds_offset = static_cast<uint32_t>(kinds_offset);
  header->values_offset = static_cast<uint32_t>(values_offset);
  header->name_bytes = static_cast<uint32_t>(utf8_prefix(name, kPageNameBytes));
  std::memcpy(header->name, name.data(), header->name_bytes);
  char* bytes_at = static_cast<char*>(mapping);
  for (size_t i = 0; i < count; i++) {
    std::memcpy(bytes_at + paths_offset + i * kPathSlot, fields[i].path.data(), fields[i].path.size());
    bytes_at[kinds_offset + i] = static_cast<char>(fields[i].kind);
  }

  std::unique_ptr<StatsPage> page(new StatsPage(path, mapping, bytes, values_offset, count));
  page->publish(initial_values);
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    *error = os_error("publish", path);
    munmap(mapping, bytes);
    unlink(temporary.c_str());
    page->header_ = nullptr;
    return nullptr;
  }
  remember_page(path);
  return page;
}

StatsPage::StatsPage(std::string path, void* mapping, size_t bytes, size_t values_offset, size_t field_count)
    : path_(std::move(path)),
      header_(static_cast<PageHeader*>(mapping)),
      bytes_(bytes),
      values_(reinterpret_cast<double*>(static_cast<char*>(mapping) + values_offset)),
      field_count_(field_count) {}

StatsPage::~StatsPage() {
  if (header_ == nullptr) return;  // never made it into place (create)
  forget_page(path_);
  unlink(path_.c_str());
  munmap(header_, bytes_);
}

void StatsPage::publish(const double* values) {
  // A seqlock's writer: odd, release fence, the data, even (release).
  const uint64_t sequence = __atomic_load_n(&header_->sequence, __ATOMIC_RELAXED);
  __atomic_store_n(&header_->sequence, sequence + 1, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  std::memcpy(values_, values, field_count_ * sizeof(double));
  header_->published_ms = wall_clock_ms();
  __atomic_store_n(&header_->sequence, sequence + 2, __ATOMIC_RELEASE);
}

}  // namespace refheap
