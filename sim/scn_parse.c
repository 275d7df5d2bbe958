/* scn_parse: lexer and parser of the scenario language (grammar in docs/scenarios.md).
 *
 * The text is checked for UTF-8 and NUL bytes first, then read line by line; each line is
 * cut into tokens on demand (words, numbers with an optional unit suffix, and the
 * punctuation = , : { } ..), because `phase` takes the raw rest of its line. Block structure
 * comes from `repeat N {` ... `}` only; indentation means nothing. Names are resolved to
 * per-process slots while parsing; references that may point forward (expectations naming
 * another process's buffer) are resolved in a pass after the whole file is read. Every
 * failure is one message `path:line:col: expected X, found Y` and a clean release of what was
 * built so far.
 */
#include "scn.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

/* ---- tokens --------------------------------------------------------------------------- */

typedef enum { TK_EOL = 0, TK_WORD, TK_NUM, TK_PUNCT, TK_BAD } tk_kind;

typedef struct {
    tk_kind kind;
    const char *p; /* raw text */
    size_t len;
    int col;       /* 1-based byte column */
    /* TK_NUM: mantissa of all digits, digits after the point, unit suffix */
    uint64_t mant;
    int frac_digits;
    int overflow;
    int hex;
    const char *unit;
    size_t unitlen;
    /* TK_PUNCT: one of = , : { } and 'r' for ".." */
    char punct;
} token;

/* A name reference resolved after the whole file is read. */
typedef struct {
    struct scn_expect *e;
    int proc;        /* process the expectation belongs to */
    char *name;      /* PROC.NAME or NAME (HAS/LACKS), or the process name (CLEANED, owner) */
    int is_process;  /* 1: name is a process name */
    int line, col;
} fixup;

typedef struct {
    scn_stmt *v;
    size_t n, cap;
    int line, col;  /* of the `repeat` that opened it */
    uint64_t count;
} stmt_list;

/* Slots of one name table by name (open addressing; 0 = empty, else slot + 1), so that a
 * scenario with 10^5 buffer names parses in linear time, not quadratic. */
typedef struct {
    int *v;
    size_t cap; /* a power of two, or 0 */
    size_t n;
} name_index;

enum { NAMES_BUFFERS = 0, NAMES_PROGRAMS, NAMES_TRACES, NAMES_KINDS };

#define SCN_MAX_PROCESSES 1024 /* each is a real child process in a live run */
#define SCN_MAX_MESHES 1024

typedef struct {
    const char *path;
    const char *text;
    size_t len;
    size_t next;       /* offset of the next line */
    int line;
    const char *lp;    /* current line, without '\n' (and without a '\r' before it) */
    size_t llen;
    size_t cur;        /* cursor in the line */
    token tok;         /* current token */
    char *err;
    size_t errlen;
    scn_script *s;
    int proc;          /* current process, -1 before the first */
    stmt_list stack[SCN_MAX_DEPTH + 1];
    int depth;         /* stack[0] is the process body */
    char *pending_error; /* `expect error TEXT` waiting for its statement */
    int pending_line, pending_col;
    int ended;         /* the process has run exit or crash */
    fixup *fix;
    size_t nfix, capfix;
    name_index (*names)[NAMES_KINDS]; /* per process, parallel to s->procs */
    int cap_procs, cap_meshes;        /* allocated entries of s->procs (and names), s->meshes */
} parser;

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

