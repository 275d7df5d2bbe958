/* alloc: the allocator model, TT-Metal's FreeListOpt with policy FIRST (see alloc.h and
 * tt-memory-model.md §4.2).
 *
 * The region is a sequence of blocks (free or allocated) that tiles [0, size) in region-relative
 * addresses; no two free blocks are ever adjacent. Blocks live in a node pool (indices, not
 * pointers, so the pool can grow with one realloc) and are linked three ways:
 *   - a doubly linked list in address order, for neighbour coalescing and the block table;
 *   - a treap keyed by address whose priority is a hash of the address (deterministic, no PRNG
 *     state), each node carrying the largest free block of its subtree, so "lowest / highest
 *     free block of at least a bytes" is one root-to-leaf descent;
 *   - an open-addressing hash (linear probing, backward-shift deletion) from the start address
 *     of every allocated block to its node, for deallocate.
 * All tree walks are iterative (parent links), so depth never touches the C stack. A block's
 * address never changes after it is created: splitting keeps the original node for one piece
 * and inserts the others, merging deletes the absorbed node. Every operation that needs new
 * nodes reserves them first, so a host out-of-memory leaves the region unchanged.
 */
#include "alloc.h"

#include <string.h>

#include "mem.h"

#define NIL 0u

typedef struct {
    uint64_t addr;     /* region-relative start */
    uint64_t size;
    uint64_t max_free; /* largest free block in this treap subtree */
    uint32_t left, right, parent;
    uint32_t prev, next; /* address-order neighbours */
    uint32_t prio;
    uint8_t allocated;
} alloc_node;

struct alloc_region {
    uint64_t offset, size, min_alloc, align;
    alloc_node *nodes; /* nodes[0] is the NIL sentinel: max_free 0, never linked */
    uint32_t node_cap, node_used, free_list, free_count;
    uint32_t root, head;
    uint32_t *slots; /* hash of allocated blocks: node index, NIL = empty */
    uint64_t slot_mask, slot_count;
    uint64_t allocated_bytes, num_allocated;
};

