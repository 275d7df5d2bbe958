/* scn_parse_cbk: the scenario statements for circular buffers (CBs) and kernels.
 *
 * `program NAME [binary=SIZE,...] [cbs=SIZE,...] [kernel=SIZE,...] [kernel_type=T]
 * [kernel_id=N] [cores=N]`, the `client KEY=VALUE ...` statement (top level and in a process),
 * the raw frames `send cb_alloc|cb_free|kernel_load|kernel_unload|dump_kernels`, the
 * expectations `expect query ...` and `expect kernels ...`, and the mesh options of the kernel
 * model (`kernel_size=binary|per_core`, `eth_cores=N`, `dispatch_cores=N`). Internal to the
 * parser (scn_parser.h); docs/scenarios.md describes the language.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "scn_parser.h"

/* SIZE{,SIZE} into a new array; zero allowed only when allow_zero. */
static int take_size_list(parser *ps, const char *what, int allow_zero, uint64_t **out, size_t *n) {
    for (;;) {
        uint64_t v;
        int c = ps->tok.col;
        if (scnp_take_size(ps, &v) < 0)
            return -1;
        if (v == 0 && !allow_zero)
            return scnp_fail_at(ps, ps->line, c, "expected a %s above 0, found 0", what);
        uint64_t *nv = mem_realloc(*out, sizeof *nv * (*n + 1));
        if (!nv)
            return scnp_oom(ps);
        *out = nv;
        nv[(*n)++] = v;
        if (!scnp_tok_punct(ps, ','))
            return 0;
        scnp_lex(ps);
    }
}

/* application | fabric | dispatch | 0..max */
static int take_kernel_type(parser *ps, uint64_t max, uint8_t *out) {
    static const char *names[] = {"application", "fabric", "dispatch"};
    for (int i = 0; i < 3; i++)
        if (scnp_tok_is(ps, names[i])) {
            *out = (uint8_t)i;
            scnp_lex(ps);
            return 0;
        }
    uint64_t v;
    if (ps->tok.kind != TK_NUM)
        return scnp_expected(ps, max == 2 ? "a kernel type (application, fabric, dispatch or 0..2)"
                                          : "a kernel type (application, fabric, dispatch or 0..255)");
    if (scnp_take_uint(ps, max, "a kernel type", &v) < 0)
        return -1;
    *out = (uint8_t)v;
    return 0;
}

static int program_option(parser *ps, scn_stmt *st, unsigned *seen) {
    static const char *keys[] = {"binary", "cbs", "kernel", "kernel_type", "kernel_id", "cores"};
    int k = -1;
    for (int i = 0; i < 6; i++)
        if (scnp_tok_is(ps, keys[i]))
            k = i;
    if (k < 0 || (*seen >> k) & 1u)
        return scnp_expected(ps, "binary=, cbs=, kernel=, kernel_type=, kernel_id=, cores= (each once) or end of line");
    *seen |= 1u << k;
    if (scnp_take_key(ps, keys[k]) < 0)
        return -1;
    uint64_t v;
    switch (k) {
    case 0:
        return take_size_list(ps, "binary size", 0, &st->binaries, &st->nbinaries);
    case 1:
        return take_size_list(ps, "CB size", 0, &st->cbs, &st->ncbs);
    case 2:
        return take_size_list(ps, "kernel size", 1, &st->kernels, &st->nkernels);
    case 3:
        return take_kernel_type(ps, 2, &st->kernel_type);
    case 4:
        st->has_kernel_id = 1;
        return scnp_take_uint(ps, UINT64_MAX, "a kernel id", &st->kernel_id);
    default:
        if (scnp_take_uint(ps, 1u << 20, "a core count", &v) < 0)
            return -1;
        st->cores = (uint32_t)v;
        return 0;
    }
}

int scnp_parse_program(parser *ps, int col) {
    scn_stmt st;
    scnp_stmt_init(ps, &st, SCN_PROGRAM, col);
    scnp_lex(ps);
    if (!scnp_is_name(&ps->tok))
        return scnp_expected(ps, "a program name");
    scn_process *p = scnp_cur_proc(ps);
    if ((st.slot = scnp_name_slot(ps, NAMES_PROGRAMS, &p->programs, &p->nprograms)) < 0)
        return scnp_oom(ps);
    scnp_lex(ps);
    unsigned seen = 0;
    while (ps->tok.kind != TK_EOL) {
        if (program_option(ps, &st, &seen) < 0) {
            mem_free(st.binaries);
            mem_free(st.cbs);
            mem_free(st.kernels);
            return -1;
        }
    }
    return scnp_push_stmt(ps, &st);
}

/* ---- client --------------------------------------------------------------------------- */

