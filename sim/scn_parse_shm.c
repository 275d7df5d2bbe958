/* scn_parse_shm: the mesh options of SHM tracking (`shm_layout=v4`, ...).
 *
 * A mesh declaration says which TT-Metal build runs it, and so which SHM region layout and
 * writer behaviour the SHM transport models (docs/shm-transport.md, shm-tracking.md §1.2,
 * §4.6). The options are stored in the mesh's dev_config (0 = default everywhere); an
 * option that does not apply to the layout chosen on the same line (shm_idle_reset on a
 * v2b mesh, shm_region_size outside v1-A...) is an error located at the option, checked
 * once the whole line is read so the order of the options does not matter.
 */
#include <stdio.h>
#include <string.h>

#include "scn_parser.h"
#include "shm_layout.h"
#include "shm_model.h"

enum { OPT_LAYOUT = 0, OPT_PER_PID, OPT_REGION_SIZE, OPT_VERSION_CHECK, OPT_CLAIM, OPT_IDLE_RESET, OPT_COUNT };

static const char *const opt_keys[OPT_COUNT] = {"shm_layout",        "shm_per_pid", "shm_region_size",
                                                "shm_version_check", "shm_claim",   "shm_idle_reset"};

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
    struct {
        int opt, applies;
        const char *where;
    } rules[] = {
        {OPT_REGION_SIZE, v == SHML_L1A, "v1-A"},
        {OPT_VERSION_CHECK, v == SHML_V2A || v == SHML_V2B || v == SHML_V3, "v2a, v2b and v3"},
        {OPT_CLAIM, v == SHML_V2A || v == SHML_V2B || v == SHML_V3, "v2a, v2b and v3"},
        {OPT_IDLE_RESET, sub == SHMM_SUB_V4B || sub == SHMM_SUB_V4C, "v4b and v4c"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (cols->col[rules[i].opt] && !rules[i].applies)
            return scnp_fail_at(ps, ps->line, cols->col[rules[i].opt],
                                "expected an option of SHM layout %s, found %s (it applies to %s only)", full,
                                opt_keys[rules[i].opt], rules[i].where);
    return 0;
}