static int fail_at(parser *ps, int line, int col, const char *fmt, ...) {
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
static int expected(parser *ps, const char *what) {
    char found[64];
    describe(&ps->tok, found, sizeof found);
    return fail_at(ps, ps->line, ps->tok.col, "expected %s, found %s", what, found);
}

static int oom(parser *ps) { return fail_at(ps, ps->line, 1, "out of memory"); }

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
static void lex(parser *ps) {
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
static int next_line(parser *ps) {
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
    lex(ps);
    return 1;
}

static int tok_is(const parser *ps, const char *word) {
    return ps->tok.kind == TK_WORD && ps->tok.len == strlen(word) && memcmp(ps->tok.p, word, ps->tok.len) == 0;
}

static int tok_punct(const parser *ps, char p) { return ps->tok.kind == TK_PUNCT && ps->tok.punct == p; }

static int expect_eol(parser *ps) {
    if (ps->tok.kind != TK_EOL)
        return expected(ps, "end of line");
    return 0;
}

/* ---- numbers -------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    uint64_t mult;
} unit_def;

static const unit_def size_units[] = {
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
static int num_value(const token *t, const unit_def *units, size_t nunits, uint64_t *out, const char **why) {
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

static int take_size(parser *ps, uint64_t *out) {
    const char *why;
    if (ps->tok.kind != TK_NUM)
        return expected(ps, "a size (bytes, or a number with B, KiB, MiB, GiB, KB, MB or GB)");
    if (num_value(&ps->tok, size_units, sizeof size_units / sizeof size_units[0], out, &why) < 0) {
        if (why[0] == 'o')
            return expected(ps, "a size below 2^64 bytes");
        if (why[0] == 'f')
            return expected(ps, "a whole number of bytes");
        return expected(ps, "a size unit B, KiB, MiB, GiB, TiB, KB, MB, GB or TB");
    }
    lex(ps);
    return 0;
}

static int take_time(parser *ps, uint64_t *out) {
    const char *why;
    if (ps->tok.kind != TK_NUM || ps->tok.unitlen == 0)
        return expected(ps, "a time with unit ns, us, ms or s");
    if (num_value(&ps->tok, time_units, sizeof time_units / sizeof time_units[0], out, &why) < 0) {
        if (why[0] == 'o')
            return expected(ps, "a time below 2^64 ns");
        if (why[0] == 'f')
            return expected(ps, "a whole number of nanoseconds");
        return expected(ps, "a time unit ns, us, ms or s");
    }
    lex(ps);
    return 0;
}

/* A plain integer (decimal or 0x) not above max. */
static int take_uint(parser *ps, uint64_t max, const char *what, uint64_t *out) {
    char buf[96];
    if (ps->tok.kind != TK_NUM || ps->tok.unitlen || ps->tok.frac_digits)
        return expected(ps, what);
    if (ps->tok.overflow || ps->tok.mant > max) {
        snprintf(buf, sizeof buf, "%s up to %" PRIu64, what, max);
        return expected(ps, buf);
    }
    *out = ps->tok.mant;
    lex(ps);
    return 0;
}

/* SIZE or LO..HI. */
static int take_size_range(parser *ps, scn_range *r) {
    if (take_size(ps, &r->lo) < 0)
        return -1;
    r->hi = r->lo;
    if (tok_punct(ps, 'r')) {
        lex(ps);
        int col = ps->tok.col;
        if (take_size(ps, &r->hi) < 0)
            return -1;
        if (r->hi < r->lo)
            return fail_at(ps, ps->line, col, "expected an upper bound of at least %" PRIu64 ", found %" PRIu64,
                           r->lo, r->hi);
    }
    return 0;
}

static int take_time_range(parser *ps, scn_range *r) {
    if (take_time(ps, &r->lo) < 0)
        return -1;
    r->hi = r->lo;
    if (tok_punct(ps, 'r')) {
        lex(ps);
        int col = ps->tok.col;
        if (take_time(ps, &r->hi) < 0)
            return -1;
        if (r->hi < r->lo)
            return fail_at(ps, ps->line, col, "expected an upper bound of at least %" PRIu64 " ns, found %" PRIu64 " ns",
                           r->lo, r->hi);
    }
    return 0;
}

/* `KEY =` : checks the word and consumes both tokens. */
static int take_key(parser *ps, const char *key) {
    if (!tok_is(ps, key)) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s=", key);
        return expected(ps, buf);
    }
    lex(ps);
    if (!tok_punct(ps, '='))
        return expected(ps, "'='");
    lex(ps);
    return 0;
}

/* Copies the current word (names). */
static char *tok_dup(parser *ps) { return mem_strndup(ps->tok.p, ps->tok.len); }

/* ---- public number helpers ------------------------------------------------------------ */

static int parse_one(const char *s, const unit_def *units, size_t nunits, int need_unit, const char *what,
                     uint64_t *out, char *err, size_t errlen) {
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.lp = s ? s : "";
    ps.llen = strlen(ps.lp);
    lex(&ps);
    const char *why = "unit";
    int ok = ps.tok.kind == TK_NUM && (!need_unit || ps.tok.unitlen) &&
             num_value(&ps.tok, units, nunits, out, &why) == 0;
    if (ok) {
        lex(&ps);
        ok = ps.tok.kind == TK_EOL && ps.cur >= ps.llen;
    }
    if (!ok && errlen)
        snprintf(err, errlen, "expected %s%s, found '%s'", what,
                 why[0] == 'o' ? " below 2^64" : why[0] == 'f' ? " (whole number)" : "", s ? s : "");
    return ok ? 0 : -1;
}

int scn_parse_size(const char *s, uint64_t *out, char *err, size_t errlen) {
    return parse_one(s, size_units, sizeof size_units / sizeof size_units[0], 0,
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

static void devsel_add(scn_devsel *sel, uint64_t d) { sel->bits[d / 64] |= 1ull << (d % 64); }

/* ---- names ---------------------------------------------------------------------------- */

static uint64_t name_hash(const char *p, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static int name_find(const name_index *ix, char **names, const char *p, size_t len) {
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
static int name_slot(parser *ps, int kind, char ***names, int *n) {
    name_index *ix = &ps->names[ps->proc][kind];
    int i = name_find(ix, *names, ps->tok.p, ps->tok.len);
    if (i >= 0)
        return i;
    if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4, ...: full */
        char **nv = mem_realloc(*names, sizeof **names * (size_t)(*n ? 2 * *n : 1));
        if (!nv)
            return -1;
        *names = nv;
    }
    if (!((*names)[*n] = tok_dup(ps)))
        return -1;
    if (name_index_add(ix, *names, *n) < 0) {
        mem_free((*names)[*n]);
        return -1;
    }
    return (*n)++;
}

static int is_name(const token *t) {
    if (t->kind != TK_WORD)
        return 0;
    for (size_t i = 0; i < t->len; i++)
        if (t->p[i] == '.')
            return 0;
    return 1;
}

/* ---- statements ----------------------------------------------------------------------- */

static scn_process *cur_proc(parser *ps) { return &ps->s->procs[ps->proc]; }

static void stmt_release(scn_stmt *st);

static void stmts_release(scn_stmt *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        stmt_release(&v[i]);
    mem_free(v);
}

static void stmt_release(scn_stmt *st) {
    mem_free(st->binaries);
    mem_free(st->text);
    mem_free(st->expect_error);
    if (st->expect) {
        scn_expect_release(st->expect);
        mem_free(st->expect);
    }
    stmts_release(st->body, st->nbody);
}

/* Appends st to the innermost open block (taking ownership, also on failure). */
static int push_stmt(parser *ps, scn_stmt *st) {
    stmt_list *l = &ps->stack[ps->depth];
    if (ps->pending_error) {
        if (st->op == SCN_REPEAT || st->op == SCN_EXPECT) {
            stmt_release(st);
            return fail_at(ps, st->line, st->col, "expected a statement that can fail after 'expect error', found '%s'",
                           st->op == SCN_REPEAT ? "repeat" : "expect");
        }
        st->expect_error = ps->pending_error;
        st->expect_error_line = ps->pending_line;
        ps->pending_error = NULL;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        scn_stmt *nv = mem_realloc(l->v, sizeof *nv * cap);
        if (!nv) {
            stmt_release(st);
            return oom(ps);
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = *st;
    return 0;
}

static void stmt_init(parser *ps, scn_stmt *st, scn_op op, int col) {
    memset(st, 0, sizeof *st);
    st->op = op;
    st->line = ps->line;
    st->col = col;
    st->slot = -1;
}

/* SEL := all | dev N | devs all | devs ITEM{,ITEM}, ITEM := N | N..M ; `on` optional before. */
static int parse_devsel(parser *ps, scn_devsel *sel) {
    memset(sel, 0, sizeof *sel);
    if (tok_is(ps, "on"))
        lex(ps);
    if (tok_is(ps, "all")) {
        sel->all = 1;
        lex(ps);
        return 0;
    }
    int many = tok_is(ps, "devs");
    if (!many && !tok_is(ps, "dev"))
        return expected(ps, "a device selection (all, dev N, devs N,M,... or devs N..M)");
    lex(ps);
    if (many && tok_is(ps, "all")) {
        sel->all = 1;
        lex(ps);
        return 0;
    }
    for (;;) {
        uint64_t a, b;
        if (take_uint(ps, DEV_MAX_DEVICES - 1, "a device id", &a) < 0)
            return -1;
        b = a;
        if (many && tok_punct(ps, 'r')) {
            lex(ps);
            if (take_uint(ps, DEV_MAX_DEVICES - 1, "a device id", &b) < 0)
                return -1;
            if (b < a)
                return fail_at(ps, ps->line, ps->tok.col, "expected a range N..M with M >= N, found %" PRIu64 "..%" PRIu64, a, b);
        }
        for (uint64_t d = a; d <= b; d++)
            devsel_add(sel, d);
        if (!many || !tok_punct(ps, ','))
            break;
        lex(ps);
    }
    return 0;
}

static int at_devsel(const parser *ps) {
    return tok_is(ps, "on") || tok_is(ps, "all") || tok_is(ps, "dev") || tok_is(ps, "devs");
}

static int parse_alloc(parser *ps, int col) {
    scn_stmt st;
    stmt_init(ps, &st, SCN_ALLOC, col);
    st.page_size = 2048;
    st.devs.all = 1;
    lex(ps);
    if (!is_name(&ps->tok))
        return expected(ps, "a buffer name");
    scn_process *p = cur_proc(ps);
    if ((st.slot = name_slot(ps, NAMES_BUFFERS, &p->buffers, &p->nbuffers)) < 0)
        return oom(ps);
    lex(ps);
    if (tok_is(ps, "DRAM") || tok_is(ps, "dram"))
        st.region = DEV_REGION_DRAM;
    else if (tok_is(ps, "L1") || tok_is(ps, "l1"))
        st.region = DEV_REGION_L1;
    else if (tok_is(ps, "L1_SMALL") || tok_is(ps, "l1_small"))
        st.region = DEV_REGION_L1_SMALL;
    else
        return expected(ps, "a buffer type DRAM, L1 or L1_SMALL");
    lex(ps);
    int size_col = ps->tok.col;
    if (take_size_range(ps, &st.size) < 0)
        return -1;
    if (st.size.lo == 0)
        return fail_at(ps, ps->line, size_col, "expected a size above 0, found 0 (zero-size buffers are never reported)");
    int have_dir = 0, have_sel = 0, have_page = 0, have_shard = 0;
    while (ps->tok.kind != TK_EOL) {
        if (tok_is(ps, "page") && !have_page) {
            int c = ps->tok.col;
            if (take_key(ps, "page") < 0 || take_size(ps, &st.page_size) < 0)
                return -1;
            if (st.page_size == 0)
                return fail_at(ps, ps->line, c, "expected a page size above 0, found 0");
            have_page = 1;
        } else if ((tok_is(ps, "shard") || tok_is(ps, "sharded")) && !have_shard) {
            lex(ps);
            if (!tok_punct(ps, '='))
                return expected(ps, "'='");
            lex(ps);
            uint64_t k;
            if (take_uint(ps, UINT32_MAX, "a core count", &k) < 0)
                return -1;
            if (k == 0)
                return fail_at(ps, ps->line, ps->tok.col, "expected a core count above 0, found 0");
            st.shard_cores = (uint32_t)k;
            have_shard = 1;
        } else if ((tok_is(ps, "bottom_up") || tok_is(ps, "top_down")) && !have_dir) {
            st.dir = tok_is(ps, "bottom_up") ? SCN_DIR_BOTTOM_UP : SCN_DIR_TOP_DOWN;
            have_dir = 1;
            lex(ps);
        } else if (at_devsel(ps) && !have_sel) {
            if (parse_devsel(ps, &st.devs) < 0)
                return -1;
            have_sel = 1;
        } else {
            return expected(ps, "page=SIZE, shard=N, bottom_up, top_down, on SEL or end of line");
        }
    }
    if (st.region == DEV_REGION_L1_SMALL && !st.shard_cores)
        return fail_at(ps, ps->line, ps->tok.col,
                       "expected shard=N (L1_SMALL buffers are sharded only), found end of line");
    return push_stmt(ps, &st);
}

static int parse_buffer_ref(parser *ps, scn_op op, int col) {
    scn_stmt st;
    stmt_init(ps, &st, op, col);
    lex(ps);
    scn_process *p = cur_proc(ps);
    if (!is_name(&ps->tok))
        return expected(ps, "a buffer name");
    st.slot = name_find(&ps->names[ps->proc][NAMES_BUFFERS], p->buffers, ps->tok.p, ps->tok.len);
    if (st.slot < 0)
        return expected(ps, "a buffer allocated earlier in this process");
    lex(ps);
    if (expect_eol(ps) < 0)
        return -1;
    return push_stmt(ps, &st);
}

static int parse_program(parser *ps, int col) {
    scn_stmt st;
    stmt_init(ps, &st, SCN_PROGRAM, col);
    lex(ps);
    if (!is_name(&ps->tok))
        return expected(ps, "a program name");
    scn_process *p = cur_proc(ps);
    if ((st.slot = name_slot(ps, NAMES_PROGRAMS, &p->programs, &p->nprograms)) < 0)
        return oom(ps);
    lex(ps);
    if (ps->tok.kind != TK_EOL) {
        if (take_key(ps, "binary") < 0)
            return -1;
        for (;;) {
            uint64_t v;
            int c = ps->tok.col;
            if (take_size(ps, &v) < 0) {
                mem_free(st.binaries);
                return -1;
            }
            if (v == 0) {
                mem_free(st.binaries);
                return fail_at(ps, ps->line, c, "expected a binary size above 0, found 0");
            }
            uint64_t *nv = mem_realloc(st.binaries, sizeof *nv * (st.nbinaries + 1));
            if (!nv) {
                mem_free(st.binaries);
                return oom(ps);
            }
            st.binaries = nv;
            st.binaries[st.nbinaries++] = v;
            if (!tok_punct(ps, ','))
                break;
            lex(ps);
        }
    }
    if (expect_eol(ps) < 0) {
        mem_free(st.binaries);
        return -1;
    }
    return push_stmt(ps, &st);
}

/* A trace id: a word or a plain number, kept as text. create: begin may add a new slot. */
static int take_trace(parser *ps, int create, int *slot) {
    scn_process *p = cur_proc(ps);
    if (!(ps->tok.kind == TK_WORD && is_name(&ps->tok)) &&
        !(ps->tok.kind == TK_NUM && !ps->tok.unitlen && !ps->tok.frac_digits))
        return expected(ps, "a trace id");
    if (create) {
        if ((*slot = name_slot(ps, NAMES_TRACES, &p->traces, &p->ntraces)) < 0)
            return oom(ps);
    } else if ((*slot = name_find(&ps->names[ps->proc][NAMES_TRACES], p->traces, ps->tok.p, ps->tok.len)) < 0) {
        return expected(ps, "a trace begun earlier in this process");
    }
    lex(ps);
    return 0;
}

static int take_step_option(parser *ps, scn_stmt *st, int *have) {
    if (*have)
        return expected(ps, "end of line");
    if (take_key(ps, "step") < 0 || take_time_range(ps, &st->time_ns) < 0)
        return -1;
    *have = 1;
    return 0;
}

static int parse_trace(parser *ps, int col) {
    scn_stmt st;
    lex(ps);
    int have_step = 0;
    if (tok_is(ps, "begin")) {
        stmt_init(ps, &st, SCN_TRACE_BEGIN, col);
        lex(ps);
        if (take_trace(ps, 1, &st.slot) < 0)
            return -1;
    } else if (tok_is(ps, "end")) {
        stmt_init(ps, &st, SCN_TRACE_END, col);
        lex(ps);
        if (take_trace(ps, 0, &st.slot) < 0)
            return -1;
        int c = ps->tok.col;
        if (take_key(ps, "size") < 0 || take_size_range(ps, &st.size) < 0)
            return -1;
        if (st.size.lo == 0)
            return fail_at(ps, ps->line, c, "expected a trace size above 0, found 0");
    } else if (tok_is(ps, "replay")) {
        stmt_init(ps, &st, SCN_TRACE_REPLAY, col);
        st.count = 1;
        st.time_ns.lo = st.time_ns.hi = 1000000;
        lex(ps);
        if (take_trace(ps, 0, &st.slot) < 0)
            return -1;
        if (ps->tok.kind == TK_NUM) {
            if (take_uint(ps, UINT64_MAX, "a replay count", &st.count) < 0)
                return -1;
            if (!tok_is(ps, "times") && !tok_is(ps, "time"))
                return expected(ps, "'times'");
            lex(ps);
        }
        if (ps->tok.kind != TK_EOL && take_step_option(ps, &st, &have_step) < 0)
            return -1;
    } else if (tok_is(ps, "release")) {
        stmt_init(ps, &st, SCN_TRACE_RELEASE, col);
        lex(ps);
        if (take_trace(ps, 0, &st.slot) < 0)
            return -1;
    } else {
        return expected(ps, "begin, end, replay or release");
    }
    if (expect_eol(ps) < 0)
        return -1;
    return push_stmt(ps, &st);
}

static int parse_decode(parser *ps, int col) {
    scn_stmt st;
    stmt_init(ps, &st, SCN_DECODE, col);
    st.time_ns.lo = st.time_ns.hi = 1000000;
    lex(ps);
    if (take_uint(ps, UINT64_MAX, "a number of decode steps", &st.count) < 0)
        return -1;
    if (!tok_is(ps, "steps") && !tok_is(ps, "step"))
        return expected(ps, "'steps'");
    lex(ps);
    int have_trace = 0, have_step = 0;
    while (ps->tok.kind != TK_EOL) {
        if (tok_is(ps, "trace") && !have_trace) {
            if (take_key(ps, "trace") < 0 || take_trace(ps, 0, &st.slot) < 0)
                return -1;
            have_trace = 1;
        } else if (tok_is(ps, "step") && !have_step) {
            if (take_step_option(ps, &st, &have_step) < 0)
                return -1;
        } else {
            return expected(ps, "trace=ID, step=TIME or end of line");
        }
    }
    return push_stmt(ps, &st);
}

/* Raw frames: send alloc dev N size=SIZE type=TYPE id=ADDR | send free dev N id=ADDR |
 * send query dev N. */
static int parse_send(parser *ps, int col) {
    scn_stmt st;
    stmt_init(ps, &st, SCN_SEND, col);
    lex(ps);
    if (tok_is(ps, "alloc"))
        st.send_type = PROTO_ALLOC;
    else if (tok_is(ps, "free"))
        st.send_type = PROTO_FREE;
    else if (tok_is(ps, "query"))
        st.send_type = PROTO_QUERY;
    else
        return expected(ps, "alloc, free or query");
    lex(ps);
    if (!tok_is(ps, "dev"))
        return expected(ps, "dev N");
    lex(ps);
    uint64_t d;
    if (take_uint(ps, INT32_MAX, "a device id", &d) < 0)
        return -1;
    st.send_device = (int32_t)d;
    if (st.send_type == PROTO_ALLOC) {
        if (take_key(ps, "size") < 0 || take_size(ps, &st.size.lo) < 0)
            return -1;
        st.size.hi = st.size.lo;
        if (take_key(ps, "type") < 0)
            return -1;
        if (ps->tok.kind == TK_NUM) {
            uint64_t t;
            if (take_uint(ps, 255, "a buffer type", &t) < 0)
                return -1;
            st.send_buffer_type = (uint8_t)t;
        } else {
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)(ps->tok.len < 31 ? ps->tok.len : 31), ps->tok.p);
            int t = ps->tok.kind == TK_WORD ? proto_buffer_type_parse(name) : -1;
            if (t < 0)
                return expected(ps, "a buffer type (DRAM, L1, SYSTEM_MEMORY, L1_SMALL, TRACE or 0..255)");
            st.send_buffer_type = (uint8_t)t;
            lex(ps);
        }
    }
    if (st.send_type != PROTO_QUERY) {
        if (take_key(ps, "id") < 0 || take_uint(ps, UINT64_MAX, "a buffer id", &st.send_buffer_id) < 0)
            return -1;
    }
    if (expect_eol(ps) < 0)
        return -1;
    return push_stmt(ps, &st);
}

/* The rest of the line from the current token, trimmed, without the comment. */
static char *rest_of_line(parser *ps) {
    size_t from = (size_t)(ps->tok.p - ps->lp);
    size_t to = from;
    while (to < ps->llen && ps->lp[to] != '#')
        to++;
    while (to > from && (ps->lp[to - 1] == ' ' || ps->lp[to - 1] == '\t'))
        to--;
    return mem_strndup(ps->lp + from, to - from);
}

static int add_fixup(parser *ps, struct scn_expect *e, const char *p, size_t len, int is_process, int col) {
    if (ps->nfix == ps->capfix) {
        size_t cap = ps->capfix ? ps->capfix * 2 : 8;
        fixup *nv = mem_realloc(ps->fix, sizeof *nv * cap);
        if (!nv)
            return oom(ps);
        ps->fix = nv;
        ps->capfix = cap;
    }
    fixup *f = &ps->fix[ps->nfix];
    if (!(f->name = mem_strndup(p, len)))
        return oom(ps);
    f->e = e;
    f->proc = ps->proc;
    f->is_process = is_process;
    f->line = ps->line;
    f->col = col;
    ps->nfix++;
    return 0;
}

static int parse_conditions(parser *ps, struct scn_expect *e) {
    int any = 0;
    while (ps->tok.kind != TK_EOL) {
        if (tok_punct(ps, ',')) {
            lex(ps);
            continue;
        }
        int col = ps->tok.col;
        if (tok_is(ps, "none")) {
            e->none = 1;
            lex(ps);
        } else if (tok_is(ps, "at") && !e->has_addr) {
            lex(ps);
            if (take_uint(ps, UINT64_MAX, "a buffer id", &e->addr) < 0)
                return -1;
            e->has_addr = 1;
        } else if (ps->tok.kind == TK_NUM) {
            token num = ps->tok;
            lex(ps);
            if ((tok_is(ps, "buffers") || tok_is(ps, "buffer")) && e->count < 0) {
                if (num.unitlen || num.frac_digits || num.overflow || num.mant > INT64_MAX)
                    return fail_at(ps, ps->line, col, "expected a buffer count, found '%.*s'", (int)num.len, num.p);
                e->count = (int64_t)num.mant;
                lex(ps);
            } else if (!e->has_bytes) {
                const char *why;
                int plain = tok_is(ps, "bytes") || tok_is(ps, "byte");
                if (!plain && num.unitlen == 0)
                    return expected(ps, "'buffers' or 'bytes'");
                if (num_value(&num, size_units, sizeof size_units / sizeof size_units[0], &e->bytes, &why) < 0)
                    return fail_at(ps, ps->line, col, "expected a size, found '%.*s'", (int)num.len, num.p);
                e->has_bytes = 1;
                if (plain)
                    lex(ps);
            } else {
                return fail_at(ps, ps->line, col, "expected none, N buffers, SIZE bytes or at ADDR, found '%.*s'",
                               (int)num.len, num.p);
            }
        } else {
            return expected(ps, "none, N buffers, SIZE bytes or at ADDR");
        }
        any = 1;
    }
    if (!any)
        return expected(ps, "none, N buffers, SIZE bytes or at ADDR");
    if (e->none && (e->count >= 0 || e->has_bytes || e->has_addr))
        return fail_at(ps, ps->line, ps->tok.col, "expected 'none' alone, found it with other conditions");
    if ((e->has_bytes || e->has_addr) && e->type < 0)
        return fail_at(ps, ps->line, ps->tok.col,
                       "expected a buffer type after 'expect dump' (bytes and at need one), found none");
    return 0;
}

static int parse_expect_dump(parser *ps, struct scn_expect *e) {
    if (tok_is(ps, "total")) {
        e->kind = SCN_EXPECT_TOTAL;
        lex(ps);
        uint64_t n;
        if (take_uint(ps, INT64_MAX, "a number of buffers", &n) < 0)
            return -1;
        e->count = (int64_t)n;
        if (tok_is(ps, "buffers") || tok_is(ps, "buffer"))
            lex(ps);
    } else if (tok_is(ps, "perfect")) {
        e->kind = SCN_EXPECT_PERFECT;
        lex(ps);
    } else if (tok_is(ps, "matches")) {
        e->kind = SCN_EXPECT_MODEL;
        lex(ps);
        if (!tok_is(ps, "model"))
            return expected(ps, "'model'");
        lex(ps);
    } else if (tok_is(ps, "has") || tok_is(ps, "lacks")) {
        e->kind = tok_is(ps, "has") ? SCN_EXPECT_HAS : SCN_EXPECT_LACKS;
        lex(ps);
        if (ps->tok.kind != TK_WORD)
            return expected(ps, "a buffer name (NAME or PROCESS.NAME)");
        if (!(e->buffer_name = tok_dup(ps)))
            return oom(ps);
        if (add_fixup(ps, e, ps->tok.p, ps->tok.len, 0, ps->tok.col) < 0)
            return -1;
        lex(ps);
        int have_ref = 0, have_owner = 0;
        while (e->kind == SCN_EXPECT_HAS && ps->tok.kind != TK_EOL) {
            if (tok_is(ps, "ref_count") && !have_ref) {
                uint64_t n;
                if (take_key(ps, "ref_count") < 0 || take_uint(ps, INT32_MAX, "a ref count", &n) < 0)
                    return -1;
                e->ref_count = (int32_t)n;
                have_ref = 1;
            } else if (tok_is(ps, "owner") && !have_owner) {
                if (take_key(ps, "owner") < 0)
                    return -1;
                if (!is_name(&ps->tok))
                    return expected(ps, "a process name");
                if (!(e->process = tok_dup(ps)) || add_fixup(ps, e, ps->tok.p, ps->tok.len, 1, ps->tok.col) < 0)
                    return e->process ? -1 : oom(ps);
                lex(ps);
                have_owner = 1;
            } else {
                return expected(ps, "ref_count=N, owner=PROCESS or end of line");
            }
        }
    } else if (tok_is(ps, "cleaned")) {
        e->kind = SCN_EXPECT_CLEANED;
        lex(ps);
        if (!is_name(&ps->tok))
            return expected(ps, "a process name");
        if (!(e->process = tok_dup(ps)) || add_fixup(ps, e, ps->tok.p, ps->tok.len, 1, ps->tok.col) < 0)
            return e->process ? -1 : oom(ps);
        lex(ps);
        if (tok_punct(ps, ':'))
            lex(ps);
        if (ps->tok.kind != TK_EOL) {
            uint64_t n;
            if (take_uint(ps, INT64_MAX, "a number of buffers", &n) < 0)
                return -1;
            if (!tok_is(ps, "buffers") && !tok_is(ps, "buffer"))
                return expected(ps, "'buffers'");
            lex(ps);
            e->count = (int64_t)n;
        }
    } else {
        e->kind = SCN_EXPECT_GROUPS;
        e->devs.all = 1;
        if (ps->tok.kind == TK_WORD && !at_devsel(ps)) {
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)(ps->tok.len < 31 ? ps->tok.len : 31), ps->tok.p);
            int t = ps->tok.len < 31 ? proto_buffer_type_parse(name) : -1;
            if (t < 0)
                return expected(ps, "a buffer type (DRAM, L1, SYSTEM_MEMORY, L1_SMALL, TRACE), a device selection, "
                                    "total, perfect, has, lacks, cleaned or matches model");
            e->type = t;
            lex(ps);
        }
        if (at_devsel(ps) && parse_devsel(ps, &e->devs) < 0)
            return -1;
        if (!tok_punct(ps, ':'))
            return expected(ps, "':'");
        lex(ps);
        return parse_conditions(ps, e);
    }
    return expect_eol(ps);
}

static int parse_expect(parser *ps, int col) {
    lex(ps);
    if (tok_is(ps, "error")) {
        if (ps->pending_error)
            return fail_at(ps, ps->line, col, "expected a statement after 'expect error', found another 'expect error'");
        lex(ps);
        if (ps->tok.kind == TK_EOL)
            return expected(ps, "the text the error must contain");
        if (!(ps->pending_error = rest_of_line(ps)))
            return oom(ps);
        ps->pending_line = ps->line;
        ps->pending_col = col;
        return 0;
    }
    if (!tok_is(ps, "dump"))
        return expected(ps, "dump or error");
    lex(ps);
    scn_stmt st;
    stmt_init(ps, &st, SCN_EXPECT, col);
    struct scn_expect *e = mem_calloc(1, sizeof *e);
    if (!e)
        return oom(ps);
    e->line = ps->line;
    e->col = col;
    e->type = -1;
    e->count = -1;
    e->ref_count = -1;
    e->ref_proc = e->ref_slot = -1;
    st.expect = e;
    /* The text of the statement, from `expect` to the comment. */
    size_t from = (size_t)col - 1, to = from;
    while (to < ps->llen && ps->lp[to] != '#')
        to++;
    while (to > from && (ps->lp[to - 1] == ' ' || ps->lp[to - 1] == '\t'))
        to--;
    size_t fix_before = ps->nfix;
    if (!(e->text = mem_strndup(ps->lp + from, to - from)) || parse_expect_dump(ps, e) < 0) {
        int was_oom = e->text == NULL;
        /* Fixups already registered point at e: drop them before releasing it. */
        while (ps->nfix > fix_before)
            mem_free(ps->fix[--ps->nfix].name);
        stmt_release(&st);
        return was_oom ? oom(ps) : -1;
    }
    return push_stmt(ps, &st);
}

static int parse_simple(parser *ps, scn_op op, int col) {
    scn_stmt st;
    stmt_init(ps, &st, op, col);
    lex(ps);
    if (expect_eol(ps) < 0)
        return -1;
    return push_stmt(ps, &st);
}

static int parse_statement(parser *ps) {
    int col = ps->tok.col;
    if (ps->ended && !tok_punct(ps, '}'))
        return expected(ps, "the end of the process (nothing may follow exit or crash)");
    if (tok_is(ps, "alloc"))
        return parse_alloc(ps, col);
    if (tok_is(ps, "free"))
        return parse_buffer_ref(ps, SCN_FREE, col);
    if (tok_is(ps, "program"))
        return parse_program(ps, col);
    if (tok_is(ps, "trace"))
        return parse_trace(ps, col);
    if (tok_is(ps, "decode"))
        return parse_decode(ps, col);
    if (tok_is(ps, "expect"))
        return parse_expect(ps, col);
    if (tok_is(ps, "send"))
        return parse_send(ps, col);
    if (tok_is(ps, "close"))
        return parse_simple(ps, SCN_CLOSE, col);
    if (tok_is(ps, "dump"))
        return parse_simple(ps, SCN_DUMP, col);
    if (tok_is(ps, "exit") || tok_is(ps, "crash")) {
        scn_op op = tok_is(ps, "exit") ? SCN_EXIT : SCN_CRASH;
        if (ps->depth > 0)
            return expected(ps, "a statement allowed inside repeat (exit and crash end the process)");
        ps->ended = 1;
        return parse_simple(ps, op, col);
    }
    if (tok_is(ps, "open")) {
        scn_stmt st;
        stmt_init(ps, &st, SCN_OPEN, col);
        lex(ps);
        if (ps->s->nmeshes == 0)
            return fail_at(ps, ps->line, col, "expected a mesh statement before the first process, found none");
        st.slot = 0;
        if (ps->tok.kind == TK_WORD) {
            int found = -1;
            for (int i = 0; i < ps->s->nmeshes; i++)
                if (strlen(ps->s->meshes[i].name) == ps->tok.len &&
                    memcmp(ps->s->meshes[i].name, ps->tok.p, ps->tok.len) == 0)
                    found = i;
            if (found < 0)
                return expected(ps, "the name of a declared mesh");
            st.slot = found;
            lex(ps);
        }
        if (expect_eol(ps) < 0)
            return -1;
        return push_stmt(ps, &st);
    }
    if (tok_is(ps, "clear")) {
        lex(ps);
        if (!tok_is(ps, "program"))
            return expected(ps, "'program' (clear program cache)");
        lex(ps);
        if (!tok_is(ps, "cache"))
            return expected(ps, "'cache' (clear program cache)");
        return parse_simple(ps, SCN_CACHE_CLEAR, col);
    }
    if (tok_is(ps, "wait")) {
        scn_stmt st;
        stmt_init(ps, &st, SCN_WAIT, col);
        lex(ps);
        if (take_time_range(ps, &st.time_ns) < 0 || expect_eol(ps) < 0)
            return -1;
        return push_stmt(ps, &st);
    }
    if (tok_is(ps, "query")) {
        scn_stmt st;
        stmt_init(ps, &st, SCN_QUERY, col);
        st.devs.all = 1;
        lex(ps);
        if (ps->tok.kind != TK_EOL && parse_devsel(ps, &st.devs) < 0)
            return -1;
        if (expect_eol(ps) < 0)
            return -1;
        return push_stmt(ps, &st);
    }
    if (tok_is(ps, "phase")) {
        scn_stmt st;
        stmt_init(ps, &st, SCN_PHASE, col);
        lex(ps);
        if (ps->tok.kind == TK_EOL)
            return expected(ps, "a phase label");
        if (!(st.text = rest_of_line(ps)))
            return oom(ps);
        if (strchr(st.text, '\t')) {
            mem_free(st.text);
            return fail_at(ps, ps->line, ps->tok.col, "expected a phase label without tabs, found a tab");
        }
        return push_stmt(ps, &st);
    }
    if (tok_is(ps, "repeat")) {
        lex(ps);
        uint64_t n;
        if (take_uint(ps, UINT64_MAX, "a repeat count", &n) < 0)
            return -1;
        if (!tok_punct(ps, '{'))
            return expected(ps, "'{'");
        lex(ps);
        if (expect_eol(ps) < 0)
            return -1;
        if (ps->pending_error)
            return fail_at(ps, ps->line, col, "expected a statement that can fail after 'expect error', found 'repeat'");
        if (ps->depth == SCN_MAX_DEPTH)
            return fail_at(ps, ps->line, col, "expected at most %d nested repeat blocks, found more", SCN_MAX_DEPTH);
        stmt_list *l = &ps->stack[++ps->depth];
        memset(l, 0, sizeof *l);
        l->line = ps->line;
        l->col = col;
        l->count = n;
        return 0;
    }
    if (tok_punct(ps, '}')) {
        if (ps->depth == 0)
            return expected(ps, "a statement ('}' closes nothing here)");
        if (ps->pending_error)
            return expected(ps, "a statement after 'expect error'");
        lex(ps);
        if (expect_eol(ps) < 0)
            return -1;
        stmt_list l = ps->stack[ps->depth--];
        scn_stmt st;
        stmt_init(ps, &st, SCN_REPEAT, l.col);
        st.line = l.line;
        st.count = l.count;
        st.body = l.v;
        st.nbody = l.n;
        return push_stmt(ps, &st);
    }
    return expected(ps, "a statement (open, alloc, free, program, clear, trace, decode, wait, query, dump, "
                        "phase, expect, repeat, send, close, exit, crash or process)");
}

/* ---- top level ------------------------------------------------------------------------ */

/* Closes the current process: its body must be complete. */
static int end_process(parser *ps, const char *found) {
    if (ps->proc < 0)
        return 0;
    if (ps->depth > 0)
        return fail_at(ps, ps->line, ps->tok.col, "expected '}' to close the repeat of line %d, found %s",
                       ps->stack[ps->depth].line, found);
    if (ps->pending_error)
        return fail_at(ps, ps->line, ps->tok.col, "expected a statement after the 'expect error' of line %d, found %s",
                       ps->pending_line, found);
    scn_process *p = cur_proc(ps);
    p->stmts = ps->stack[0].v;
    p->nstmts = ps->stack[0].n;
    memset(&ps->stack[0], 0, sizeof ps->stack[0]);
    return 0;
}

typedef struct {
    const char *key;
    int kind; /* 0 size, 1 u32 count, 2 on/off, 3 order list, 4 device count */
    size_t off;
} mesh_key;

#define MK(k, kind, field) {k, kind, offsetof(dev_config, field)}
static const mesh_key mesh_keys[] = {
    MK("trace_region_size", 0, trace_region_size), MK("l1_small_size", 0, l1_small_size),
    MK("dram_bank_size", 0, dram_bank_size),       MK("l1_size", 0, l1_size_per_core),
    MK("l1_unreserved_base", 0, l1_unreserved_base), MK("dram_banks", 1, dram_banks),
    MK("dram_alignment", 1, dram_alignment),       MK("l1_alignment", 1, l1_alignment),
    MK("l1_banks", 1, l1_banks),                   MK("profiler_cores", 1, profiler_cores),
    MK("profiler", 2, profiler),                   MK("order", 3, device_order),
    MK("devices", 4, num_devices),
};
#undef MK

static int parse_mesh_option(parser *ps, dev_config *cfg) {
    const mesh_key *k = NULL;
    for (size_t i = 0; i < sizeof mesh_keys / sizeof mesh_keys[0]; i++)
        if (tok_is(ps, mesh_keys[i].key))
            k = &mesh_keys[i];
    if (!k)
        return expected(ps, "a mesh option (trace_region_size, l1_small_size, dram_banks, dram_bank_size, "
                            "dram_alignment, l1_alignment, l1_size, l1_banks, l1_unreserved_base, profiler, "
                            "profiler_cores, order, devices) or as NAME");
    lex(ps);
    if (!tok_punct(ps, '='))
        return expected(ps, "'='");
    lex(ps);
    char *field = (char *)cfg + k->off;
    uint64_t v;
    switch (k->kind) {
    case 0:
        if (take_size(ps, &v) < 0)
            return -1;
        memcpy(field, &v, sizeof v);
        return 0;
    case 1: {
        if (take_uint(ps, UINT32_MAX, "a number", &v) < 0)
            return -1;
        uint32_t w = (uint32_t)v;
        memcpy(field, &w, sizeof w);
        return 0;
    }
    case 2:
        if (tok_is(ps, "on") || tok_is(ps, "off")) {
            cfg->profiler = tok_is(ps, "on");
            lex(ps);
            return 0;
        }
        return expected(ps, "on or off");
    case 3: {
        int n = 0;
        for (;;) {
            if (n == DEV_MAX_DEVICES)
                return expected(ps, "at most 256 devices in order");
            if (take_uint(ps, DEV_MAX_DEVICES - 1, "a device id", &v) < 0)
                return -1;
            cfg->device_order[n++] = (int)v;
            if (!tok_punct(ps, ','))
                break;
            lex(ps);
        }
        cfg->num_devices = n;
        cfg->mesh_rows = 1;
        cfg->mesh_cols = n;
        return 0;
    }
    default:
        if (take_uint(ps, DEV_MAX_DEVICES, "a device count", &v) < 0)
            return -1;
        cfg->num_devices = (int)v;
        cfg->mesh_rows = 1;
        cfg->mesh_cols = (int)v;
        for (int i = 0; i < (int)v; i++)
            cfg->device_order[i] = i;
        return 0;
    }
}

static int parse_mesh(parser *ps, int col) {
    lex(ps);
    dev_config cfg;
    char preset[32];
    if (ps->tok.kind != TK_WORD || ps->tok.len >= sizeof preset)
        return expected(ps, "a device preset");
    snprintf(preset, sizeof preset, "%.*s", (int)ps->tok.len, ps->tok.p);
    if (dev_preset(preset, &cfg) < 0) {
        char what[128];
        snprintf(what, sizeof what, "a device preset (%s)", dev_preset_names());
        return expected(ps, what);
    }
    lex(ps);
    char *name = NULL;
    if (tok_is(ps, "as")) {
        lex(ps);
        if (!is_name(&ps->tok))
            return expected(ps, "a mesh name");
        if (!(name = tok_dup(ps)))
            return oom(ps);
        lex(ps);
    } else if (!(name = mem_strdup(preset))) {
        return oom(ps);
    }
    if (ps->s->nmeshes == SCN_MAX_MESHES) {
        mem_free(name);
        return fail_at(ps, ps->line, col, "expected at most %d meshes, found more", SCN_MAX_MESHES);
    }
    for (int i = 0; i < ps->s->nmeshes; i++) {
        if (strcmp(ps->s->meshes[i].name, name) == 0) {
            int r = fail_at(ps, ps->line, col, "expected a new mesh name (use 'as NAME'), found '%s' again", name);
            mem_free(name);
            return r;
        }
    }
    while (ps->tok.kind != TK_EOL) {
        if (parse_mesh_option(ps, &cfg) < 0) {
            mem_free(name);
            return -1;
        }
    }
    char verr[200];
    if (dev_config_validate(&cfg, verr, sizeof verr) < 0) {
        mem_free(name);
        return fail_at(ps, ps->line, col, "expected a valid mesh configuration, found %s", verr);
    }
    if (ps->s->nmeshes == ps->cap_meshes) { /* geometric: a mesh is over 1 KiB */
        int cap = ps->cap_meshes ? 2 * ps->cap_meshes : 4;
        scn_mesh *nv = mem_realloc(ps->s->meshes, sizeof *nv * (size_t)cap);
        if (!nv) {
            mem_free(name);
            return oom(ps);
        }
        ps->s->meshes = nv;
        ps->cap_meshes = cap;
    }
    scn_mesh *nv = ps->s->meshes;
    scn_mesh *m = &nv[ps->s->nmeshes++];
    m->name = name;
    m->line = ps->line;
    m->col = col;
    m->cfg = cfg;
    return 0;
}

static int parse_process(parser *ps, int col) {
    if (end_process(ps, "'process'") < 0)
        return -1;
    lex(ps);
    if (!is_name(&ps->tok))
        return expected(ps, "a process name");
    for (int i = 0; i < ps->s->nprocs; i++)
        if (strlen(ps->s->procs[i].name) == ps->tok.len && memcmp(ps->s->procs[i].name, ps->tok.p, ps->tok.len) == 0)
            return expected(ps, "a new process name");
    if (ps->s->nprocs == SCN_MAX_PROCESSES)
        return fail_at(ps, ps->line, col, "expected at most %d processes, found more", SCN_MAX_PROCESSES);
    if (ps->s->nprocs == ps->cap_procs) {
        int cap = ps->cap_procs ? 2 * ps->cap_procs : 4;
        name_index (*ix)[NAMES_KINDS] = mem_realloc(ps->names, sizeof *ix * (size_t)cap);
        if (!ix)
            return oom(ps);
        ps->names = ix;
        scn_process *np = mem_realloc(ps->s->procs, sizeof *np * (size_t)cap);
        if (!np)
            return oom(ps);
        ps->s->procs = np;
        ps->cap_procs = cap;
    }
    memset(ps->names[ps->s->nprocs], 0, sizeof ps->names[0]);
    scn_process *nv = ps->s->procs;
    scn_process *p = &nv[ps->s->nprocs];
    memset(p, 0, sizeof *p);
    if (!(p->name = tok_dup(ps)))
        return oom(ps);
    p->line = ps->line;
    p->col = col;
    ps->proc = ps->s->nprocs++;
    ps->ended = 0;
    lex(ps);
    return expect_eol(ps);
}

static int parse_top(parser *ps) {
    int col = ps->tok.col;
    if (tok_is(ps, "process"))
        return parse_process(ps, col);
    if (ps->proc >= 0) {
        if (tok_is(ps, "mesh") || tok_is(ps, "protocol") || tok_is(ps, "seed"))
            return expected(ps, "a process statement (mesh, protocol and seed come before the first process)");
        return parse_statement(ps);
    }
    if (tok_is(ps, "mesh"))
        return parse_mesh(ps, col);
    if (tok_is(ps, "protocol")) {
        if (ps->s->has_rev)
            return expected(ps, "one protocol statement, not two");
        lex(ps);
        char name[16];
        snprintf(name, sizeof name, "%.*s", (int)(ps->tok.len < 15 ? ps->tok.len : 15), ps->tok.p);
        if (ps->tok.kind != TK_WORD || ps->tok.len >= 15 || proto_rev_parse(name, &ps->s->rev) < 0) {
            char what[96];
            snprintf(what, sizeof what, "a protocol revision (%s)", proto_rev_names());
            return expected(ps, what);
        }
        ps->s->has_rev = 1;
        lex(ps);
        return expect_eol(ps);
    }
    if (tok_is(ps, "seed")) {
        if (ps->s->has_seed)
            return expected(ps, "one seed statement, not two");
        lex(ps);
        if (take_uint(ps, UINT64_MAX, "a seed", &ps->s->seed) < 0)
            return -1;
        ps->s->has_seed = 1;
        return expect_eol(ps);
    }
    return expected(ps, "protocol, seed, mesh or process");
}

/* Checks the text before parsing: UTF-8, no NUL. */
static int check_encoding(parser *ps) {
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < ps->len;) {
        unsigned char c = (unsigned char)ps->text[i];
        int col = (int)(i - line_start) + 1;
        if (c == '\n') {
            line++;
            line_start = ++i;
            continue;
        }
        if (c == 0)
            return fail_at(ps, line, col, "expected text, found a NUL byte");
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        int ok = n > 0 && i + n <= ps->len;
        for (size_t k = 1; ok && k < n; k++)
            ok = ((unsigned char)ps->text[i + k] & 0xc0) == 0x80;
        if (ok && n == 3) {
            unsigned char c1 = (unsigned char)ps->text[i + 1];
            ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 > 0x9f); /* overlong, surrogates */
        }
        if (ok && n == 4) {
            unsigned char c1 = (unsigned char)ps->text[i + 1];
            ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 > 0x8f);
        }
        if (!ok)
            return fail_at(ps, line, col, "expected UTF-8 text, found byte 0x%02x", c);
        i += n;
    }
    return 0;
}