static uint64_t alloc_mix64(uint64_t x) {
    /* splitmix64 finaliser: spreads structured addresses (multiples of 1 KiB...) evenly. */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t alloc_max3(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* ---- node pool ---------------------------------------------------------------------------- */

/* Makes sure `count` nodes can be taken without allocating. 0, or -2 when out of memory. */
static int alloc_reserve_nodes(alloc_region *r, uint32_t count) {
    if (r->free_count + (r->node_cap - r->node_used) >= count)
        return 0;
    if (r->node_cap > UINT32_MAX / 2)
        return -2;
    uint32_t cap = r->node_cap * 2;
    alloc_node *n = mem_realloc(r->nodes, (size_t)cap * sizeof *n);
    if (!n)
        return -2;
    r->nodes = n;
    r->node_cap = cap;
    return 0;
}

/* Precondition: a node was reserved. */
static uint32_t alloc_take_node(alloc_region *r, uint64_t addr, uint64_t size, int allocated) {
    uint32_t i;
    if (r->free_list != NIL) {
        i = r->free_list;
        r->free_list = r->nodes[i].next;
        r->free_count--;
    } else {
        i = r->node_used++;
    }
    alloc_node *n = &r->nodes[i];
    memset(n, 0, sizeof *n);
    n->addr = addr;
    n->size = size;
    n->allocated = (uint8_t)(allocated != 0);
    n->max_free = allocated ? 0 : size;
    n->prio = (uint32_t)(alloc_mix64(addr ^ 0x5bd1e995u) >> 32);
    return i;
}

static void alloc_drop_node(alloc_region *r, uint32_t i) {
    r->nodes[i].next = r->free_list;
    r->free_list = i;
    r->free_count++;
}

/* ---- hash: start address of an allocated block -> node ----------------------------------- */

static uint64_t alloc_slot_of(const alloc_region *r, uint64_t addr) {
    return alloc_mix64(addr) & r->slot_mask;
}

/* Makes room for one more entry (load factor at most 1/2). 0, or -2 when out of memory. */
static int alloc_reserve_slot(alloc_region *r) {
    if ((r->slot_count + 1) * 2 <= r->slot_mask + 1)
        return 0;
    uint64_t cap = (r->slot_mask + 1) * 2;
    if (cap > SIZE_MAX / sizeof(uint32_t))
        return -2;
    uint32_t *slots = mem_calloc((size_t)cap, sizeof *slots);
    if (!slots)
        return -2;
    uint32_t *old = r->slots;
    uint64_t old_cap = r->slot_mask + 1;
    r->slots = slots;
    r->slot_mask = cap - 1;
    for (uint64_t s = 0; s < old_cap; s++) {
        if (old[s] == NIL)
            continue;
        uint64_t j = alloc_slot_of(r, r->nodes[old[s]].addr);
        while (slots[j] != NIL)
            j = (j + 1) & r->slot_mask;
        slots[j] = old[s];
    }
    mem_free(old);
    return 0;
}

/* Precondition: a slot was reserved and addr is not present. */
static void alloc_hash_insert(alloc_region *r, uint32_t node) {
    uint64_t j = alloc_slot_of(r, r->nodes[node].addr);
    while (r->slots[j] != NIL)
        j = (j + 1) & r->slot_mask;
    r->slots[j] = node;
    r->slot_count++;
}

/* Slot holding the block that starts at addr, or UINT64_MAX. */
static uint64_t alloc_hash_find(const alloc_region *r, uint64_t addr) {
    uint64_t j = alloc_slot_of(r, addr);
    while (r->slots[j] != NIL) {
        if (r->nodes[r->slots[j]].addr == addr)
            return j;
        j = (j + 1) & r->slot_mask;
    }
    return UINT64_MAX;
}

static void alloc_hash_remove_slot(alloc_region *r, uint64_t hole) {
    /* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
    uint64_t j = hole;
    r->slots[hole] = NIL;
    for (;;) {
        j = (j + 1) & r->slot_mask;
        if (r->slots[j] == NIL)
            break;
        uint64_t home = alloc_slot_of(r, r->nodes[r->slots[j]].addr);
        /* The entry at j may move to the hole only if its home is not in (hole, j]. */
        int movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            r->slots[hole] = r->slots[j];
            r->slots[j] = NIL;
            hole = j;
        }
    }
    r->slot_count--;
}

/* ---- treap ---------------------------------------------------------------------------------- */

static void alloc_pull(alloc_region *r, uint32_t i) {
    alloc_node *n = &r->nodes[i];
    n->max_free = alloc_max3(n->allocated ? 0 : n->size, r->nodes[n->left].max_free,
                             r->nodes[n->right].max_free);
}

/* Recomputes maxima from i towards the root after a single change at or below i. Once a
 * node's maximum comes out unchanged, no ancestor can change either. */
static void alloc_pull_up(alloc_region *r, uint32_t i) {
    while (i != NIL) {
        uint64_t before = r->nodes[i].max_free;
        alloc_pull(r, i);
        if (r->nodes[i].max_free == before)
            return;
        i = r->nodes[i].parent;
    }
}

static void alloc_replace_child(alloc_region *r, uint32_t parent, uint32_t old, uint32_t new_child) {
    if (parent == NIL)
        r->root = new_child;
    else if (r->nodes[parent].left == old)
        r->nodes[parent].left = new_child;
    else
        r->nodes[parent].right = new_child;
    if (new_child != NIL)
        r->nodes[new_child].parent = parent;
}

/* Rotates x above its parent; recomputes both. */
static void alloc_rotate_up(alloc_region *r, uint32_t x) {
    alloc_node *nodes = r->nodes;
    uint32_t p = nodes[x].parent;
    uint32_t g = nodes[p].parent;
    if (nodes[p].left == x) {
        uint32_t b = nodes[x].right;
        nodes[p].left = b;
        if (b != NIL)
            nodes[b].parent = p;
        nodes[x].right = p;
    } else {
        uint32_t b = nodes[x].left;
        nodes[p].right = b;
        if (b != NIL)
            nodes[b].parent = p;
        nodes[x].left = p;
    }
    nodes[p].parent = x;
    alloc_replace_child(r, g, p, x);
    alloc_pull(r, p);
    alloc_pull(r, x);
}

