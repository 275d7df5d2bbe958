/* scn_parse_shm: the mesh options of SHM tracking (`shm_layout=v4`, ...).
 *
 * A mesh declaration says which TT-Metal build runs it, and so which SHM region layout and
 * writer behaviour the SHM transport models (docs/shm-transport.md, shm-tracking.md §1.2,
 * §4.6). The options are stored in the mesh's dev_config (0 = default everywhere); an
 * option that does not apply to the layout chosen on the same line (shm_idle_reset on a
 * v2b mesh, shm_region_size outside v1-A...) is an error located at the option, checked
 * once the whole line is read so the order of the options does not matter.
 *
 * The CB-accounting options (docs/shm-transport.md, "CB accounting options") choose where the
 * spec leaves room or several eras share a layout: shm_cb_update (absolute or delta
 * update_from_allocator on v4a/v4b/v4c), shm_cb_rate_limit (the absolute variant's interval)
 * and shm_cb_era (v1-K: era G2's one record per CB, or era C's update_from_allocator).
 */
#include <stdio.h>
#include <string.h>

#include "scn_parser.h"
#include "shm_layout.h"
#include "shm_model.h"

enum {
    OPT_LAYOUT = 0,
    OPT_PER_PID,
    OPT_REGION_SIZE,
    OPT_VERSION_CHECK,
    OPT_CLAIM,
    OPT_IDLE_RESET,
    OPT_CB_UPDATE,
    OPT_CB_RATE_LIMIT,
    OPT_CB_ERA,
    OPT_COUNT
};

static const char *const opt_keys[OPT_COUNT] = {
    "shm_layout",     "shm_per_pid",   "shm_region_size",   "shm_version_check", "shm_claim",
    "shm_idle_reset", "shm_cb_update", "shm_cb_rate_limit", "shm_cb_era"};

#define LAYOUT_NAMES "v1-K, v1-N, v1-A, v2a, v2b, v3, v4, v4a, v4b or v4c"

static int take_word(parser *ps, char *buf, size_t n) {
    if (ps->tok.kind != TK_WORD || ps->tok.len >= n)
        return -1;
    memcpy(buf, ps->tok.p, ps->tok.len);
    buf[ps->tok.len] = '\0';
    return 0;
}

static int take_on_off(parser *ps, const char *on, const char *off, uint8_t *field) {
    if (!scnp_tok_is(ps, on) && !scnp_tok_is(ps, off)) {
        char what[64];
        snprintf(what, sizeof what, "%s or %s", on, off);
        return scnp_expected(ps, what);
    }
    *field = scnp_tok_is(ps, on) ? 1 : 2;
    scnp_lex(ps);
    return 0;
}

int scnp_parse_mesh_shm_option(parser *ps, dev_config *cfg, scnp_shm_cols *cols) {
    int k = -1;
    for (int i = 0; i < OPT_COUNT; i++)
        if (scnp_tok_is(ps, opt_keys[i]))
            k = i;
    if (k < 0)
        return 1;
    cols->col[k] = ps->tok.col;
    if (scnp_take_key(ps, opt_keys[k]) < 0)
        return -1;
    switch (k) {
    case OPT_LAYOUT: {
        char name[16];
        shml_version v;
        shmm_subvariant sub = SHMM_SUB_NONE;
        if (take_word(ps, name, sizeof name) < 0)
            return scnp_expected(ps, "an SHM layout (" LAYOUT_NAMES ")");
        if (strcmp(name, "v4a") == 0 || strcmp(name, "v4b") == 0 || strcmp(name, "v4c") == 0) {
            v = SHML_V4;
            sub = name[2] == 'a' ? SHMM_SUB_V4A : name[2] == 'b' ? SHMM_SUB_V4B : SHMM_SUB_V4C;
        } else if (shml_version_parse(name, &v) < 0) {
            return scnp_expected(ps, "an SHM layout (" LAYOUT_NAMES ")");
        }
        cfg->shm_layout = (uint8_t)(v + 1);
        cfg->shm_sub = (uint8_t)sub;
        scnp_lex(ps);
        return 0;
    }
    case OPT_PER_PID:
        return take_on_off(ps, "on", "off", &cfg->shm_per_pid);
    case OPT_REGION_SIZE: {
        uint64_t v;
        int col = ps->tok.col;
        if (scnp_take_uint(ps, 1u << 20, "a region size", &v) < 0)
            return -1;
        if (v != 8640 && v != 8576)
            return scnp_fail_at(ps, ps->line, col, "expected shm_region_size 8640 or 8576 (v1-A), found %u",
                                (unsigned)v);
        cfg->shm_l1a_padding = v == 8640 ? 1 : 2;
        return 0;
    }
    case OPT_VERSION_CHECK:
        return take_on_off(ps, "on", "off", &cfg->shm_version_check);
    case OPT_CLAIM:
        return take_on_off(ps, "cas", "plain", &cfg->shm_claim_cas);
    case OPT_CB_UPDATE:
        return take_on_off(ps, "absolute", "delta", &cfg->shm_cb_update);
    case OPT_CB_ERA:
        return take_on_off(ps, "records", "update", &cfg->shm_cb_era);
    case OPT_CB_RATE_LIMIT: {
        cfg->shm_cb_rate_limit_set = 1;
        if (scnp_tok_is(ps, "off")) { /* no limit: every update goes through */
            cfg->shm_cb_rate_limit_ns = 0;
            scnp_lex(ps);
            return 0;
        }
        scn_range r;
        int col = ps->tok.col;
        if (ps->tok.kind != TK_NUM)
            return scnp_expected(ps, "a time with unit ns, us, ms or s, or off");
        if (scnp_take_time_range(ps, &r) < 0)
            return -1;
        if (r.hi != r.lo)
            return scnp_fail_at(ps, ps->line, col, "expected one shm_cb_rate_limit time, found a range");
        cfg->shm_cb_rate_limit_ns = r.lo;
        return 0;
    }
    default:
        return take_on_off(ps, "on", "off", &cfg->shm_idle_reset);
    }
}