static int resolve_fixups(parser *ps) {
    for (size_t i = 0; i < ps->nfix; i++) {
        fixup *f = &ps->fix[i];
        const char *name = f->name;
        int proc = f->proc;
        int found = -1;
        if (f->is_process) {
            for (int k = 0; k < ps->s->nprocs; k++)
                if (strcmp(ps->s->procs[k].name, name) == 0)
                    found = k;
            if (found < 0)
                return fail_at(ps, f->line, f->col, "expected a process name, found '%s'", name);
            continue;
        }
        const char *dot = strrchr(name, '.');
        if (dot) {
            proc = -1;
            for (int k = 0; k < ps->s->nprocs; k++)
                if (strlen(ps->s->procs[k].name) == (size_t)(dot - name) &&
                    memcmp(ps->s->procs[k].name, name, (size_t)(dot - name)) == 0)
                    proc = k;
            if (proc < 0)
                return fail_at(ps, f->line, f->col, "expected PROCESS.BUFFER with a declared process, found '%s'", name);
            name = dot + 1;
        }
        scn_process *p = &ps->s->procs[proc];
        found = name_find(&ps->names[proc][NAMES_BUFFERS], p->buffers, name, strlen(name));
        if (found < 0)
            return fail_at(ps, f->line, f->col, "expected a buffer that process %s allocates, found '%s'", p->name,
                           f->name);
        f->e->ref_proc = proc;
        f->e->ref_slot = found;
    }
    return 0;
}

