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
#include "scn_parser.h"

/* ---- top level ------------------------------------------------------------------------ */

/* Closes the current process: its body must be complete. */
static int end_process(parser *ps, const char *found) {
    if (ps->proc < 0)
        return 0;
    if (ps->depth > 0)
        return scnp_fail_at(ps, ps->line, ps->tok.col, "expected '}' to close the repeat of line %d, found %s",
                       ps->stack[ps->depth].line, found);
    if (ps->pending_error)
        return scnp_fail_at(ps, ps->line, ps->tok.col, "expected a statement after the 'expect error' of line %d, found %s",
                       ps->pending_line, found);
    scn_process *p = scnp_cur_proc(ps);
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
        if (scnp_tok_is(ps, mesh_keys[i].key))
            k = &mesh_keys[i];
    if (!k)
        return scnp_expected(ps, "a mesh option (trace_region_size, l1_small_size, dram_banks, dram_bank_size, "
                            "dram_alignment, l1_alignment, l1_size, l1_banks, l1_unreserved_base, profiler, "
                            "profiler_cores, order, devices, kernel_size, eth_cores, dispatch_cores, shm_layout, "
                            "shm_per_pid, shm_region_size, shm_version_check, shm_claim, shm_idle_reset, shm_cb_update, "
                            "shm_cb_rate_limit, shm_cb_era) or as NAME");
    scnp_lex(ps);
    if (!scnp_tok_punct(ps, '='))
        return scnp_expected(ps, "'='");
    scnp_lex(ps);
    char *field = (char *)cfg + k->off;
    uint64_t v;
    switch (k->kind) {
    case 0:
        if (scnp_take_size(ps, &v) < 0)
            return -1;
        memcpy(field, &v, sizeof v);
        return 0;
    case 1: {
        if (scnp_take_uint(ps, UINT32_MAX, "a number", &v) < 0)
            return -1;
        uint32_t w = (uint32_t)v;
        memcpy(field, &w, sizeof w);
        return 0;
    }
    case 2:
        if (scnp_tok_is(ps, "on") || scnp_tok_is(ps, "off")) {
            cfg->profiler = scnp_tok_is(ps, "on");
            scnp_lex(ps);
            return 0;
        }
        return scnp_expected(ps, "on or off");
    case 3: {
        int n = 0;
        for (;;) {
            if (n == DEV_MAX_DEVICES)
                return scnp_expected(ps, "at most 256 devices in order");
            if (scnp_take_uint(ps, DEV_MAX_DEVICES - 1, "a device id", &v) < 0)
                return -1;
            cfg->device_order[n++] = (int)v;
            if (!scnp_tok_punct(ps, ','))
                break;
            scnp_lex(ps);
        }
        cfg->num_devices = n;
        cfg->mesh_rows = 1;
        cfg->mesh_cols = n;
        return 0;
    }
    default:
        if (scnp_take_uint(ps, DEV_MAX_DEVICES, "a device count", &v) < 0)
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
    scnp_lex(ps);
    dev_config cfg;
    char preset[32];
    if (ps->tok.kind != TK_WORD || ps->tok.len >= sizeof preset)
        return scnp_expected(ps, "a device preset");
    snprintf(preset, sizeof preset, "%.*s", (int)ps->tok.len, ps->tok.p);
    if (dev_preset(preset, &cfg) < 0) {
        char what[128];
        snprintf(what, sizeof what, "a device preset (%s)", dev_preset_names());
        return scnp_expected(ps, what);
    }
    scnp_lex(ps);
    char *name = NULL;
    if (scnp_tok_is(ps, "as")) {
        scnp_lex(ps);
        if (!scnp_is_name(&ps->tok))
            return scnp_expected(ps, "a mesh name");
        if (!(name = scnp_tok_dup(ps)))
            return scnp_oom(ps);
        scnp_lex(ps);
    } else if (!(name = mem_strdup(preset))) {
        return scnp_oom(ps);
    }
    if (ps->s->nmeshes == SCN_MAX_MESHES) {
        mem_free(name);
        return scnp_fail_at(ps, ps->line, col, "expected at most %d meshes, found more", SCN_MAX_MESHES);
    }
    for (int i = 0; i < ps->s->nmeshes; i++) {
        if (strcmp(ps->s->meshes[i].name, name) == 0) {
            int r = scnp_fail_at(ps, ps->line, col, "expected a new mesh name (use 'as NAME'), found '%s' again", name);
            mem_free(name);
            return r;
        }
    }
    scn_mesh km;
    memset(&km, 0, sizeof km);
    km.eth_cores = 16;
    km.dispatch_cores = 2;
    scnp_shm_cols shm_cols;
    memset(&shm_cols, 0, sizeof shm_cols);
    while (ps->tok.kind != TK_EOL) {
        int k = scnp_parse_mesh_kernel_option(ps, &km);
        if (k == 1)
            k = scnp_parse_mesh_shm_option(ps, &cfg, &shm_cols);
        if (k < 0 || (k == 1 && parse_mesh_option(ps, &cfg) < 0)) {
            mem_free(name);
            return -1;
        }
    }
    if (scnp_check_mesh_shm(ps, &cfg, &shm_cols) < 0) {
        mem_free(name);
        return -1;
    }
    char verr[200];
    if (dev_config_validate(&cfg, verr, sizeof verr) < 0) {
        mem_free(name);
        return scnp_fail_at(ps, ps->line, col, "expected a valid mesh configuration, found %s", verr);
    }
    if (ps->s->nmeshes == ps->cap_meshes) { /* geometric: a mesh is over 1 KiB */
        int cap = ps->cap_meshes ? 2 * ps->cap_meshes : 4;
        scn_mesh *nv = mem_realloc(ps->s->meshes, sizeof *nv * (size_t)cap);
        if (!nv) {
            mem_free(name);
            return scnp_oom(ps);
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
    m->kernel_per_core = km.kernel_per_core;
    m->eth_cores = km.eth_cores;
    m->dispatch_cores = km.dispatch_cores;
    return 0;
}

static int parse_process(parser *ps, int col) {
    if (end_process(ps, "'process'") < 0)
        return -1;
    scnp_lex(ps);
    if (!scnp_is_name(&ps->tok))
        return scnp_expected(ps, "a process name");
    for (int i = 0; i < ps->s->nprocs; i++)
        if (strlen(ps->s->procs[i].name) == ps->tok.len && memcmp(ps->s->procs[i].name, ps->tok.p, ps->tok.len) == 0)
            return scnp_expected(ps, "a new process name");
    if (ps->s->nprocs == SCN_MAX_PROCESSES)
        return scnp_fail_at(ps, ps->line, col, "expected at most %d processes, found more", SCN_MAX_PROCESSES);
    if (ps->s->nprocs == ps->cap_procs) {
        int cap = ps->cap_procs ? 2 * ps->cap_procs : 4;
        name_index (*ix)[NAMES_KINDS] = mem_realloc(ps->names, sizeof *ix * (size_t)cap);
        if (!ix)
            return scnp_oom(ps);
        ps->names = ix;
        scn_process *np = mem_realloc(ps->s->procs, sizeof *np * (size_t)cap);
        if (!np)
            return scnp_oom(ps);
        ps->s->procs = np;
        ps->cap_procs = cap;
    }
    memset(ps->names[ps->s->nprocs], 0, sizeof ps->names[0]);
    scn_process *nv = ps->s->procs;
    scn_process *p = &nv[ps->s->nprocs];
    memset(p, 0, sizeof *p);
    if (!(p->name = scnp_tok_dup(ps)))
        return scnp_oom(ps);
    p->line = ps->line;
    p->col = col;
    ps->proc = ps->s->nprocs++;
    ps->ended = 0;
    scnp_lex(ps);
    return scnp_expect_eol(ps);
}

static int parse_top(parser *ps) {
    int col = ps->tok.col;
    if (scnp_tok_is(ps, "process"))
        return parse_process(ps, col);
    if (ps->proc >= 0) {
        if (scnp_tok_is(ps, "mesh") || scnp_tok_is(ps, "protocol") || scnp_tok_is(ps, "seed"))
            return scnp_expected(ps, "a process statement (mesh, protocol and seed come before the first process)");
        return scnp_parse_statement(ps);
    }
    if (scnp_tok_is(ps, "mesh"))
        return parse_mesh(ps, col);
    if (scnp_tok_is(ps, "client")) {
        scnp_lex(ps);
        scn_client c;
        if (scnp_parse_client_opts(ps, &c) < 0)
            return -1;
        int8_t *dst = (int8_t *)&ps->s->client;
        const int8_t *src = (const int8_t *)&c;
        for (size_t i = 0; i < sizeof c; i++)
            if (src[i] >= 0)
                dst[i] = src[i];
        return 0;
    }
    if (scnp_tok_is(ps, "protocol")) {
        if (ps->s->has_rev)
            return scnp_expected(ps, "one protocol statement, not two");
        scnp_lex(ps);
        char name[16];
        snprintf(name, sizeof name, "%.*s", (int)(ps->tok.len < 15 ? ps->tok.len : 15), ps->tok.p);
        if (ps->tok.kind != TK_WORD || ps->tok.len >= 15 || proto_rev_parse(name, &ps->s->rev) < 0) {
            char what[96];
            snprintf(what, sizeof what, "a protocol revision (%s)", proto_rev_names());
            return scnp_expected(ps, what);
        }
        ps->s->has_rev = 1;
        scnp_lex(ps);
        return scnp_expect_eol(ps);
    }
    if (scnp_tok_is(ps, "seed")) {
        if (ps->s->has_seed)
            return scnp_expected(ps, "one seed statement, not two");
        scnp_lex(ps);
        if (scnp_take_uint(ps, UINT64_MAX, "a seed", &ps->s->seed) < 0)
            return -1;
        ps->s->has_seed = 1;
        return scnp_expect_eol(ps);
    }
    return scnp_expected(ps, "protocol, seed, mesh, client or process");
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
            return scnp_fail_at(ps, line, col, "expected text, found a NUL byte");
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
            return scnp_fail_at(ps, line, col, "expected UTF-8 text, found byte 0x%02x", c);
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
                return scnp_fail_at(ps, f->line, f->col, "expected a process name, found '%s'", name);
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
                return scnp_fail_at(ps, f->line, f->col, "expected PROCESS.BUFFER with a declared process, found '%s'", name);
            name = dot + 1;
        }
        scn_process *p = &ps->s->procs[proc];
        found = scnp_name_find(&ps->names[proc][NAMES_BUFFERS], p->buffers, name, strlen(name));
        if (found < 0)
            return scnp_fail_at(ps, f->line, f->col, "expected a buffer that process %s allocates, found '%s'", p->name,
                           f->name);
        f->e->ref_proc = proc;
        f->e->ref_slot = found;
    }
    return 0;
}

static void parser_release(parser *ps) {
    for (int d = 0; d <= ps->depth && d <= SCN_MAX_DEPTH; d++)
        scnp_stmts_release(ps->stack[d].v, ps->stack[d].n);
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
    while (rc == 0 && scnp_next_line(&ps)) {
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
            rc = scnp_fail_at(&ps, ps.line, 1, "expected a process, found end of file");
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
        scnp_stmts_release(p->stmts, p->nstmts);
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
