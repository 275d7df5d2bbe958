/* scn_parse_stmt: the statements of a process body — alloc, free, program, run, trace,
 * decode, send, query, dump, wait, phase, clear, close, exit, crash, repeat blocks and the
 * expectations that follow a statement. Each parse_* function reads the rest of the current
 * line and appends one statement to the innermost open block. Internal to the parser
 * (scn_parser.h).
 */
#include "scn.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "scn_parser.h"

/* ---- statements ----------------------------------------------------------------------- */

scn_process *scnp_cur_proc(parser *ps) { return &ps->s->procs[ps->proc]; }

static void stmt_release(scn_stmt *st);

void scnp_stmts_release(scn_stmt *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        stmt_release(&v[i]);
    mem_free(v);
}

static void stmt_release(scn_stmt *st) {
    mem_free(st->binaries);
    mem_free(st->cbs);
    mem_free(st->kernels);
    mem_free(st->text);
    mem_free(st->expect_error);
    if (st->expect) {
        scn_expect_release(st->expect);
        mem_free(st->expect);
    }
    scnp_stmts_release(st->body, st->nbody);
}

static int push_stmt(parser *ps, scn_stmt *st);
static void stmt_init(parser *ps, scn_stmt *st, scn_op op, int col);
static int parse_devsel(parser *ps, scn_devsel *sel);
static int add_fixup(parser *ps, struct scn_expect *e, const char *p, size_t len, int is_process, int col);

int scnp_push_stmt(parser *ps, scn_stmt *st) { return push_stmt(ps, st); }
void scnp_stmt_init(parser *ps, scn_stmt *st, scn_op op, int col) { stmt_init(ps, st, op, col); }
int scnp_parse_devsel(parser *ps, scn_devsel *sel) { return parse_devsel(ps, sel); }
int scnp_add_fixup(parser *ps, struct scn_expect *e, const char *p, size_t len, int is_process, int col) {
    return add_fixup(ps, e, p, len, is_process, col);
}