typedef struct {
    const char *key;
    size_t off;
    const char *values[4]; /* value i (1-based in the enum) */
} client_key;

#define CK(k, f, ...) {k, offsetof(scn_client, f), {__VA_ARGS__}}
static const client_key client_keys[] = {
    CK("cbs", cbs, "cb_alloc", "l1_alloc", "none", NULL),
    CK("kernels", kernels, "on", "off", NULL, NULL),
    CK("system_kernels", system_kernels, "on", "off", NULL, NULL),
    CK("reports", reports, "on", "off", NULL, NULL),
    CK("frees", frees, "all", "device0", "none", NULL),
    CK("cb_devices", cb_devices, "all", "device0", "none", NULL),
    CK("kernel_devices", kernel_devices, "all", "device0", "none", NULL),
    CK("cb_free_size", cb_free_size, "stored", "zero", NULL, NULL),
    CK("kernel_size", kernel_size, "real", "zero", NULL, NULL),
    CK("kernel_load", kernel_load, "once", "every_run", NULL, NULL),
    CK("frame_bytes", frame_bytes, NULL, NULL, NULL, NULL), /* a number: take_frame_bytes */
};
#undef CK

/* frame_bytes=72|112|128|144|auto: the struct size of the client's build (S9). */
static int take_frame_bytes(parser *ps, int8_t *field) {
    if (scnp_tok_is(ps, "auto"))
        *field = SCN_AUTO;
    else if (ps->tok.kind == TK_NUM && !ps->tok.unitlen && !ps->tok.frac_digits && !ps->tok.hex)
        for (int8_t i = SCN_FRAME_72; i <= SCN_FRAME_144; i++)
            if (ps->tok.mant == scn_client_frame_bytes(i))
                *field = i;
    if (*field < 0)
        return scnp_expected(ps, "72, 112, 128, 144 or auto for frame_bytes");
    scnp_lex(ps);
    return 0;
}

int scnp_parse_client_opts(parser *ps, scn_client *c) {
    memset(c, -1, sizeof *c);
    if (ps->tok.kind == TK_EOL)
        return scnp_expected(ps, "a client option KEY=VALUE");
    while (ps->tok.kind != TK_EOL) {
        const client_key *k = NULL;
        for (size_t i = 0; i < sizeof client_keys / sizeof client_keys[0]; i++)
            if (scnp_tok_is(ps, client_keys[i].key))
                k = &client_keys[i];
        if (!k)
            return scnp_expected(ps, "a client option (cbs, kernels, system_kernels, reports, frees, cb_devices, "
                                     "kernel_devices, cb_free_size, kernel_size, kernel_load, frame_bytes)");
        if (scnp_take_key(ps, k->key) < 0)
            return -1;
        int8_t *field = (int8_t *)c + k->off;
        if (*field >= 0)
            return scnp_fail_at(ps, ps->line, ps->tok.col, "expected each client option once, found %s twice", k->key);
        if (!k->values[0]) {
            if (take_frame_bytes(ps, field) < 0)
                return -1;
            continue;
        }
        char what[128];
        int n = snprintf(what, sizeof what, "%s", "");
        for (int i = 0; i < 4 && k->values[i]; i++) {
            if (scnp_tok_is(ps, k->values[i]))
                *field = (int8_t)(i + 1);
            n += snprintf(what + n, sizeof what - (size_t)n, "%s%s", i ? " or " : "", k->values[i]);
        }
        if (scnp_tok_is(ps, "auto"))
            *field = SCN_AUTO;
        if (*field < 0) {
            snprintf(what + n, sizeof what - (size_t)n, " or auto for %s", k->key);
            return scnp_expected(ps, what);
        }
        scnp_lex(ps);
    }
    return 0;
}

int scnp_parse_client_stmt(parser *ps, int col) {
    scn_stmt st;
    scnp_stmt_init(ps, &st, SCN_CLIENT, col);
    scnp_lex(ps);
    if (scnp_parse_client_opts(ps, &st.client) < 0)
        return -1;
    return scnp_push_stmt(ps, &st);
}

/* ---- raw frames ----------------------------------------------------------------------- */

