/* mem: the single allocation entry point of libsim and libharness.
 *
 * Every heap allocation in allocsim's libraries goes through these functions so that tests
 * can count allocations and make the N-th one fail (the SQLite/Lua habit from style.md).
 * On failure they return NULL like malloc; callers report "out of memory" as an error.
 */
#ifndef ALLOCSIM_MEM_H
#define ALLOCSIM_MEM_H

#include <stddef.h>

void *mem_alloc(size_t size);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t size);
void mem_free(void *p);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);

/* Test hook: the next `countdown` allocations succeed, every later one fails (-1: never
 * fail, the default). Returns the number of allocations made since the last call. */
long mem_fail_after(long countdown);

/* Memory budget: once set (bytes > 0), an allocation that would make the bytes held through
 * this module exceed the budget fails (returns NULL, like a host out of memory), so a run
 * that asks for too much stops with an "out of memory" error instead of being killed by the
 * kernel. Counts the allocator's usable sizes; call it before allocating anything that will
 * be freed later. 0 removes the budget (the default). */
void mem_set_limit(size_t bytes);

/* 1 if an allocation has failed because of the budget. */
int mem_limit_reached(void);

#endif
