#include "stats_page.h"

#include <fcntl.h>
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
#include <type_traits>

namespace refheap {
namespace {

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

constexpr uint64_t kFirstSequence = 2;  // a page is linked into place with one snapshot written

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
// process without closing its heaps. Each entry keeps the pid that made it:
// a child forked without exec inherits the list, and must not remove its
// parent's pages when it exits.
//
// The list is made with the first page, which registers remove_open_pages()
// with atexit(). In a shared library (the addon) that handler runs when the
// library is unloaded too (Node dlcloses it after the last worker that
// loaded it), so it frees the list, under the lock: otherwise each unloaded
// copy would leak it. A heap closed after the handler ran (a static
// destructor, or a worker still running while the process exits) finds no
// list and has nothing to forget; a page made after it makes the list again
// and registers the handler again, which exit() then runs too. The lock
// itself is trivially destructible, so it outlives every destructor.
struct OpenPage {
  pid_t pid;
  std::string path;
};
std::mutex open_pages_lock;
static_assert(std::is_trivially_destructible<std::mutex>::value, "the lock must outlive every static destructor");
std::vector<OpenPage>* open_pages = nullptr;

void remove_open_pages() {
  std::lock_guard<std::mutex> guard(open_pages_lock);
  if (open_pages == nullptr) return;
  for (const OpenPage& page : *open_pages) {
    if (page.pid == getpid()) unlink(page.path.c_str());
  }
  delete open_pages;
  open_pages = nullptr;
}

void remember_page(const std::string& path) {
  std::lock_guard<std::mutex> guard(open_pages_lock);
  if (open_pages == nullptr) {
    open_pages = new std::vector<OpenPage>();
    std::atexit(remove_open_pages);
  }
  open_pages->push_back({getpid(), path});
}

void forget_page(const std::string& path) {
  std::lock_guard<std::mutex> guard(open_pages_lock);
  if (open_pages == nullptr) return;  // remove_open_pages() ran: nothing left to forget
  for (auto it = open_pages->begin(); it != open_pages->end(); ++it) {
    if (it->path == path) {
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

// Whether all of it was written. A failed snapshot (a full file system,
// someone else's change to the file) only costs readers that snapshot.
bool write_at(int fd, size_t offset, const void* data, size_t bytes) {
  while (bytes > 0) {
    const ssize_t written = pwrite(fd, data, bytes, static_cast<off_t>(offset));
    if (written <= 0) {
      if (written < 0 && errno == EINTR) continue;
      return false;
    }
    data = static_cast<const char*>(data) + written;
    offset += static_cast<size_t>(written);
    bytes -= static_cast<size_t>(written);
  }
  return true;
}

struct Layout {
  size_t count, paths_offset, kinds_offset, values_offset, bytes;
};

Layout layout_for(size_t count) {
  Layout layout;
  layout.count = count;
  layout.paths_offset = sizeof(PageHeader);
  layout.kinds_offset = layout.paths_offset + count * kPathSlot;
  layout.values_offset = round_up(layout.kinds_offset + count, sizeof(double));
  layout.bytes = round_up(layout.values_offset + count * sizeof(double), 4096);
  return layout;
}

// Fills a fresh (zeroed) page: the header and the field list.
// process_start_ticks(), read once per process (a child forked without
// exec reads its own).
uint64_t this_process_start() {
  static std::mutex lock;
  static pid_t pid = 0;
  static uint64_t ticks = 0;
  std::lock_guard<std::mutex> guard(lock);
  if (pid != getpid()) {
    pid = getpid();
    ticks = process_start_ticks();
  }
  return ticks;
}

void lay_out(char* page, const Layout& layout, const std::string& name, uint64_t heap_id, const double* values) {
  const uint64_t process_start = this_process_start();
  auto* header = reinterpret_cast<PageHeader*>(page);
  std::memcpy(header->magic, kPageMagic, sizeof kPageMagic);
  header->version = kPageVersion;
  header->header_bytes = sizeof(PageHeader);
  header->page_bytes = layout.bytes;
  header->pid = static_cast<uint64_t>(getpid());
  header->thread_id = static_cast<uint64_t>(syscall(SYS_gettid));
  header->heap_id = heap_id;
  header->created_ms = wall_clock_ms();
  header->process_start = process_start;
  header->field_count = static_cast<uint32_t>(layout.count);
  header->path_slot_bytes = kPathSlot;
  header->paths_offset = static_cast<uint32_t>(layout.paths_offset);
  header->kinds_offset = static_cast<uint32_t>(layout.kinds_offset);
  header->values_offset = static_cast<uint32_t>(layout.values_offset);
  header->name_bytes = static_cast<uint32_t>(utf8_prefix(name, kPageNameBytes));
  std::memcpy(header->name, name.data(), header->name_bytes);
  const std::vector<StatsField>& fields = stats_fields();
  for (size_t i = 0; i < layout.count; i++) {
    std::memcpy(page + layout.paths_offset + i * kPathSlot, fields[i].path.data(), fields[i].path.size());
    page[layout.kinds_offset + i] = static_cast<char>(fields[i].kind);
  }
  // The first snapshot, complete: sequence 2, as if published once.
  header->sequence = kFirstSequence;
  header->published_ms = wall_clock_ms();
  std::memcpy(page + layout.values_offset, values, layout.count * sizeof(double));
}

// Whether the page at `path` was written by this very process: another copy
// of the addon loaded into it (two versions of the package) counts heap ids
// from 1 too.
bool written_by_this_process(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  PageHeader header;
  const bool read_whole = pread(fd, &header, sizeof header, 0) == static_cast<ssize_t>(sizeof header);
  close(fd);
  return read_whole && std::memcmp(header.magic, kPageMagic, sizeof kPageMagic) == 0 &&
         header.pid == static_cast<uint64_t>(getpid()) && header.process_start == this_process_start();
}

// Gives the filled `temporary` file its name. link(), unlike rename(), never
// replaces a file: one already there is a dead process's (this pid, reused)
// and goes, unless this process wrote it.
bool put_in_place(const std::string& temporary, const std::string& path, std::string* error) {
  for (int attempt = 0; attempt < 2; attempt++) {
    if (link(temporary.c_str(), path.c_str()) == 0) {
      unlink(temporary.c_str());
      return true;
    }
    if (errno != EEXIST) break;
    if (written_by_this_process(path)) {
      *error = "cannot publish the statistics page " + path +
               ": another copy of refheap loaded in this process already publishes a heap with this id";
      unlink(temporary.c_str());
      return false;
    }
    unlink(path.c_str());
  }
  // A file system without hard links: rename() it is.
  if (errno != EEXIST && rename(temporary.c_str(), path.c_str()) == 0) return true;
  *error = os_error("publish", path);
  unlink(temporary.c_str());
  return false;
}

}  // namespace

std::unique_ptr<StatsPage> StatsPage::create(const std::string& dir, const std::string& name, uint64_t heap_id,
                                             const double* initial_values, std::string* error) {
  const Layout layout = layout_for(stats_fields().size());
  const std::string base = std::to_string(getpid()) + "." + std::to_string(heap_id);
  const std::string path = dir + "/" + base;
  const std::string temporary = dir + "/." + base + ".new";
  unlink(temporary.c_str());  // left by a process that had this pid before
  const int fd = open(temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = os_error("create", temporary);
    return nullptr;
  }
  // fchmod: the umask may have taken bits off 0600. The whole page is
  // written before it gets its name, so a reader never sees it half made.
  std::vector<char> image(layout.bytes, 0);
  lay_out(image.data(), layout, name, heap_id, initial_values);
  errno = 0;
  if (fchmod(fd, 0600) != 0 || !write_at(fd, 0, image.data(), image.size())) {
    if (errno == 0) errno = ENOSPC;
    *error = os_error("make room for", temporary);
    close(fd);
    unlink(temporary.c_str());
    return nullptr;
  }
  if (!put_in_place(temporary, path, error)) {
    close(fd);
    return nullptr;
  }
  remember_page(path);
  return std::unique_ptr<StatsPage>(new StatsPage(path, fd, std::move(image), layout.values_offset, layout.count));
}

StatsPage::StatsPage(std::string path, int fd, std::vector<char> image, size_t values_offset, size_t field_count)
    : path_(std::move(path)),
      fd_(fd),
      image_(std::move(image)),
      values_offset_(values_offset),
      field_count_(field_count),
      pid_(static_cast<uint64_t>(getpid())) {}

StatsPage::~StatsPage() {
  forget_page(path_);
  // A child forked without exec that closes an inherited heap must leave
  // its parent's page alone.
  if (pid_ == static_cast<uint64_t>(getpid())) unlink(path_.c_str());
  close(fd_);
}

// A seqlock's writer, in system calls: each pwrite() is complete in the
// page cache before the next starts, so a reader that sees the same even
// sequence before and after reading has a whole snapshot.
void StatsPage::publish(const double* values) {
  PageHeader* page = header();
  page->sequence++;  // odd
  write_at(fd_, offsetof(PageHeader, sequence), &page->sequence, sizeof page->sequence);
  std::memcpy(image_.data() + values_offset_, values, field_count_ * sizeof(double));
  page->published_ms = wall_clock_ms();
  struct stat info;
  if (fstat(fd_, &info) != 0 || static_cast<size_t>(info.st_size) != image_.size()) {
    write_at(fd_, 0, image_.data(), image_.size());  // cut or grown by someone else: all of it again
  } else {
    write_at(fd_, values_offset_, image_.data() + values_offset_, field_count_ * sizeof(double));
    write_at(fd_, offsetof(PageHeader, published_ms), &page->published_ms, sizeof page->published_ms);
  }
  page->sequence++;  // even
  write_at(fd_, offsetof(PageHeader, sequence), &page->sequence, sizeof page->sequence);
}

}  // namespace refheap