int scnp_parse_send_cbk(parser *ps, scn_stmt *st) {
    static const struct {
        const char *name;
        uint8_t type;
    } kinds[] = {{"cb_alloc", PROTO_CB_ALLOC},
                 {"cb_free", PROTO_CB_FREE},
                 {"kernel_load", PROTO_KERNEL_LOAD},
                 {"kernel_unload", PROTO_KERNEL_UNLOAD},
                 {"dump_kernels", PROTO_DUMP_KERNELS}};
    st->send_type = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (scnp_tok_is(ps, kinds[i].name))
            st->send_type = kinds[i].type;
    if (!st->send_type)
        return scnp_expected(ps, "alloc, free, query, cb_alloc, cb_free, kernel_load, kernel_unload or dump_kernels");
    scnp_lex(ps);
    if (st->send_type != PROTO_DUMP_KERNELS) {
        if (!scnp_tok_is(ps, "dev"))
            return scnp_expected(ps, "dev N");
        scnp_lex(ps);
        uint64_t d;
        if (scnp_take_uint(ps, INT32_MAX, "a device id", &d) < 0)
            return -1;
        st->send_device = (int32_t)d;
        if (scnp_take_key(ps, "size") < 0 || scnp_take_size(ps, &st->size.lo) < 0)
            return -1;
        st->size.hi = st->size.lo;
        if (scnp_take_key(ps, "id") < 0 || scnp_take_uint(ps, UINT64_MAX, "an id (CB address or kernel id)", &st->send_buffer_id) < 0)
            return -1;
        if (st->send_type == PROTO_KERNEL_LOAD &&
            (scnp_take_key(ps, "type") < 0 || take_kernel_type(ps, 255, &st->send_buffer_type) < 0))
            return -1;
    }
    if (scnp_expect_eol(ps) < 0)
        return -1;
    return scnp_push_stmt(ps, st);
}

/* ---- expectations --------------------------------------------------------------------- */

static int at_devsel(const parser *ps) {
    return scnp_tok_is(ps, "on") || scnp_tok_is(ps, "all") || scnp_tok_is(ps, "dev") || scnp_tok_is(ps, "devs");
}

static int expect_query(parser *ps, struct scn_expect *e) {
    static const char *keys[SCN_Q_COUNT] = {"dram", "l1", "l1_small", "trace", "cb", "kernel"};
    e->devs.all = 1;
    if (at_devsel(ps) && scnp_parse_devsel(ps, &e->devs) < 0)
        return -1;
    if (!scnp_tok_punct(ps, ':'))
        return scnp_expected(ps, "':'");
    scnp_lex(ps);
    while (ps->tok.kind != TK_EOL) {
        if (scnp_tok_punct(ps, ',')) {
            scnp_lex(ps);
            continue;
        }
        int k = -1;
        for (int i = 0; i < SCN_Q_COUNT; i++)
            if (scnp_tok_is(ps, keys[i]))
                k = i;
        if (k < 0 || (e->qmask >> k) & 1u)
            return scnp_expected(ps, "dram=, l1=, l1_small=, trace=, cb= or kernel= (each once)");
        if (scnp_take_key(ps, keys[k]) < 0 || scnp_take_size(ps, &e->q[k]) < 0)
            return -1;
        e->qmask |= 1u << k;
    }
    if (!e->qmask)
        return scnp_expected(ps, "dram=, l1=, l1_small=, trace=, cb= or kernel=");
    return 0;
}

static int expect_kernels(parser *ps, struct scn_expect *e) {
    e->devs.all = 1;
    if (scnp_tok_is(ps, "total")) {
        e->kind = SCN_EXPECT_KTOTAL;
        scnp_lex(ps);
        uint64_t n;
        if (scnp_take_uint(ps, INT64_MAX, "a number of kernels", &n) < 0)
            return -1;
        e->count = (int64_t)n;
        if (scnp_tok_is(ps, "kernels") || scnp_tok_is(ps, "kernel"))
            scnp_lex(ps);
        return scnp_expect_eol(ps);
    }
    if (scnp_tok_is(ps, "has") || scnp_tok_is(ps, "lacks")) {
        e->kind = scnp_tok_is(ps, "has") ? SCN_EXPECT_KHAS : SCN_EXPECT_KLACKS;
        scnp_lex(ps);
        if (scnp_take_uint(ps, UINT64_MAX, "a kernel id", &e->kernel_id) < 0)
            return -1;
        if (at_devsel(ps) && scnp_parse_devsel(ps, &e->devs) < 0)
            return -1;
        int have_owner = 0;
        while (e->kind == SCN_EXPECT_KHAS && ps->tok.kind != TK_EOL) {
            if (scnp_tok_is(ps, "size") && !e->has_size) {
                if (scnp_take_key(ps, "size") < 0 || scnp_take_size(ps, &e->bytes) < 0)
                    return -1;
                e->has_size = 1;
            } else if (scnp_tok_is(ps, "owner") && !have_owner) {
                if (scnp_take_owner(ps, e) < 0)
                    return -1;
                have_owner = 1;
            } else {
                return scnp_expected(ps, "size=SIZE, owner=PROCESS or end of line");
            }
        }
        return scnp_expect_eol(ps);
    }
    e->kind = SCN_EXPECT_KGROUPS;
    if (at_devsel(ps) && scnp_parse_devsel(ps, &e->devs) < 0)
        return -1;
    if (!scnp_tok_punct(ps, ':'))
        return scnp_expected(ps, "total, has, lacks, a device selection or ':'");
    scnp_lex(ps);
    int any = 0;
    while (ps->tok.kind != TK_EOL) {
        if (scnp_tok_punct(ps, ',')) {
            scnp_lex(ps);
            continue;
        }
        if (scnp_tok_is(ps, "none")) {
            e->none = 1;
            scnp_lex(ps);
        } else if (ps->tok.kind == TK_NUM) {
            if (scnp_take_count_or_size(ps, e, "kernel", "none, N kernels or SIZE bytes") < 0)
                return -1;
        } else {
            return scnp_expected(ps, "none, N kernels or SIZE bytes");
        }
        any = 1;
    }
    if (!any)
        return scnp_expected(ps, "none, N kernels or SIZE bytes");
    if (e->none && (e->count >= 0 || e->has_bytes))
        return scnp_fail_at(ps, ps->line, ps->tok.col, "expected 'none' alone, found it with other conditions");
    return 0;
}