/* Inserts x as the in-order successor of `at` (x's address follows at's, nothing between):
 * starting from `at` instead of the root saves a full descent. */
static void alloc_treap_insert_after(alloc_region *r, uint32_t at, uint32_t x) {
    alloc_node *nodes = r->nodes;
    uint32_t cur = at;
    if (nodes[cur].right == NIL) {
        nodes[cur].right = x;
    } else {
        cur = nodes[cur].right;
        while (nodes[cur].left != NIL)
            cur = nodes[cur].left;
        nodes[cur].left = x;
    }
    nodes[x].parent = cur;
    alloc_pull_up(r, cur); /* x's own maximum was set when it was taken */
    /* Rotations keep each ancestor's subtree set, so the path maxima stay valid. */
    while (nodes[x].parent != NIL && nodes[x].prio > nodes[nodes[x].parent].prio)
        alloc_rotate_up(r, x);
}

static void alloc_treap_delete(alloc_region *r, uint32_t x) {
    alloc_node *nodes = r->nodes;
    while (nodes[x].left != NIL || nodes[x].right != NIL) {
        uint32_t l = nodes[x].left, rt = nodes[x].right;
        uint32_t c = l == NIL ? rt : rt == NIL ? l : nodes[l].prio > nodes[rt].prio ? l : rt;
        alloc_rotate_up(r, c);
    }
    uint32_t p = nodes[x].parent;
    alloc_replace_child(r, p, x, NIL);
    alloc_pull_up(r, p);
}

/* Lowest-addressed (bottom_up) or highest-addressed free block of at least `need` bytes. */
static uint32_t alloc_find_fit(const alloc_region *r, uint64_t need, int bottom_up) {
    const alloc_node *nodes = r->nodes;
    uint32_t i = r->root;
    if (nodes[i].max_free < need)
        return NIL;
    for (;;) {
        const alloc_node *n = &nodes[i];
        uint32_t first = bottom_up ? n->left : n->right;
        uint32_t second = bottom_up ? n->right : n->left;
        if (nodes[first].max_free >= need)
            i = first;
        else if (!n->allocated && n->size >= need)
            return i;
        else
            i = second; /* the subtree maximum guarantees a fit there */
    }
}

/* Block whose range contains rel, or NIL. */
static uint32_t alloc_find_containing(const alloc_region *r, uint64_t rel) {
    uint32_t i = r->root, best = NIL;
    while (i != NIL) {
        if (r->nodes[i].addr <= rel) {
            best = i;
            i = r->nodes[i].right;
        } else {
            i = r->nodes[i].left;
        }
    }
    if (best != NIL && rel - r->nodes[best].addr >= r->nodes[best].size)
        return NIL;
    return best;
}

/* ---- list ----------------------------------------------------------------------------------- */

static void alloc_list_insert_after(alloc_region *r, uint32_t at, uint32_t x) {
    alloc_node *nodes = r->nodes;
    uint32_t nx = nodes[at].next;
    nodes[x].prev = at;
    nodes[x].next = nx;
    nodes[at].next = x;
    if (nx != NIL)
        nodes[nx].prev = x;
}

static void alloc_list_unlink(alloc_region *r, uint32_t x) {
    alloc_node *nodes = r->nodes;
    uint32_t pv = nodes[x].prev, nx = nodes[x].next;
    if (pv != NIL)
        nodes[pv].next = nx;
    else
        r->head = nx;
    if (nx != NIL)
        nodes[nx].prev = pv;
}

/* Inserts a new block of [addr, addr + size) right after `at` in address order.
 * Precondition: a node was reserved (and a slot, if allocated). Returns the node. */