/* Appends st to the innermost open block (taking ownership, also on failure). */
static int push_stmt(parser *ps, scn_stmt *st) {
    stmt_list *l = &ps->stack[ps->depth];
    if (ps->pending_error) {
        if (st->op == SCN_REPEAT || st->op == SCN_EXPECT) {
            stmt_release(st);
            return scnp_fail_at(ps, st->line, st->col, "expected a statement that can fail after 'expect error', found '%s'",
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
            return scnp_oom(ps);
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
    if (scnp_tok_is(ps, "on"))
        scnp_lex(ps);
    if (scnp_tok_is(ps, "all")) {
        sel->all = 1;
        scnp_lex(ps);
        return 0;
    }
    int many = scnp_tok_is(ps, "devs");
    if (!many && !scnp_tok_is(ps, "dev"))
        return scnp_expected(ps, "a device selection (all, dev N, devs N,M,... or devs N..M)");
    scnp_lex(ps);
    if (many && scnp_tok_is(ps, "all")) {
        sel->all = 1;
        scnp_lex(ps);
        return 0;
    }
    for (;;) {
        uint64_t a, b;
        if (scnp_take_uint(ps, DEV_MAX_DEVICES - 1, "a device id", &a) < 0)
            return -1;
        b = a;
        if (many && scnp_tok_punct(ps, 'r')) {
            scnp_lex(ps);
            if (scnp_take_uint(ps, DEV_MAX_DEVICES - 1, "a device id", &b) < 0)
                return -1;
            if (b < a)
                return scnp_fail_at(ps, ps->line, ps->tok.col, "expected a range N..M with M >= N, found %" PRIu64 "..%" PRIu64, a, b);
        }
        for (uint64_t d = a; d <= b; d++)
            scnp_devsel_add(sel, d);
        if (!many || !scnp_tok_punct(ps, ','))
            break;
        scnp_lex(ps);
    }
    return 0;
}

static int at_devsel(const parser *ps) {
    return scnp_tok_is(ps, "on") || scnp_tok_is(ps, "all") || scnp_tok_is(ps, "dev") || scnp_tok_is(ps, "devs");
}

static int parse_alloc(parser *ps, int col) {
    scn_stmt st;
    stmt_init(ps, &st, SCN_ALLOC, col);
    st.page_size = 2048;
    st.devs.all = 1;
    scnp_lex(ps);
    if (!scnp_is_name(&ps->tok))
        return scnp_expected(ps, "a buffer name");
    scn_process *p = scnp_cur_proc(ps);
    if ((st.slot = scnp_name_slot(ps, NAMES_BUFFERS, &p->buffers, &p->nbuffers)) < 0)
        return scnp_oom(ps);
    scnp_lex(ps);
    if (scnp_tok_is(ps, "DRAM") || scnp_tok_is(ps, "dram"))
        st.region = DEV_REGION_DRAM;
    else if (scnp_tok_is(ps, "L1") || scnp_tok_is(ps, "l1"))
        st.region = DEV_REGION_L1;
    else if (scnp_tok_is(ps, "L1_SMALL") || scnp_tok_is(ps, "l1_small"))
        st.region = DEV_REGION_L1_SMALL;
    else
        return scnp_expected(ps, "a buffer type DRAM, L1 or L1_SMALL");
    scnp_lex(ps);
    int size_col = ps->tok.col;
    if (scnp_take_size_range(ps, &st.size) < 0)
        return -1;
    if (st.size.lo == 0)
        return scnp_fail_at(ps, ps->line, size_col, "expected a size above 0, found 0 (zero-size buffers are never reported)");
    int have_dir = 0, have_sel = 0, have_page = 0, have_shard = 0;
    while (ps->tok.kind != TK_EOL) {
        if (scnp_tok_is(ps, "page") && !have_page) {
            int c = ps->tok.col;
            if (scnp_take_key(ps, "page") < 0 || scnp_take_size(ps, &st.page_size) < 0)
                return -1;
            if (st.page_size == 0)
                return scnp_fail_at(ps, ps->line, c, "expected a page size above 0, found 0");
            have_page = 1;
        } else if ((scnp_tok_is(ps, "shard") || scnp_tok_is(ps, "sharded")) && !have_shard) {
            scnp_lex(ps);
            if (!scnp_tok_punct(ps, '='))
                return scnp_expected(ps, "'='");
            scnp_lex(ps);
            uint64_t k;
            if (scnp_take_uint(ps, UINT32_MAX, "a core count", &k) < 0)
                return -1;
            if (k == 0)
                return scnp_fail_at(ps, ps->line, ps->tok.col, "expected a core count above 0, found 0");
            st.shard_cores = (uint32_t)k;
            have_shard = 1;
        } else if ((scnp_tok_is(ps, "bottom_up") || scnp_tok_is(ps, "top_down")) && !have_dir) {
            st.dir = scnp_tok_is(ps, "bottom_up") ? SCN_DIR_BOTTOM_UP : SCN_DIR_TOP_DOWN;
            have_dir = 1;
            scnp_lex(ps);
        } else if (at_devsel(ps) && !have_sel) {
            if (parse_devsel(ps, &st.devs) < 0)
                return -1;
            have_sel = 1;
        } else {
            return scnp_expected(ps, "page=SIZE, shard=N, bottom_up, top_down, on SEL or end of line");
        }
    }
    if (st.region == DEV_REGION_L1_SMALL && !st.shard_cores)
        return scnp_fail_at(ps, ps->line, ps->tok.col,
                       "expected shard=N (L1_SMALL buffers are sharded only), found end of line");
    return push_stmt(ps, &st);
}

static int parse_buffer_ref(parser *ps, scn_op op, int col) {
    scn_stmt st;
    stmt_init(ps, &st, op, col);
    scnp_lex(ps);
    scn_process *p = scnp_cur_proc(ps);
    if (!scnp_is_name(&ps->tok))
        return scnp_expected(ps, "a buffer name");
    st.slot = scnp_name_find(&ps->names[ps->proc][NAMES_BUFFERS], p->buffers, ps->tok.p, ps->tok.len);
    if (st.slot < 0)
        return scnp_expected(ps, "a buffer allocated earlier in this process");
    scnp_lex(ps);
    if (scnp_expect_eol(ps) < 0)
        return -1;
    return push_stmt(ps, &st);
}

/* A trace id: a word or a plain number, kept as text. create: begin may add a new slot. */
static int take_trace(parser *ps, int create, int *slot) {
    scn_process *p = scnp_cur_proc(ps);
    if (!(ps->tok.kind == TK_WORD && scnp_is_name(&ps->tok)) &&
        !(ps->tok.kind == TK_NUM && !ps->tok.unitlen && !ps->tok.frac_digits))
        return scnp_expected(ps, "a trace id");
    if (create) {
        if ((*slot = scnp_name_slot(ps, NAMES_TRACES, &p->traces, &p->ntraces)) < 0)
            return scnp_oom(ps);
    } else if ((*slot = scnp_name_find(&ps->names[ps->proc][NAMES_TRACES], p->traces, ps->tok.p, ps->tok.len)) < 0) {
        return scnp_expected(ps, "a trace begun earlier in this process");
    }
    scnp_lex(ps);
    return 0;
}

static int take_step_option(parser *ps, scn_stmt *st, int *have) {
    if (*have)
        return scnp_expected(ps, "end of line");
    if (scnp_take_key(ps, "step") < 0 || scnp_take_time_range(ps, &st->time_ns) < 0)
        return -1;
    *have = 1;
    return 0;
}

static int parse_trace(parser *ps, int col) {
    scn_stmt st;
    scnp_lex(ps);
    int have_step = 0;
    if (scnp_tok_is(ps, "begin")) {
        stmt_init(ps, &st, SCN_TRACE_BEGIN, col);
        scnp_lex(ps);
        if (take_trace(ps, 1, &st.slot) < 0)
            return -1;
    } else if (scnp_tok_is(ps, "end")) {
        stmt_init(ps, &st, SCN_TRACE_END, col);
        scnp_lex(ps);
        if (take_trace(ps, 0, &st.slot) < 0)
            return -1;
        int c = ps->tok.col;
        if (scnp_take_key(ps, "size") < 0 || scnp_take_size_range(ps, &st.size) < 0)
            return -1;
        if (st.size.lo == 0)
            return scnp_fail_at(ps, ps->line, c, "expected a trace size above 0, found 0");
    } else if (scnp_tok_is(ps, "replay")) {
        stmt_init(ps, &st, SCN_TRACE_REPLAY, col);
        st.count = 1;
        st.time_ns.lo = st.time_ns.hi = 1000000;
        scnp_lex(ps);
        if (take_trace(ps, 0, &st.slot) < 0)
            return -1;
        if (ps->tok.kind == TK_NUM) {
            if (scnp_take_uint(ps, UINT64_MAX, "a replay count", &st.count) < 0)
                return -1;
            if (!scnp_tok_is(ps, "times") && !scnp_tok_is(ps, "time"))
                return scnp_expected(ps, "'times'");
            scnp_lex(ps);
        }
        if (ps->tok.kind != TK_EOL && take_step_option(ps, &st, &have_step) < 0)
            return -1;
    } else if (scnp_tok_is(ps, "release")) {
        stmt_init(ps, &st, SCN_TRACE_RELEASE, col);
        scnp_lex(ps);
        if (take_trace(ps, 0, &st.slot) < 0)
            return -1;
    } else {
        return scnp_expected(ps, "begin, end, replay or release");
    }
    if (scnp_expect_eol(ps) < 0)
        return -1;
    return push_stmt(ps, &st);
}

static int parse_decode(parser *ps, int col) {
    scn_stmt st;
    stmt_init(ps, &st, SCN_DECODE, col);
    st.time_ns.lo = st.time_ns.hi = 1000000;
    scnp_lex(ps);
    if (scnp_take_uint(ps, UINT64_MAX, "a number of decode steps", &st.count) < 0)
        return -1;
    if (!scnp_tok_is(ps, "steps") && !scnp_tok_is(ps, "step"))
        return scnp_expected(ps, "'steps'");
    scnp_lex(ps);
    int have_trace = 0, have_step = 0;
    while (ps->tok.kind != TK_EOL) {
        if (scnp_tok_is(ps, "trace") && !have_trace) {
            if (scnp_take_key(ps, "trace") < 0 || take_trace(ps, 0, &st.slot) < 0)
                return -1;
            have_trace = 1;
        } else if (scnp_tok_is(ps, "step") && !have_step) {
            if (take_step_option(ps, &st, &have_step) < 0)
                return -1;
        } else {
            return scnp_expected(ps, "trace=ID, step=TIME or end of line");
        }
    }
    return push_stmt(ps, &st);
}

/* Raw frames: send alloc dev N size=SIZE type=TYPE id=ADDR | send free dev N id=ADDR |
 * send query dev N. */
static int parse_send(parser *ps, int col) {
    scn_stmt st;
    stmt_init(ps, &st, SCN_SEND, col);
    scnp_lex(ps);
    if (scnp_tok_is(ps, "alloc"))
        st.send_type = PROTO_ALLOC;
    else if (scnp_tok_is(ps, "free"))
        st.send_type = PROTO_FREE;
    else if (scnp_tok_is(ps, "query"))
        st.send_type = PROTO_QUERY;
    else
        return scnp_parse_send_cbk(ps, &st);
    scnp_lex(ps);
    if (!scnp_tok_is(ps, "dev"))
        return scnp_expected(ps, "dev N");
    scnp_lex(ps);
    uint64_t d;
    if (scnp_take_uint(ps, INT32_MAX, "a device id", &d) < 0)
        return -1;
    st.send_device = (int32_t)d;
    if (st.send_type == PROTO_ALLOC) {
        if (scnp_take_key(ps, "size") < 0 || scnp_take_size(ps, &st.size.lo) < 0)
            return -1;
        st.size.hi = st.size.lo;
        if (scnp_take_key(ps, "type") < 0)
            return -1;
        if (ps->tok.kind == TK_NUM) {
            uint64_t t;
            if (scnp_take_uint(ps, 255, "a buffer type", &t) < 0)
                return -1;
            st.send_buffer_type = (uint8_t)t;
        } else {
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)(ps->tok.len < 31 ? ps->tok.len : 31), ps->tok.p);
            int t = ps->tok.kind == TK_WORD ? proto_buffer_type_parse(name) : -1;
            if (t < 0)
                return scnp_expected(ps, "a buffer type (DRAM, L1, SYSTEM_MEMORY, L1_SMALL, TRACE or 0..255)");
            st.send_buffer_type = (uint8_t)t;
            scnp_lex(ps);
        }
    }
    if (st.send_type != PROTO_QUERY) {
        if (scnp_take_key(ps, "id") < 0 || scnp_take_uint(ps, UINT64_MAX, "a buffer id", &st.send_buffer_id) < 0)
            return -1;
    }
    if (scnp_expect_eol(ps) < 0)
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
            return scnp_oom(ps);
        ps->fix = nv;
        ps->capfix = cap;
    }
    fixup *f = &ps->fix[ps->nfix];
    if (!(f->name = mem_strndup(p, len)))
        return scnp_oom(ps);
    f->e = e;
    f->proc = ps->proc;
    f->is_process = is_process;
    f->line = ps->line;
    f->col = col;
    ps->nfix++;
    return 0;
}