static void parser_release(parser *ps) {
    for (int d = 0; d <= ps->depth && d <= SCN_MAX_DEPTH; d++)
        stmts_release(ps->stack[d].v, ps->stack[d].n);
    for (size_t i = 0; i < ps->nfix; i++)
        mem_free(ps->fix[i].name);
    mem_free(ps->fix);
    mem_free(ps->pending_error);
    for (int p = 0; ps->names && p < ps->s->nprocs; p++)
        for (int k = 0; k < NAMES_KINDS; k++)
            mem_free(ps->names[p][k].v);
    mem_free(ps->names);
}

int scn_parse(const char *text, size_t len, const char *path, scn_script **out, char *err, size_t errlen) {
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.path = path ? path : "<scenario>";
    ps.text = text ? text : "";
    ps.len = text ? len : 0;
    ps.err = err;
    ps.errlen = errlen;
    ps.proc = -1;
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    if (!(ps.s = mem_calloc(1, sizeof *ps.s)) || !(ps.s->path = mem_strdup(ps.path))) {
        scn_script_free(ps.s);
        if (errlen)
            snprintf(err, errlen, "%s: out of memory", ps.path);
        return -1;
    }
    int rc = check_encoding(&ps);
    while (rc == 0 && next_line(&ps)) {
        if (ps.tok.kind == TK_EOL)
            continue;
        rc = parse_top(&ps);
    }
    if (rc == 0) {
        ps.tok.kind = TK_EOL;
        ps.tok.col = 1;
        if (ps.line == 0)
            ps.line = 1;
        else if (ps.len > 0 && ps.text[ps.len - 1] == '\n')
            ps.line++;
        rc = end_process(&ps, "end of file");
        if (rc == 0 && ps.s->nprocs == 0)
            rc = fail_at(&ps, ps.line, 1, "expected a process, found end of file");
    }
    if (rc == 0)
        rc = resolve_fixups(&ps);
    parser_release(&ps);
    if (rc < 0) {
        scn_script_free(ps.s);
        return -1;
    }
    *out = ps.s;
    return 0;
}

void scn_script_free(scn_script *s) {
    if (!s)
        return;
    for (int i = 0; i < s->nmeshes; i++)
        mem_free(s->meshes[i].name);
    mem_free(s->meshes);
    for (int i = 0; i < s->nprocs; i++) {
        scn_process *p = &s->procs[i];
        mem_free(p->name);
        stmts_release(p->stmts, p->nstmts);
        for (int k = 0; k < p->nbuffers; k++)
            mem_free(p->buffers[k]);
        mem_free(p->buffers);
        for (int k = 0; k < p->nprograms; k++)
            mem_free(p->programs[k]);
        mem_free(p->programs);
        for (int k = 0; k < p->ntraces; k++)
            mem_free(p->traces[k]);
        mem_free(p->traces);
    }
    mem_free(s->procs);
    mem_free(s->path);
    mem_free(s);
}
