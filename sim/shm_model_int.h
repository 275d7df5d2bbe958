/* shm_model_int: the primitives every SHM model operation is written with, shared inside
 * sim/ by shm_model.c (provider and reader operations) and shm_model_cb.c
 * (update_from_allocator). Not a public header: only these two files include it.
 *
 * An operation runs inside a `run`: every primitive performs one access through the ops
 * table, counts it and calls ops->step; a non-zero step longjmps back to the operation's
 * entry (shmm_run_op), which marks the provider crashed. Loads and stores downgrade to
 * SHMM_PLAIN where the field is not atomic in the layout being addressed.
 */
#ifndef ALLOCSIM_SHM_MODEL_INT_H
#define ALLOCSIM_SHM_MODEL_INT_H

#include <setjmp.h>
#include <stdint.h>

#include "shm_layout.h"
#include "shm_model.h"

typedef struct {
    const shmm_ops *ops;
    const shmm_env *env;
    shmm_result *res;
    shml_version v; /* the layout used to address fields */
    jmp_buf stop;
} run;

static inline void step(run *r) {
    r->res->steps++;
    if (r->ops->step && r->ops->step(r->ops->ctx))
        longjmp(r->stop, 1);
}

static inline shml_field field(run *r, shml_field_id f, int slot, int ctr) {
    shml_field fd = {0, 0, 0};
    shml_field_locate(r->v, f, slot, ctr, &fd);
    return fd;
}

/* Loads and stores downgrade to SHMM_PLAIN where the field is not atomic in r->v. */
static inline uint64_t ld(run *r, shml_field_id f, int slot, int ctr, int order) {
    shml_field fd = field(r, f, slot, ctr);
    uint64_t v = r->ops->load(r->ops->ctx, fd.offset, fd.width, fd.atomic ? order : SHMM_PLAIN);
    step(r);
    return v;
}

static inline void st(run *r, shml_field_id f, int slot, int ctr, uint64_t value, int order) {
    shml_field fd = field(r, f, slot, ctr);
    r->ops->store(r->ops->ctx, fd.offset, fd.width, value, fd.atomic ? order : SHMM_PLAIN);
    step(r);
}

static inline uint64_t fadd(run *r, shml_field_id f, int slot, int ctr, uint64_t value, int order) {
    shml_field fd = field(r, f, slot, ctr);
    uint64_t old = r->ops->fetch_add(r->ops->ctx, fd.offset, fd.width, value, order);
    step(r);
    return old;
}

static inline uint64_t fsub(run *r, shml_field_id f, int slot, int ctr, uint64_t value, int order) {
    shml_field fd = field(r, f, slot, ctr);
    uint64_t old = r->ops->fetch_sub(r->ops->ctx, fd.offset, fd.width, value, order);
    step(r);
    return old;
}

static inline uint64_t xchg(run *r, shml_field_id f, int slot, int ctr, uint64_t value, int order) {
    shml_field fd = field(r, f, slot, ctr);
    uint64_t old = r->ops->exchange(r->ops->ctx, fd.offset, fd.width, value, order);
    step(r);
    return old;
}

static inline int cas(run *r, shml_field_id f, int slot, int ctr, uint64_t *expected, uint64_t desired, int so, int fo) {
    shml_field fd = field(r, f, slot, ctr);
    int ok = r->ops->cas(r->ops->ctx, fd.offset, fd.width, expected, desired, so, fo);
    step(r);
    return ok;
}

static inline void store_bytes(run *r, size_t off, const uint8_t *bytes, size_t len) {
    r->ops->store_bytes(r->ops->ctx, off, bytes, len);
    step(r);
}

static inline void zero_name(run *r, int slot) {
    static const uint8_t zeros[SHML_NAME_BYTES];
    store_bytes(r, shml_off(r->v, SHML_F_PROC_NAME, slot, 0), zeros, SHML_NAME_BYTES);
}

static inline int32_t as_pid(uint64_t v) {
    uint32_t u = (uint32_t)v;
    return u <= INT32_MAX ? (int32_t)u : (int32_t)(u - 2147483648u) - INT32_MAX - 1;
}

static inline uint64_t pid_bits(int32_t pid) { return (uint32_t)pid; }

static inline shmm_pid_state pid_state(run *r, int32_t pid) {
    if (pid <= 0)
        return SHMM_PID_DEAD;
    return r->env->pid_state ? r->env->pid_state(r->env->pid_ctx, pid) : SHMM_PID_ALIVE;
}

static inline int counters(run *r) { return shml_version_get(r->v)->counter_count; }

/* Saturating subtract: load, then compare-exchange until it sticks (§4.3). */
static inline void sat_sub(run *r, shml_field_id f, int slot, int ctr, uint64_t amount) {
    uint64_t cur = ld(r, f, slot, ctr, SHMM_RELAXED);
    for (;;) {
        uint64_t next = cur < amount ? 0 : cur - amount;
        if (cas(r, f, slot, ctr, &cur, next, SHMM_RELAXED, SHMM_RELAXED))
            return;
    }
}

/* Saturating decrement by one of a count (v4b/v4c release). */
static inline void sat_dec(run *r, shml_field_id f, int order) {
    uint64_t cur = ld(r, f, 0, 0, SHMM_RELAXED);
    while (cur > 0)
        if (cas(r, f, 0, 0, &cur, cur - 1, order, SHMM_RELAXED))
            return;
}

typedef void (*op_fn)(run *r, shmm_provider *p, void *arg);

/* Runs fn as one operation of p (NULL for a reader) addressing layout v: fills res (or a
 * local result), returns 1 if it completed, 0 if ops->step stopped it (p marked crashed). */
int shmm_run_op(shmm_provider *p, shml_version v, const shmm_ops *ops, const shmm_env *env, shmm_result *res,
                op_fn fn, void *arg);

/* find_or_create_chip_entry(chip_id) (§4.1): the chip slot, or -1 if the table is full. */
int shmm_chip_find_or_create(run *r, uint32_t chip_id);

/* The first process slot holding p's pid (loads at `order`), or -1. */
int shmm_find_own_slot(run *r, shmm_provider *p, int order);

/* v4 claim_own_pid_entry(getpid()) (§4.4): the own slot, claimed if needed, or -1. */
int shmm_claim_own(run *r, shmm_provider *p);

#endif