/* `owner=PROCESS` of an expectation: the process name, resolved after the whole file is read.
 * Returns 0, or -1 with the located error. */
int scnp_take_owner(parser *ps, struct scn_expect *e) {
    if (scnp_take_key(ps, "owner") < 0)
        return -1;
    if (!scnp_is_name(&ps->tok))
        return scnp_expected(ps, "a process name");
    if (!(e->process = scnp_tok_dup(ps)) || add_fixup(ps, e, ps->tok.p, ps->tok.len, 1, ps->tok.col) < 0)
        return e->process ? -1 : scnp_oom(ps);
    scnp_lex(ps);
    return 0;
}

/* The `N NOUNs` or `SIZE [bytes]` condition of an expectation, at a number token: sets
 * e->count or e->bytes (each at most once). noun is "buffer" or "kernel"; all names every
 * condition the caller accepts, for the error when neither fits. Returns 0, or -1 with the
 * located error. */
int scnp_take_count_or_size(parser *ps, struct scn_expect *e, const char *noun, const char *all) {
    int col = ps->tok.col;
    token num = ps->tok;
    char plural[32];
    snprintf(plural, sizeof plural, "%ss", noun);
    scnp_lex(ps);
    if ((scnp_tok_is(ps, plural) || scnp_tok_is(ps, noun)) && e->count < 0) {
        if (num.unitlen || num.frac_digits || num.overflow || num.mant > INT64_MAX)
            return scnp_fail_at(ps, ps->line, col, "expected a %s count, found '%.*s'", noun, (int)num.len, num.p);
        e->count = (int64_t)num.mant;
        scnp_lex(ps);
        return 0;
    }
    if (e->has_bytes)
        return scnp_fail_at(ps, ps->line, col, "expected %s, found '%.*s'", all, (int)num.len, num.p);
    const char *why;
    int plain = scnp_tok_is(ps, "bytes") || scnp_tok_is(ps, "byte");
    if (!plain && num.unitlen == 0) {
        char what[64];
        snprintf(what, sizeof what, "'%s' or 'bytes'", plural);
        return scnp_expected(ps, what);
    }
    if (scnp_num_value(&num, scnp_size_units, SCNP_SIZE_UNITS, &e->bytes, &why) < 0)
        return scnp_fail_at(ps, ps->line, col, "expected a size, found '%.*s'", (int)num.len, num.p);
    e->has_bytes = 1;
    if (plain)
        scnp_lex(ps);
    return 0;
}