static uint32_t alloc_add_block(alloc_region *r, uint32_t at, uint64_t addr, uint64_t size,
                                int allocated) {
    uint32_t x = alloc_take_node(r, addr, size, allocated);
    alloc_list_insert_after(r, at, x);
    alloc_treap_insert_after(r, at, x);
    if (allocated)
        alloc_hash_insert(r, x);
    return x;
}

static void alloc_mark_allocated(alloc_region *r, uint32_t i) {
    r->nodes[i].allocated = 1;
    alloc_pull_up(r, i);
    alloc_hash_insert(r, i);
}

/* ---- public API ----------------------------------------------------------------------------- */

/* Rounds a request like FreeListOpt: max(size, min_alloc) up to align. 0 when it cannot fit
 * the region (including arithmetic overflow). */
static uint64_t alloc_round(const alloc_region *r, uint64_t size_bytes) {
    uint64_t a = size_bytes > r->min_alloc ? size_bytes : r->min_alloc;
    if (a > r->size || a > UINT64_MAX - (r->align - 1))
        return 0;
    a = (a + r->align - 1) & ~(r->align - 1);
    return a > r->size ? 0 : a;
}

static void alloc_init_empty(alloc_region *r) {
    r->node_used = 1;
    r->free_list = NIL;
    r->free_count = 0;
    r->root = NIL;
    r->head = NIL;
    memset(r->slots, 0, (size_t)(r->slot_mask + 1) * sizeof *r->slots);
    r->slot_count = 0;
    r->allocated_bytes = 0;
    r->num_allocated = 0;
    if (r->size > 0) {
        /* node_cap >= 2 always, so this cannot need memory. */
        uint32_t whole = alloc_take_node(r, 0, r->size, 0);
        r->root = whole;
        r->head = whole;
    }
}

alloc_region *alloc_region_new(uint64_t offset, uint64_t size, uint64_t min_alloc, uint64_t align) {
    if (align == 0 || (align & (align - 1)) != 0 || min_alloc == 0)
        return NULL;
    alloc_region *r = mem_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->offset = offset;
    r->size = size;
    r->min_alloc = min_alloc;
    r->align = align;
    r->node_cap = 64;
    r->nodes = mem_calloc(r->node_cap, sizeof *r->nodes);
    r->slot_mask = 63;
    r->slots = mem_calloc(r->slot_mask + 1, sizeof *r->slots);
    if (!r->nodes || !r->slots) {
        alloc_region_free(r);
        return NULL;
    }
    alloc_init_empty(r);
    return r;
}

void alloc_region_free(alloc_region *r) {
    if (!r)
        return;
    mem_free(r->nodes);
    mem_free(r->slots);
    mem_free(r);
}

int alloc_allocate(alloc_region *r, uint64_t size_bytes, int bottom_up, uint64_t *addr) {
    uint64_t need = alloc_round(r, size_bytes);
    if (need == 0 || r->root == NIL || r->nodes[r->root].max_free < need)
        return -1;
    if (alloc_reserve_nodes(r, 1) != 0 || alloc_reserve_slot(r) != 0)
        return -2;
    uint32_t b = alloc_find_fit(r, need, bottom_up);
    alloc_node *blk = &r->nodes[b];
    uint64_t rel;
    if (blk->size == need) {
        rel = blk->addr;
        alloc_mark_allocated(r, b);
    } else if (bottom_up) {
        rel = blk->addr;
        uint64_t rest = blk->size - need;
        blk->size = need;
        alloc_mark_allocated(r, b);
        alloc_add_block(r, b, rel + need, rest, 0);
    } else {
        blk->size -= need;
        rel = blk->addr + blk->size;
        alloc_pull_up(r, b);
        alloc_add_block(r, b, rel, need, 1);
    }
    r->allocated_bytes += need;
    r->num_allocated++;
    *addr = r->offset + rel;
    return 0;
}