int scnp_parse_expect_ext(parser *ps, struct scn_expect *e, int ext) {
    if (ext == 1) {
        e->kind = SCN_EXPECT_QUERY;
        return expect_query(ps, e);
    }
    return expect_kernels(ps, e);
}

/* ---- mesh options --------------------------------------------------------------------- */

int scnp_parse_mesh_kernel_option(parser *ps, scn_mesh *m) {
    if (scnp_tok_is(ps, "kernel_size")) {
        if (scnp_take_key(ps, "kernel_size") < 0)
            return -1;
        if (!scnp_tok_is(ps, "binary") && !scnp_tok_is(ps, "per_core"))
            return scnp_expected(ps, "binary or per_core");
        m->kernel_per_core = scnp_tok_is(ps, "per_core");
        scnp_lex(ps);
        return 0;
    }
    int eth = scnp_tok_is(ps, "eth_cores");
    if (eth || scnp_tok_is(ps, "dispatch_cores")) {
        uint64_t v;
        if (scnp_take_key(ps, eth ? "eth_cores" : "dispatch_cores") < 0 ||
            scnp_take_uint(ps, 1u << 20, "a core count", &v) < 0)
            return -1;
        *(eth ? &m->eth_cores : &m->dispatch_cores) = (uint32_t)v;
        return 0;
    }
    return 1;
}

/* ---- era ------------------------------------------------------------------------------ */

static int client_written(const scn_client *c) {
    const int8_t *b = (const int8_t *)c;
    for (size_t i = 0; i < sizeof *c; i++)
        if (b[i] > 0)
            return 1;
    return 0;
}

static int stmts_use_cbk(const scn_stmt *st, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const scn_stmt *s = &st[i];
        switch (s->op) {
        case SCN_PROGRAM:
            if (s->ncbs || s->nkernels || s->has_kernel_id || s->cores || s->kernel_type)
                return 1;
            break;
        case SCN_CLIENT:
        case SCN_DUMP_KERNELS:
            return 1;
        case SCN_SEND:
            if (s->send_type >= PROTO_CB_ALLOC)
                return 1;
            break;
        case SCN_EXPECT:
            if ((s->expect->kind == SCN_EXPECT_QUERY && (s->expect->qmask >> SCN_Q_CB) != 0) ||
                s->expect->kind > SCN_EXPECT_QUERY ||
                (s->expect->kind == SCN_EXPECT_CLEANED && (s->expect->cbs >= 0 || s->expect->kernels >= 0)))
                return 1;
            break;
        case SCN_REPEAT:
            if (stmts_use_cbk(s->body, s->nbody))
                return 1;
            break;
        default:
            break;
        }
    }
    return 0;
}

int scn_script_uses_cbk(const scn_script *s) {
    if (client_written(&s->client))
        return 1;
    for (int i = 0; i < s->nmeshes; i++)
        if (s->meshes[i].kernel_per_core)
            return 1;
    for (int i = 0; i < s->nprocs; i++)
        if (stmts_use_cbk(s->procs[i].stmts, s->procs[i].nstmts))
            return 1;
    return 0;
}

static int stmts_set_frame_bytes(const scn_stmt *st, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (st[i].op == SCN_CLIENT && st[i].client.frame_bytes > 0)
            return 1;
        if (st[i].op == SCN_REPEAT && stmts_set_frame_bytes(st[i].body, st[i].nbody))
            return 1;
    }
    return 0;
}

int scn_script_sets_frame_bytes(const scn_script *s) {
    if (s->client.frame_bytes > 0)
        return 1;
    for (int i = 0; i < s->nprocs; i++)
        if (stmts_set_frame_bytes(s->procs[i].stmts, s->procs[i].nstmts))
            return 1;
    return 0;
}