static int parse_conditions(parser *ps, struct scn_expect *e) {
    int any = 0;
    while (ps->tok.kind != TK_EOL) {
        if (scnp_tok_punct(ps, ',')) {
            scnp_lex(ps);
            continue;
        }
        if (scnp_tok_is(ps, "none")) {
            e->none = 1;
            scnp_lex(ps);
        } else if (scnp_tok_is(ps, "at") && !e->has_addr) {
            scnp_lex(ps);
            if (scnp_take_uint(ps, UINT64_MAX, "a buffer id", &e->addr) < 0)
                return -1;
            e->has_addr = 1;
        } else if (ps->tok.kind == TK_NUM) {
            if (scnp_take_count_or_size(ps, e, "buffer", "none, N buffers, SIZE bytes or at ADDR") < 0)
                return -1;
        } else {
            return scnp_expected(ps, "none, N buffers, SIZE bytes or at ADDR");
        }
        any = 1;
    }
    if (!any)
        return scnp_expected(ps, "none, N buffers, SIZE bytes or at ADDR");
    if (e->none && (e->count >= 0 || e->has_bytes || e->has_addr))
        return scnp_fail_at(ps, ps->line, ps->tok.col, "expected 'none' alone, found it with other conditions");
    if ((e->has_bytes || e->has_addr) && e->type < 0)
        return scnp_fail_at(ps, ps->line, ps->tok.col,
                       "expected a buffer type after 'expect dump' (bytes and at need one), found none");
    return 0;
}

