/* alloc: the allocator model, TT-Metal's FreeListOpt with policy FIRST (tt-memory-model.md §4).
 *
 * One region = one free list covering [offset, offset + size). Requests are rounded up to
 * max(size, min_alloc) and then to align. Bottom-up takes the lowest-addressed free block that
 * fits and uses its low end; top-down takes the highest-addressed free block that fits and
 * uses its high end. Freed blocks coalesce immediately with free neighbours. Every operation
 * is O(log n) in the number of blocks (an address-ordered balanced tree whose nodes carry the
 * largest free block of their subtree, plus a hash from start address to block).
 * The lock-step mesh needs one region per (mesh, region type): addresses are bank-relative.
 */
#ifndef ALLOCSIM_ALLOC_H
#define ALLOCSIM_ALLOC_H

#include <stdint.h>

typedef struct alloc_region alloc_region;

/* Returns a new, empty region, or NULL when out of memory.
 * Preconditions: align >= 1 and a power of two; min_alloc >= 1. */
alloc_region *alloc_region_new(uint64_t offset, uint64_t size, uint64_t min_alloc, uint64_t align);
void alloc_region_free(alloc_region *r);

/* Allocates size_bytes (rounded as above). Returns 0 and sets *addr (absolute: includes the
 * region offset), -1 if no free block fits, -2 when out of memory (host). */
int alloc_allocate(alloc_region *r, uint64_t size_bytes, int bottom_up, uint64_t *addr);

/* Carves exactly [addr, addr + round(size)) if it lies inside one free block. 0, -1 if it does
 * not, -2 when out of memory (host). */
int alloc_allocate_at(alloc_region *r, uint64_t addr, uint64_t size_bytes);

/* Frees the allocated block starting at addr. 0, or -1 if no block starts there (ignored,
 * like FreeListOpt). */
int alloc_deallocate(alloc_region *r, uint64_t addr);

/* Size of the allocated block at addr (after rounding), or 0 if none. */
uint64_t alloc_block_size(const alloc_region *r, uint64_t addr);

/* Frees everything. */
void alloc_reset(alloc_region *r);

uint64_t alloc_allocated_bytes(const alloc_region *r);
uint64_t alloc_free_bytes(const alloc_region *r);
uint64_t alloc_largest_free(const alloc_region *r);
uint64_t alloc_num_allocated(const alloc_region *r);
/* Lowest allocated address, or UINT64_MAX when nothing is allocated. */
uint64_t alloc_lowest_occupied(const alloc_region *r);
uint64_t alloc_offset(const alloc_region *r);
uint64_t alloc_size(const alloc_region *r);

/* Calls fn for every block in address order (the memory-view block table). Stops early when
 * fn returns non-zero. */
void alloc_foreach_block(const alloc_region *r,
                         int (*fn)(void *ctx, uint64_t addr, uint64_t size, int allocated),
                         void *ctx);

#endif