int scnp_check_mesh_shm(parser *ps, const dev_config *cfg, const scnp_shm_cols *cols) {
    shml_version v = cfg->shm_layout ? (shml_version)(cfg->shm_layout - 1) : SHML_V4;
    shmm_subvariant sub = v == SHML_V4 ? (cfg->shm_sub ? (shmm_subvariant)cfg->shm_sub : SHMM_SUB_V4C) : SHMM_SUB_NONE;
    const char *lname = shml_version_get(v)->name;
    char full[8];
    snprintf(full, sizeof full, "%s%s", lname, sub == SHMM_SUB_V4A ? "a" : sub == SHMM_SUB_V4B ? "b" : sub == SHMM_SUB_V4C ? "c" : "");
    /* The mesh's update_from_allocator: none in v1-K's records era (G2); otherwise absolute
     * (the only one before v4, v4a) or delta (v4b, v4c) unless shm_cb_update says. */
    int cb_updates = v != SHML_L1K || cfg->shm_cb_era == 2;
    int cb_absolute = cfg->shm_cb_update ? cfg->shm_cb_update == 1 : !(sub == SHMM_SUB_V4B || sub == SHMM_SUB_V4C);
    struct {
        int opt, applies;
        const char *where;
    } rules[] = {
        {OPT_REGION_SIZE, v == SHML_L1A, "v1-A only"},
        {OPT_VERSION_CHECK, v == SHML_V2A || v == SHML_V2B || v == SHML_V3, "v2a, v2b and v3 only"},
        {OPT_CLAIM, v == SHML_V2A || v == SHML_V2B || v == SHML_V3, "v2a, v2b and v3 only"},
        {OPT_IDLE_RESET, sub == SHMM_SUB_V4B || sub == SHMM_SUB_V4C, "v4b and v4c only"},
        {OPT_CB_UPDATE, v == SHML_V4, "v4a, v4b and v4c only"},
        {OPT_CB_ERA, v == SHML_L1K, "v1-K only"},
        {OPT_CB_RATE_LIMIT, cb_updates && cb_absolute,
         "the absolute update_from_allocator only: v1-N, v1-A, v2a, v2b, v3, v4a, v1-K with shm_cb_era=update, "
         "v4b and v4c with shm_cb_update=absolute"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (cols->col[rules[i].opt] && !rules[i].applies)
            return scnp_fail_at(ps, ps->line, cols->col[rules[i].opt],
                                "expected an option of SHM layout %s, found %s (it applies to %s)", full,
                                opt_keys[rules[i].opt], rules[i].where);
    return 0;
}

/* ---- expect shm ... ----------------------------------------------------------------------- */

/* The region counters by name, in SCN_Q_* order (= the region's counter order). */
static const char *const shm_counters[SCN_Q_COUNT] = {"DRAM", "L1", "L1_SMALL", "TRACE", "CB", "KERNEL"};

static int take_counter(parser *ps, int *out) {
    for (int k = 0; k < SCN_Q_COUNT; k++)
        if (scnp_tok_is(ps, shm_counters[k])) {
            *out = k;
            scnp_lex(ps);
            return 0;
        }
    return scnp_expected(ps, "a region counter (DRAM, L1, L1_SMALL, TRACE, CB or KERNEL)");
}

static int at_sel(const parser *ps) {
    return scnp_tok_is(ps, "on") || scnp_tok_is(ps, "all") || scnp_tok_is(ps, "dev") || scnp_tok_is(ps, "devs");
}

/* [on SEL] ':' */
static int take_sel_colon(parser *ps, struct scn_expect *e) {
    e->devs.all = 1;
    if (at_sel(ps) && scnp_parse_devsel(ps, &e->devs) < 0)
        return -1;
    if (!scnp_tok_punct(ps, ':'))
        return scnp_expected(ps, "a device selection (on all, on dev N, on devs N..M) or ':'");
    scnp_lex(ps);
    return 0;
}

/* TYPE=SIZE {, TYPE=SIZE} | none | present */
static int parse_slot_conditions(parser *ps, struct scn_expect *e) {
    if (scnp_tok_is(ps, "none") || scnp_tok_is(ps, "present")) {
        e->none = scnp_tok_is(ps, "none");
        e->count = e->none ? -1 : 1;
        scnp_lex(ps);
        return 0;
    }
    for (;;) {
        int k = 0, col = ps->tok.col;
        if (ps->tok.kind == TK_EOL)
            return scnp_expected(ps, "TYPE=SIZE (DRAM, L1, L1_SMALL, TRACE, CB, KERNEL), none or present");
        if (take_counter(ps, &k) < 0)
            return -1;
        if (e->qmask & (1u << k))
            return scnp_fail_at(ps, ps->line, col, "expected each counter at most once, found %s twice", shm_counters[k]);
        if (!scnp_tok_punct(ps, '='))
            return scnp_expected(ps, "'='");
        scnp_lex(ps);
        if (scnp_take_size(ps, &e->q[k]) < 0)
            return -1;
        e->qmask |= 1u << k;
        if (!scnp_tok_punct(ps, ','))
            return 0;
        scnp_lex(ps);
    }
}

int scnp_parse_expect_shm(parser *ps, struct scn_expect *e) {
    e->kind = SCN_EXPECT_SHM;
    if (scnp_tok_is(ps, "matches")) {
        e->shm_what = SCN_SHM_MODEL;
        scnp_lex(ps);
        if (!scnp_tok_is(ps, "model"))
            return scnp_expected(ps, "'model'");
        scnp_lex(ps);
        return scnp_expect_eol(ps);
    }
    if (scnp_tok_is(ps, "total")) {
        e->shm_what = SCN_SHM_TOTAL;
        scnp_lex(ps);
        if (take_counter(ps, &e->shm_counter) < 0 || take_sel_colon(ps, e) < 0)
            return -1;
        if (scnp_tok_is(ps, "none")) {
            e->none = 1;
            scnp_lex(ps);
        } else {
            if (scnp_take_size(ps, &e->bytes) < 0)
                return -1;
            if (scnp_tok_is(ps, "bytes") || scnp_tok_is(ps, "byte"))
                scnp_lex(ps);
        }
        e->has_bytes = 1; /* none = 0 bytes */
        return scnp_expect_eol(ps);
    }
    if (scnp_tok_is(ps, "process")) {
        e->shm_what = SCN_SHM_PROCESS;
        scnp_lex(ps);
        if (!scnp_is_name(&ps->tok))
            return scnp_expected(ps, "a process name");
        if (!(e->process = scnp_tok_dup(ps)))
            return scnp_oom(ps);
        if (scnp_add_fixup(ps, e, ps->tok.p, ps->tok.len, 1, ps->tok.col) < 0)
            return -1;
        scnp_lex(ps);
        if (take_sel_colon(ps, e) < 0 || parse_slot_conditions(ps, e) < 0)
            return -1;
        return scnp_expect_eol(ps);
    }
    static const struct {
        const char *word;
        int what;
    } counts[] = {{"active", SCN_SHM_ACTIVE},   {"refcount", SCN_SHM_REFCOUNT}, {"reference_count", SCN_SHM_REFCOUNT},
                  {"version", SCN_SHM_VERSION}, {"init", SCN_SHM_INIT},         {"file", SCN_SHM_FILE}};
    int what = -1;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (scnp_tok_is(ps, counts[i].word))
            what = counts[i].what;
    if (what < 0)
        return scnp_expected(ps, "total, process, active, refcount, version, init, file or matches model after "
                                 "'expect shm'");
    e->shm_what = what;
    scnp_lex(ps);
    if (take_sel_colon(ps, e) < 0)
        return -1;
    if (what == SCN_SHM_INIT) {
        if (scnp_tok_is(ps, "READY"))
            e->count = SHML_INIT_READY;
        else if (scnp_tok_is(ps, "IN_PROGRESS"))
            e->count = SHML_INIT_IN_PROGRESS;
        else if (scnp_tok_is(ps, "UNINITIALIZED"))
            e->count = 0;
        else
            return scnp_expected(ps, "READY, IN_PROGRESS or UNINITIALIZED");
        scnp_lex(ps);
    } else if (what == SCN_SHM_FILE) {
        if (!scnp_tok_is(ps, "present") && !scnp_tok_is(ps, "absent"))
            return scnp_expected(ps, "present or absent");
        e->none = scnp_tok_is(ps, "absent");
        scnp_lex(ps);
    } else {
        uint64_t n;
        if (scnp_take_uint(ps, UINT32_MAX, "a number", &n) < 0)
            return -1;
        e->count = (int64_t)n;
    }
    return scnp_expect_eol(ps);
}