static int parse_expect_dump(parser *ps, struct scn_expect *e) {
    if (scnp_tok_is(ps, "total")) {
        e->kind = SCN_EXPECT_TOTAL;
        scnp_lex(ps);
        uint64_t n;
        if (scnp_take_uint(ps, INT64_MAX, "a number of buffers", &n) < 0)
            return -1;
        e->count = (int64_t)n;
        if (scnp_tok_is(ps, "buffers") || scnp_tok_is(ps, "buffer"))
            scnp_lex(ps);
    } else if (scnp_tok_is(ps, "perfect")) {
        e->kind = SCN_EXPECT_PERFECT;
        scnp_lex(ps);
    } else if (scnp_tok_is(ps, "matches")) {
        e->kind = SCN_EXPECT_MODEL;
        scnp_lex(ps);
        if (!scnp_tok_is(ps, "model"))
            return scnp_expected(ps, "'model'");
        scnp_lex(ps);
    } else if (scnp_tok_is(ps, "has") || scnp_tok_is(ps, "lacks")) {
        e->kind = scnp_tok_is(ps, "has") ? SCN_EXPECT_HAS : SCN_EXPECT_LACKS;
        scnp_lex(ps);
        if (ps->tok.kind != TK_WORD)
            return scnp_expected(ps, "a buffer name (NAME or PROCESS.NAME)");
        if (!(e->buffer_name = scnp_tok_dup(ps)))
            return scnp_oom(ps);
        if (add_fixup(ps, e, ps->tok.p, ps->tok.len, 0, ps->tok.col) < 0)
            return -1;
        scnp_lex(ps);
        int have_ref = 0, have_owner = 0;
        while (e->kind == SCN_EXPECT_HAS && ps->tok.kind != TK_EOL) {
            if (scnp_tok_is(ps, "ref_count") && !have_ref) {
                uint64_t n;
                if (scnp_take_key(ps, "ref_count") < 0 || scnp_take_uint(ps, INT32_MAX, "a ref count", &n) < 0)
                    return -1;
                e->ref_count = (int32_t)n;
                have_ref = 1;
            } else if (scnp_tok_is(ps, "owner") && !have_owner) {
                if (scnp_take_owner(ps, e) < 0)
                    return -1;
                have_owner = 1;
            } else {
                return scnp_expected(ps, "ref_count=N, owner=PROCESS or end of line");
            }
        }
    } else if (scnp_tok_is(ps, "cleaned")) {
        e->kind = SCN_EXPECT_CLEANED;
        scnp_lex(ps);
        if (!scnp_is_name(&ps->tok))
            return scnp_expected(ps, "a process name");
        if (!(e->process = scnp_tok_dup(ps)) || add_fixup(ps, e, ps->tok.p, ps->tok.len, 1, ps->tok.col) < 0)
            return e->process ? -1 : scnp_oom(ps);
        scnp_lex(ps);
        if (scnp_tok_punct(ps, ':'))
            scnp_lex(ps);
        while (ps->tok.kind != TK_EOL) {
            if (scnp_tok_punct(ps, ',')) {
                scnp_lex(ps);
                continue;
            }
            uint64_t n;
            if (scnp_take_uint(ps, INT64_MAX, "a number of buffers, CBs or kernels", &n) < 0)
                return -1;
            int64_t *dst = scnp_tok_is(ps, "buffers") || scnp_tok_is(ps, "buffer") ? &e->count
                           : scnp_tok_is(ps, "cbs") || scnp_tok_is(ps, "cb")       ? &e->cbs
                           : scnp_tok_is(ps, "kernels") || scnp_tok_is(ps, "kernel") ? &e->kernels
                                                                                     : NULL;
            if (!dst || *dst >= 0)
                return scnp_expected(ps, "'buffers', 'cbs' or 'kernels' (each at most once)");
            scnp_lex(ps);
            *dst = (int64_t)n;
        }
    } else {
        e->kind = SCN_EXPECT_GROUPS;
        e->devs.all = 1;
        if (ps->tok.kind == TK_WORD && !at_devsel(ps)) {
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)(ps->tok.len < 31 ? ps->tok.len : 31), ps->tok.p);
            int t = ps->tok.len < 31 ? proto_buffer_type_parse(name) : -1;
            if (t < 0)
                return scnp_expected(ps, "a buffer type (DRAM, L1, SYSTEM_MEMORY, L1_SMALL, TRACE), a device selection, "
                                    "total, perfect, has, lacks, cleaned or matches model");
            e->type = t;
            scnp_lex(ps);
        }
        if (at_devsel(ps) && parse_devsel(ps, &e->devs) < 0)
            return -1;
        if (!scnp_tok_punct(ps, ':'))
            return scnp_expected(ps, "':'");
        scnp_lex(ps);
        return parse_conditions(ps, e);
    }
    return scnp_expect_eol(ps);
}

