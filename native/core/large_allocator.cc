#include "large_allocator.h"

#include "block.h"
#include "registry.h"

namespace refheap {

Status LargeAllocator::allocate(size_t block_bytes, size_t data_size, Block** out) {
  const size_t page = OsPages::page_size();
  const size_t mapping_size = (sizeof(LargeBlock) + block_bytes + page - 1) & ~(page - 1);
  void* address;
  const Status status = pages_.map(mapping_size, page, &address);
  if (status != Status::kOk) return status;
  auto* large = static_cast<LargeBlock*>(address);
  uint32_t claims = 0;
  large->slot = Registry::claim(heap_id_, MappingKind::kLarge, large, &claims);
  if (large->slot == 0) {
    pages_.unmap(address, mapping_size);
    return Status::kOsMemory;
  }
  large->data_size = static_cast<uint32_t>(data_size);
  large->mapping_size = mapping_size;
  large->prev = nullptr;
  large->next = all_;
  if (all_ != nullptr) all_->prev = large;
  all_ = large;
  count_++;
  bytes_ += mapping_size;
  Block* block = large->block();
  // The slot's claim count: a stale ref to an earlier large block in this
  // slot stays invalid until the slot has been reused 65,536 times.
  block->tag = static_cast<uint16_t>(claims);
  block->flags = block_flags::kAllocated | block_flags::kLarge;
  *out = block;
  return Status::kOk;
}

void LargeAllocator::free(Block* block) {
  LargeBlock* large = large_of(block);
  if (large->prev != nullptr) large->prev->next = large->next;
  else all_ = large->next;
  if (large->next != nullptr) large->next->prev = large->prev;
  count_--;
  bytes_ -= large->mapping_size;
  Registry::release(large->slot);
  pages_.unmap(large, large->mapping_size);
}

Block* LargeAllocator::resolve(LargeBlock* large, uint32_t granule, uint16_t tag) const {
  Block* block = large->block();
  if (granule != 0 || !is_allocated(block) || block->tag != tag) return nullptr;
  return block;
}

void LargeAllocator::release_all() {
  while (all_ != nullptr) free(all_->block());
}

}  // namespace refheap