int alloc_allocate_at(alloc_region *r, uint64_t addr, uint64_t size_bytes) {
    uint64_t need = alloc_round(r, size_bytes);
    if (need == 0 || addr < r->offset || addr - r->offset >= r->size)
        return -1;
    uint64_t rel = addr - r->offset;
    uint32_t b = alloc_find_containing(r, rel);
    if (b == NIL || r->nodes[b].allocated)
        return -1;
    uint64_t end = r->nodes[b].addr + r->nodes[b].size;
    if (need > end - rel)
        return -1;
    if (alloc_reserve_nodes(r, 2) != 0 || alloc_reserve_slot(r) != 0)
        return -2;
    alloc_node *blk = &r->nodes[b];
    uint64_t right = end - rel - need;
    uint32_t carved;
    if (rel == blk->addr) {
        blk->size = need;
        alloc_mark_allocated(r, b);
        carved = b;
    } else {
        blk->size = rel - blk->addr;
        alloc_pull_up(r, b);
        carved = alloc_add_block(r, b, rel, need, 1);
    }
    if (right > 0)
        alloc_add_block(r, carved, rel + need, right, 0);
    r->allocated_bytes += need;
    r->num_allocated++;
    return 0;
}

int alloc_deallocate(alloc_region *r, uint64_t addr) {
    if (addr < r->offset)
        return -1;
    uint64_t slot = alloc_hash_find(r, addr - r->offset);
    if (slot == UINT64_MAX)
        return -1;
    uint32_t n = r->slots[slot];
    alloc_hash_remove_slot(r, slot);
    alloc_node *nodes = r->nodes;
    r->allocated_bytes -= nodes[n].size;
    r->num_allocated--;
    /* n stays marked allocated (contributing nothing to any maximum) while its neighbours
     * are merged, so each tree update below is a single change and alloc_pull_up is exact. */
    uint32_t nx = nodes[n].next;
    if (nx != NIL && !nodes[nx].allocated) {
        uint64_t extra = nodes[nx].size;
        alloc_list_unlink(r, nx);
        alloc_treap_delete(r, nx);
        alloc_drop_node(r, nx);
        nodes[n].size += extra;
    }
    uint32_t pv = nodes[n].prev;
    if (pv != NIL && !nodes[pv].allocated) {
        uint64_t merged = nodes[n].size;
        alloc_list_unlink(r, n);
        alloc_treap_delete(r, n);
        alloc_drop_node(r, n);
        nodes[pv].size += merged;
        alloc_pull_up(r, pv);
    } else {
        nodes[n].allocated = 0;
        alloc_pull_up(r, n);
    }
    return 0;
}

uint64_t alloc_block_size(const alloc_region *r, uint64_t addr) {
    if (addr < r->offset)
        return 0;
    uint64_t slot = alloc_hash_find(r, addr - r->offset);
    return slot == UINT64_MAX ? 0 : r->nodes[r->slots[slot]].size;
}

void alloc_reset(alloc_region *r) { alloc_init_empty(r); }

uint64_t alloc_allocated_bytes(const alloc_region *r) { return r->allocated_bytes; }

uint64_t alloc_free_bytes(const alloc_region *r) { return r->size - r->allocated_bytes; }

uint64_t alloc_largest_free(const alloc_region *r) { return r->nodes[r->root].max_free; }

uint64_t alloc_num_allocated(const alloc_region *r) { return r->num_allocated; }

uint64_t alloc_lowest_occupied(const alloc_region *r) {
    /* Free blocks never touch, so the first or second block is the lowest allocated one. */
    uint32_t i = r->head;
    if (i != NIL && !r->nodes[i].allocated)
        i = r->nodes[i].next;
    return i == NIL ? UINT64_MAX : r->offset + r->nodes[i].addr;
}

uint64_t alloc_offset(const alloc_region *r) { return r->offset; }

uint64_t alloc_size(const alloc_region *r) { return r->size; }

void alloc_foreach_block(const alloc_region *r,
                         int (*fn)(void *ctx, uint64_t addr, uint64_t size, int allocated),
                         void *ctx) {
    for (uint32_t i = r->head; i != NIL; i = r->nodes[i].next) {
        const alloc_node *n = &r->nodes[i];
        if (fn(ctx, r->offset + n->addr, n->size, n->allocated))
            return;
    }
}