static int parse_expect(parser *ps, int col) {
    scnp_lex(ps);
    /* `expect poc ...` / `expect enhanced ...`: only against that dialect's server. */
    int dialect = scnp_tok_is(ps, "poc") ? SCN_DIALECT_POC : scnp_tok_is(ps, "enhanced") ? SCN_DIALECT_ENHANCED : SCN_DIALECT_ANY;
    if (dialect) {
        scnp_lex(ps);
        if (!scnp_tok_is(ps, "dump") && !scnp_tok_is(ps, "query") && !scnp_tok_is(ps, "kernels"))
            return scnp_expected(ps, "dump, query or kernels after the dialect");
    }
    if (scnp_tok_is(ps, "error")) {
        if (ps->pending_error)
            return scnp_fail_at(ps, ps->line, col, "expected a statement after 'expect error', found another 'expect error'");
        scnp_lex(ps);
        if (ps->tok.kind == TK_EOL)
            return scnp_expected(ps, "the text the error must contain");
        if (!(ps->pending_error = rest_of_line(ps)))
            return scnp_oom(ps);
        ps->pending_line = ps->line;
        ps->pending_col = col;
        return 0;
    }
    int ext = scnp_tok_is(ps, "query") ? 1 : scnp_tok_is(ps, "kernels") ? 2 : scnp_tok_is(ps, "shm") ? 3 : 0;
    if (!ext && !scnp_tok_is(ps, "dump"))
        return scnp_expected(ps, "dump, query, kernels, shm or error");
    scnp_lex(ps);
    scn_stmt st;
    stmt_init(ps, &st, SCN_EXPECT, col);
    struct scn_expect *e = mem_calloc(1, sizeof *e);
    if (!e)
        return scnp_oom(ps);
    e->line = ps->line;
    e->col = col;
    e->dialect = dialect;
    e->type = -1;
    e->count = -1;
    e->ref_count = -1;
    e->ref_proc = e->ref_slot = -1;
    e->cbs = e->kernels = -1;
    st.expect = e;
    /* The text of the statement, from `expect` to the comment. */
    size_t from = (size_t)col - 1, to = from;
    while (to < ps->llen && ps->lp[to] != '#')
        to++;
    while (to > from && (ps->lp[to - 1] == ' ' || ps->lp[to - 1] == '\t'))
        to--;
    size_t fix_before = ps->nfix;
    if (!(e->text = mem_strndup(ps->lp + from, to - from)) ||
        (ext == 3 ? scnp_parse_expect_shm(ps, e) : ext ? scnp_parse_expect_ext(ps, e, ext) : parse_expect_dump(ps, e)) < 0) {
        int was_oom = e->text == NULL;
        /* Fixups already registered point at e: drop them before releasing it. */
        while (ps->nfix > fix_before)
            mem_free(ps->fix[--ps->nfix].name);
        stmt_release(&st);
        return was_oom ? scnp_oom(ps) : -1;
    }
    return push_stmt(ps, &st);
}

