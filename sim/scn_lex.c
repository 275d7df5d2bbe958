/* scn_lex: the scenario parser's lexer — errors located as `path:line:col: expected X, found
 * Y`, tokens cut from one line on demand (words, numbers with an optional unit suffix, the
 * punctuation = , : { } ..), numbers with size and time units, and the per-process name
 * tables (open addressing, so 10^5 names parse in linear time). Internal to the parser
 * (scn_parser.h); the public number helpers scn_parse_size/scn_parse_time live here too.
 */
#include "scn.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "scn_parser.h"

/* ---- errors --------------------------------------------------------------------------- */

static void describe(const token *t, char *buf, size_t n) {
    if (t->kind == TK_EOL) {
        snprintf(buf, n, "end of line");
        return;
    }
    unsigned char c = (unsigned char)t->p[0];
    if (t->kind == TK_BAD && (c < 0x20 || c == 0x7f)) {
        snprintf(buf, n, "byte 0x%02x", c);
        return;
    }
    size_t len = t->len > 40 ? 40 : t->len;
    snprintf(buf, n, "'%.*s%s'", (int)len, t->p, t->len > 40 ? "..." : "");
}

int scnp_fail_at(parser *ps, int line, int col, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->errlen)
        snprintf(ps->err, ps->errlen, "%s:%d:%d: %s", ps->path, line, col, msg);
    return -1;
}

/* "expected WHAT, found <the current token>". */
int scnp_expected(parser *ps, const char *what) {
    char found[64];
    describe(&ps->tok, found, sizeof found);
    return scnp_fail_at(ps, ps->line, ps->tok.col, "expected %s, found %s", what, found);
}

int scnp_oom(parser *ps) { return scnp_fail_at(ps, ps->line, 1, "out of memory"); }

