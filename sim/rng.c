/* rng: xoshiro256** (Blackman and Vigna) seeded by splitmix64; see rng.h. */
#include "rng.h"

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void rng_init(rng *r, uint64_t seed, uint64_t stream) {
    /* Mixing the stream through one splitmix step keeps nearby stream numbers far apart. */
    uint64_t st = stream;
    uint64_t x = seed ^ rng_splitmix64(&st);
    for (int i = 0; i < 4; i++)
        r->s[i] = rng_splitmix64(&x);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        r->s[0] = 1; /* the one state xoshiro cannot leave */
}

void rng_set_state(rng *r, const uint64_t s[4]) {
    for (int i = 0; i < 4; i++)
        r->s[i] = s[i];
}

uint64_t rng_next(rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rng_below(rng *r, uint64_t n) {
    /* Rejection of the short last interval: 2^64 mod n values would otherwise be favoured. */
    uint64_t limit = -n % n; /* = 2^64 mod n */
    for (;;) {
        uint64_t x = rng_next(r);
        if (x >= limit)
            return x % n;
    }
}

uint64_t rng_between(rng *r, uint64_t lo, uint64_t hi) {
    if (lo == 0 && hi == UINT64_MAX)
        return rng_next(r);
    return lo + rng_below(r, hi - lo + 1);
}

uint64_t rng_stream_id(const char *name) {
    uint64_t h = 0xcbf29ce484222325u;
    for (; *name; name++) {
        h ^= (unsigned char)*name;
        h *= 0x100000001b3u;
    }
    return h;
}
