/* rng: the simulator's pseudo-random numbers, xoshiro256** seeded through splitmix64.
 *
 * One uint64 seed drives a whole run. Each subsystem (and each simulated process) draws from
 * its own stream, derived from the seed and a stream number, so that adding draws in one
 * place never shifts the numbers another place sees. Pure arithmetic: the same seed and
 * stream give the same sequence on every machine.
 */
#ifndef ALLOCSIM_RNG_H
#define ALLOCSIM_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} rng;

/* Advances a splitmix64 state and returns its next output (used for seeding). */
uint64_t rng_splitmix64(uint64_t *state);

/* Seeds r with the stream `stream` of `seed`. Any values are valid. */
void rng_init(rng *r, uint64_t seed, uint64_t stream);

/* Sets the raw xoshiro256** state (known-answer tests). Precondition: not all zero. */
void rng_set_state(rng *r, const uint64_t s[4]);

/* Next 64 random bits (xoshiro256**). */
uint64_t rng_next(rng *r);

/* Uniform in [0, n) without modulo bias. Precondition: n > 0. */
uint64_t rng_below(rng *r, uint64_t n);

/* Uniform in [lo, hi], both included. Precondition: lo <= hi. */
uint64_t rng_between(rng *r, uint64_t lo, uint64_t hi);

/* A stream number for a name (FNV-1a), so streams can be named in code ("sizes", "pids"). */
uint64_t rng_stream_id(const char *name);

#endif