/* ---- lexer ---------------------------------------------------------------------------- */

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_hex(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int hex_val(int c) { return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }

static size_t utf8_len(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

static void lex_number(parser *ps, token *t) {
    const char *l = ps->lp;
    size_t i = ps->cur;
    t->kind = TK_NUM;
    if (l[i] == '0' && i + 2 <= ps->llen && i + 1 < ps->llen && (l[i + 1] == 'x' || l[i + 1] == 'X') &&
        i + 2 < ps->llen && is_hex((unsigned char)l[i + 2])) {
        t->hex = 1;
        i += 2;
        while (i < ps->llen && (is_hex((unsigned char)l[i]) || l[i] == '_')) {
            if (l[i] != '_') {
                if (t->mant >> 60)
                    t->overflow = 1;
                t->mant = (t->mant << 4) | (uint64_t)hex_val((unsigned char)l[i]);
            }
            i++;
        }
        t->unit = l + i;
    } else {
        int in_frac = 0;
        while (i < ps->llen) {
            char c = l[i];
            if (c == '.' && !in_frac && i + 1 < ps->llen && is_digit((unsigned char)l[i + 1])) {
                in_frac = 1;
                i++;
                continue;
            }
            if (c == '_' && i + 1 < ps->llen && is_digit((unsigned char)l[i + 1])) {
                i++;
                continue;
            }
            if (!is_digit((unsigned char)c))
                break;
            uint64_t d = (uint64_t)(c - '0');
            if (t->mant > (UINT64_MAX - d) / 10)
                t->overflow = 1;
            else
                t->mant = t->mant * 10 + d;
            if (in_frac)
                t->frac_digits++;
            i++;
        }
        t->unit = l + i;
        while (i < ps->llen && is_alpha((unsigned char)l[i]) && l[i] != '_')
            i++;
        t->unitlen = (size_t)(l + i - t->unit);
    }
    t->len = i - ps->cur;
    ps->cur = i;
}

/* Reads the next token of the current line into ps->tok. */
void scnp_lex(parser *ps) {
    token *t = &ps->tok;
    memset(t, 0, sizeof *t);
    while (ps->cur < ps->llen && (ps->lp[ps->cur] == ' ' || ps->lp[ps->cur] == '\t'))
        ps->cur++;
    t->col = (int)ps->cur + 1;
    t->p = ps->lp + ps->cur;
    if (ps->cur >= ps->llen || ps->lp[ps->cur] == '#') {
        t->kind = TK_EOL;
        return;
    }
    unsigned char c = (unsigned char)ps->lp[ps->cur];
    if (is_alpha(c)) {
        size_t i = ps->cur;
        while (i < ps->llen && (is_alpha((unsigned char)ps->lp[i]) || is_digit((unsigned char)ps->lp[i]) ||
                                ps->lp[i] == '-' || ps->lp[i] == '.'))
            i++;
        t->kind = TK_WORD;
        t->len = i - ps->cur;
        ps->cur = i;
        return;
    }
    if (is_digit(c)) {
        lex_number(ps, t);
        return;
    }
    if (c == '.' && ps->cur + 1 < ps->llen && ps->lp[ps->cur + 1] == '.') {
        t->kind = TK_PUNCT;
        t->punct = 'r';
        t->len = 2;
        ps->cur += 2;
        return;
    }
    if (strchr("=,:{}", c)) {
        t->kind = TK_PUNCT;
        t->punct = (char)c;
        t->len = 1;
        ps->cur++;
        return;
    }
    t->kind = TK_BAD;
    t->len = utf8_len(c);
    if (ps->cur + t->len > ps->llen)
        t->len = ps->llen - ps->cur;
    ps->cur += t->len;
}

/* Moves to the next line; returns 0 at the end of the text. */
int scnp_next_line(parser *ps) {
    if (ps->next >= ps->len)
        return 0;
    const char *start = ps->text + ps->next;
    const char *nl = memchr(start, '\n', ps->len - ps->next);
    size_t n = nl ? (size_t)(nl - start) : ps->len - ps->next;
    ps->next += n + (nl ? 1 : 0);
    if (n > 0 && start[n - 1] == '\r')
        n--;
    ps->lp = start;
    ps->llen = n;
    ps->cur = 0;
    ps->line++;
    scnp_lex(ps);
    return 1;
}

int scnp_tok_is(const parser *ps, const char *word) {
    return ps->tok.kind == TK_WORD && ps->tok.len == strlen(word) && memcmp(ps->tok.p, word, ps->tok.len) == 0;
}

int scnp_tok_punct(const parser *ps, char p) { return ps->tok.kind == TK_PUNCT && ps->tok.punct == p; }

int scnp_expect_eol(parser *ps) {
    if (ps->tok.kind != TK_EOL)
        return scnp_expected(ps, "end of line");
    return 0;
}

/* ---- numbers -------------------------------------------------------------------------- */


const unit_def scnp_size_units[SCNP_SIZE_UNITS] = {
    {"", 1},
    {"B", 1},
    {"KiB", 1024ull},
    {"MiB", 1024ull * 1024},
    {"GiB", 1024ull * 1024 * 1024},
    {"TiB", 1024ull * 1024 * 1024 * 1024},
    {"KB", 1000ull},
    {"MB", 1000ull * 1000},
    {"GB", 1000ull * 1000 * 1000},
    {"TB", 1000ull * 1000 * 1000 * 1000},
};

static const unit_def time_units[] = {
    {"ns", 1}, {"us", 1000ull}, {"ms", 1000ull * 1000}, {"s", 1000ull * 1000 * 1000},
};

/* Converts a number token with a unit table. Returns 0, or -1 with `*why` naming the problem. */
int scnp_num_value(const token *t, const unit_def *units, size_t nunits, uint64_t *out, const char **why) {
    if (t->overflow) {
        *why = "overflow";
        return -1;
    }
    const unit_def *u = NULL;
    for (size_t i = 0; i < nunits; i++)
        if (strlen(units[i].name) == t->unitlen && memcmp(units[i].name, t->unit, t->unitlen) == 0)
            u = &units[i];
    if (!u || (t->hex && t->unitlen)) {
        *why = "unit";
        return -1;
    }
    unsigned __int128 v = (unsigned __int128)t->mant * u->mult;
    unsigned __int128 div = 1;
    for (int i = 0; i < t->frac_digits; i++) {
        div *= 10;
        if (div > ((unsigned __int128)1 << 100)) {
            *why = "fraction";
            return -1;
        }
    }
    if (v % div) {
        *why = "fraction";
        return -1;
    }
    v /= div;
    if (v > UINT64_MAX) {
        *why = "overflow";
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int scnp_take_size(parser *ps, uint64_t *out) {
    const char *why;
    if (ps->tok.kind != TK_NUM)
        return scnp_expected(ps, "a size (bytes, or a number with B, KiB, MiB, GiB, KB, MB or GB)");
    if (scnp_num_value(&ps->tok, scnp_size_units, sizeof scnp_size_units / sizeof scnp_size_units[0], out, &why) < 0) {
        if (why[0] == 'o')
            return scnp_expected(ps, "a size below 2^64 bytes");
        if (why[0] == 'f')
            return scnp_expected(ps, "a whole number of bytes");
        return scnp_expected(ps, "a size unit B, KiB, MiB, GiB, TiB, KB, MB, GB or TB");
    }
    scnp_lex(ps);
    return 0;
}

static int take_time(parser *ps, uint64_t *out) {
    const char *why;
    if (ps->tok.kind != TK_NUM || ps->tok.unitlen == 0)
        return scnp_expected(ps, "a time with unit ns, us, ms or s");
    if (scnp_num_value(&ps->tok, time_units, sizeof time_units / sizeof time_units[0], out, &why) < 0) {
        if (why[0] == 'o')
            return scnp_expected(ps, "a time below 2^64 ns");
        if (why[0] == 'f')
            return scnp_expected(ps, "a whole number of nanoseconds");
        return scnp_expected(ps, "a time unit ns, us, ms or s");
    }
    scnp_lex(ps);
    return 0;
}

/* A plain integer (decimal or 0x) not above max. */
int scnp_take_uint(parser *ps, uint64_t max, const char *what, uint64_t *out) {
    char buf[96];
    if (ps->tok.kind != TK_NUM || ps->tok.unitlen || ps->tok.frac_digits)
        return scnp_expected(ps, what);
    if (ps->tok.overflow || ps->tok.mant > max) {
        snprintf(buf, sizeof buf, "%s up to %" PRIu64, what, max);
        return scnp_expected(ps, buf);
    }
    *out = ps->tok.mant;
    scnp_lex(ps);
    return 0;
}

/* SIZE or LO..HI. */
int scnp_take_size_range(parser *ps, scn_range *r) {
    if (scnp_take_size(ps, &r->lo) < 0)
        return -1;
    r->hi = r->lo;
    if (scnp_tok_punct(ps, 'r')) {
        scnp_lex(ps);
        int col = ps->tok.col;
        if (scnp_take_size(ps, &r->hi) < 0)
            return -1;
        if (r->hi < r->lo)
            return scnp_fail_at(ps, ps->line, col, "expected an upper bound of at least %" PRIu64 ", found %" PRIu64,
                           r->lo, r->hi);
    }
    return 0;
}

int scnp_take_time_range(parser *ps, scn_range *r) {
    if (take_time(ps, &r->lo) < 0)
        return -1;
    r->hi = r->lo;
    if (scnp_tok_punct(ps, 'r')) {
        scnp_lex(ps);
        int col = ps->tok.col;
        if (take_time(ps, &r->hi) < 0)
            return -1;
        if (r->hi < r->lo)
            return scnp_fail_at(ps, ps->line, col, "expected an upper bound of at least %" PRIu64 " ns, found %" PRIu64 " ns",
                           r->lo, r->hi);
    }
    return 0;
}

/* `KEY =` : checks the word and consumes both tokens. */
int scnp_take_key(parser *ps, const char *key) {
    if (!scnp_tok_is(ps, key)) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s=", key);
        return scnp_expected(ps, buf);
    }
    scnp_lex(ps);
    if (!scnp_tok_punct(ps, '='))
        return scnp_expected(ps, "'='");
    scnp_lex(ps);
    return 0;
}

/* Copies the current word (names). */
char *scnp_tok_dup(parser *ps) { return mem_strndup(ps->tok.p, ps->tok.len); }

/* ---- public number helpers ------------------------------------------------------------ */

static int parse_one(const char *s, const unit_def *units, size_t nunits, int need_unit, const char *what,
                     uint64_t *out, char *err, size_t errlen) {
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.lp = s ? s : "";
    ps.llen = strlen(ps.lp);
    scnp_lex(&ps);
    const char *why = "unit";
    int ok = ps.tok.kind == TK_NUM && (!need_unit || ps.tok.unitlen) &&
             scnp_num_value(&ps.tok, units, nunits, out, &why) == 0;
    if (ok) {
        scnp_lex(&ps);
        ok = ps.tok.kind == TK_EOL && ps.cur >= ps.llen;
    }
    if (!ok && errlen)
        snprintf(err, errlen, "expected %s%s, found '%s'", what,
                 why[0] == 'o' ? " below 2^64" : why[0] == 'f' ? " (whole number)" : "", s ? s : "");
    return ok ? 0 : -1;
}

int scn_parse_size(const char *s, uint64_t *out, char *err, size_t errlen) {
    return parse_one(s, scnp_size_units, sizeof scnp_size_units / sizeof scnp_size_units[0], 0,
                     "a size (bytes, or a number with B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", out, err, errlen);
}

int scn_parse_time(const char *s, uint64_t *out, char *err, size_t errlen) {
    return parse_one(s, time_units, sizeof time_units / sizeof time_units[0], 0,
                     "a time (ns, or a number with ns, us, ms or s)", out, err, errlen);
}

int scn_devsel_has(const scn_devsel *sel, int32_t d) {
    if (d < 0 || d >= DEV_MAX_DEVICES)
        return 0;
    return (int)((sel->bits[d / 64] >> (d % 64)) & 1u);
}

void scnp_devsel_add(scn_devsel *sel, uint64_t d) { sel->bits[d / 64] |= 1ull << (d % 64); }

/* ---- names ---------------------------------------------------------------------------- */

static uint64_t name_hash(const char *p, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

int scnp_name_find(const name_index *ix, char **names, const char *p, size_t len) {
    if (!ix->cap)
        return -1;
    for (size_t i = name_hash(p, len) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        int slot = ix->v[i] - 1;
        if (slot < 0)
            return -1;
        if (strlen(names[slot]) == len && memcmp(names[slot], p, len) == 0)
            return slot;
    }
}

/* Adds slot (names[slot] is set) to the index, growing it at half load. -1: out of memory. */
static int name_index_add(name_index *ix, char **names, int slot) {
    if (2 * (ix->n + 1) > ix->cap) {
        size_t cap = ix->cap ? 2 * ix->cap : 16;
        int *v = mem_calloc(cap, sizeof *v);
        if (!v)
            return -1;
        for (size_t k = 0; k < ix->cap; k++) {
            if (!ix->v[k])
                continue;
            const char *nm = names[ix->v[k] - 1];
            size_t i = name_hash(nm, strlen(nm)) & (cap - 1);
            while (v[i])
                i = (i + 1) & (cap - 1);
            v[i] = ix->v[k];
        }
        mem_free(ix->v);
        ix->v = v;
        ix->cap = cap;
    }
    const char *nm = names[slot];
    size_t i = name_hash(nm, strlen(nm)) & (ix->cap - 1);
    while (ix->v[i])
        i = (i + 1) & (ix->cap - 1);
    ix->v[i] = slot + 1;
    ix->n++;
    return 0;
}

/* Finds or adds the current word in a name table of the current process; returns the slot
 * or -1 (out of memory). Tables grow geometrically. */
int scnp_name_slot(parser *ps, int kind, char ***names, int *n) {
    name_index *ix = &ps->names[ps->proc][kind];
    int i = scnp_name_find(ix, *names, ps->tok.p, ps->tok.len);
    if (i >= 0)
        return i;
    if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4, ...: full */
        char **nv = mem_realloc(*names, sizeof **names * (size_t)(*n ? 2 * *n : 1));
        if (!nv)
            return -1;
        *names = nv;
    }
    if (!((*names)[*n] = scnp_tok_dup(ps)))
        return -1;
    if (name_index_add(ix, *names, *n) < 0) {
        mem_free((*names)[*n]);
        return -1;
    }
    return (*n)++;
}

int scnp_is_name(const token *t) {
    if (t->kind != TK_WORD)
        return 0;
    for (size_t i = 0; i < t->len; i++)
        if (t->p[i] == '.')
            return 0;
    return 1;
}