static int parse_simple(parser *ps, scn_op op, int col) {
    scn_stmt st;
    stmt_init(ps, &st, op, col);
    scnp_lex(ps);
    if (scnp_expect_eol(ps) < 0)
        return -1;
    return push_stmt(ps, &st);
}

int scnp_parse_statement(parser *ps) {
    int col = ps->tok.col;
    if (ps->ended && !scnp_tok_punct(ps, '}'))
        return scnp_expected(ps, "the end of the process (nothing may follow exit or crash)");
    if (scnp_tok_is(ps, "alloc"))
        return parse_alloc(ps, col);
    if (scnp_tok_is(ps, "free"))
        return parse_buffer_ref(ps, SCN_FREE, col);
    if (scnp_tok_is(ps, "program"))
        return scnp_parse_program(ps, col);
    if (scnp_tok_is(ps, "client"))
        return scnp_parse_client_stmt(ps, col);
    if (scnp_tok_is(ps, "trace"))
        return parse_trace(ps, col);
    if (scnp_tok_is(ps, "decode"))
        return parse_decode(ps, col);
    if (scnp_tok_is(ps, "expect"))
        return parse_expect(ps, col);
    if (scnp_tok_is(ps, "send"))
        return parse_send(ps, col);
    if (scnp_tok_is(ps, "close"))
        return parse_simple(ps, SCN_CLOSE, col);
    if (scnp_tok_is(ps, "dump")) {
        scnp_lex(ps);
        if (scnp_tok_is(ps, "kernels")) {
            scn_stmt st;
            stmt_init(ps, &st, SCN_DUMP_KERNELS, col);
            scnp_lex(ps);
            if (scnp_expect_eol(ps) < 0)
                return -1;
            return push_stmt(ps, &st);
        }
        scn_stmt st;
        stmt_init(ps, &st, SCN_DUMP, col);
        if (ps->tok.kind != TK_EOL)
            return scnp_expected(ps, "end of line or 'kernels'");
        return push_stmt(ps, &st);
    }
    if (scnp_tok_is(ps, "exit") || scnp_tok_is(ps, "crash")) {
        scn_op op = scnp_tok_is(ps, "exit") ? SCN_EXIT : SCN_CRASH;
        if (ps->depth > 0)
            return scnp_expected(ps, "a statement allowed inside repeat (exit and crash end the process)");
        ps->ended = 1;
        return parse_simple(ps, op, col);
    }
    if (scnp_tok_is(ps, "open")) {
        scn_stmt st;
        stmt_init(ps, &st, SCN_OPEN, col);
        scnp_lex(ps);
        if (ps->s->nmeshes == 0)
            return scnp_fail_at(ps, ps->line, col, "expected a mesh statement before the first process, found none");
        st.slot = 0;
        if (ps->tok.kind == TK_WORD) {
            int found = -1;
            for (int i = 0; i < ps->s->nmeshes; i++)
                if (strlen(ps->s->meshes[i].name) == ps->tok.len &&
                    memcmp(ps->s->meshes[i].name, ps->tok.p, ps->tok.len) == 0)
                    found = i;
            if (found < 0)
                return scnp_expected(ps, "the name of a declared mesh");
            st.slot = found;
            scnp_lex(ps);
        }
        if (scnp_expect_eol(ps) < 0)
            return -1;
        return push_stmt(ps, &st);
    }
    if (scnp_tok_is(ps, "clear")) {
        scnp_lex(ps);
        if (!scnp_tok_is(ps, "program"))
            return scnp_expected(ps, "'program' (clear program cache)");
        scnp_lex(ps);
        if (!scnp_tok_is(ps, "cache"))
            return scnp_expected(ps, "'cache' (clear program cache)");
        return parse_simple(ps, SCN_CACHE_CLEAR, col);
    }
    if (scnp_tok_is(ps, "wait")) {
        scn_stmt st;
        stmt_init(ps, &st, SCN_WAIT, col);
        scnp_lex(ps);
        if (scnp_take_time_range(ps, &st.time_ns) < 0 || scnp_expect_eol(ps) < 0)
            return -1;
        return push_stmt(ps, &st);
    }
    if (scnp_tok_is(ps, "query")) {
        scn_stmt st;
        stmt_init(ps, &st, SCN_QUERY, col);
        st.devs.all = 1;
        scnp_lex(ps);
        if (ps->tok.kind != TK_EOL && parse_devsel(ps, &st.devs) < 0)
            return -1;
        if (scnp_expect_eol(ps) < 0)
            return -1;
        return push_stmt(ps, &st);
    }
    if (scnp_tok_is(ps, "phase")) {
        scn_stmt st;
        stmt_init(ps, &st, SCN_PHASE, col);
        scnp_lex(ps);
        if (ps->tok.kind == TK_EOL)
            return scnp_expected(ps, "a phase label");
        if (!(st.text = rest_of_line(ps)))
            return scnp_oom(ps);
        if (strchr(st.text, '\t')) {
            mem_free(st.text);
            return scnp_fail_at(ps, ps->line, ps->tok.col, "expected a phase label without tabs, found a tab");
        }
        return push_stmt(ps, &st);
    }
    if (scnp_tok_is(ps, "repeat")) {
        scnp_lex(ps);
        uint64_t n;
        if (scnp_take_uint(ps, UINT64_MAX, "a repeat count", &n) < 0)
            return -1;
        if (!scnp_tok_punct(ps, '{'))
            return scnp_expected(ps, "'{'");
        scnp_lex(ps);
        if (scnp_expect_eol(ps) < 0)
            return -1;
        if (ps->pending_error)
            return scnp_fail_at(ps, ps->line, col, "expected a statement that can fail after 'expect error', found 'repeat'");
        if (ps->depth == SCN_MAX_DEPTH)
            return scnp_fail_at(ps, ps->line, col, "expected at most %d nested repeat blocks, found more", SCN_MAX_DEPTH);
        stmt_list *l = &ps->stack[++ps->depth];
        memset(l, 0, sizeof *l);
        l->line = ps->line;
        l->col = col;
        l->count = n;
        return 0;
    }
    if (scnp_tok_punct(ps, '}')) {
        if (ps->depth == 0)
            return scnp_expected(ps, "a statement ('}' closes nothing here)");
        if (ps->pending_error)
            return scnp_expected(ps, "a statement after 'expect error'");
        scnp_lex(ps);
        if (scnp_expect_eol(ps) < 0)
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
    return scnp_expected(ps, "a statement (open, alloc, free, program, clear, trace, decode, wait, query, dump, "
                        "phase, expect, repeat, send, client, close, exit, crash or process)");
}
