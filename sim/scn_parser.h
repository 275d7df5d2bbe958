/* scn_parser: the parser's internal state, shared by the three files of the scenario parser.
 *
 * (sim/scn_parse_cbk.c adds the CB and kernel statements.)
 * sim/scn_lex.c cuts lines into tokens and reads numbers, units and names; sim/scn_parse_stmt.c
 * parses the statements of a process body (alloc, program, trace, decode, send, expect, ...);
 * sim/scn_parse.c parses the top level (protocol, seed, mesh, process), checks the encoding,
 * resolves forward references and is the public entry point (scn.h). Nothing outside these
 * three files includes this header.
 */
#ifndef ALLOCSIM_SCN_PARSER_H
#define ALLOCSIM_SCN_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "scn.h"

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

/* A unit suffix and its multiplier (size and time units). */
typedef struct {
    const char *name;
    uint64_t mult;
} unit_def;

#define SCNP_SIZE_UNITS 10
extern const unit_def scnp_size_units[SCNP_SIZE_UNITS];

int scnp_fail_at(parser *ps, int line, int col, const char *fmt, ...);
int scnp_expected(parser *ps, const char *what);
int scnp_oom(parser *ps);
void scnp_lex(parser *ps);
int scnp_next_line(parser *ps);
int scnp_tok_is(const parser *ps, const char *word);
int scnp_tok_punct(const parser *ps, char p);
int scnp_expect_eol(parser *ps);
int scnp_num_value(const token *t, const unit_def *units, size_t nunits, uint64_t *out, const char **why);
int scnp_take_size(parser *ps, uint64_t *out);
int scnp_take_uint(parser *ps, uint64_t max, const char *what, uint64_t *out);
int scnp_take_size_range(parser *ps, scn_range *r);
int scnp_take_time_range(parser *ps, scn_range *r);
int scnp_take_key(parser *ps, const char *key);
char *scnp_tok_dup(parser *ps);
void scnp_devsel_add(scn_devsel *sel, uint64_t d);
int scnp_name_find(const name_index *ix, char **names, const char *p, size_t len);
int scnp_name_slot(parser *ps, int kind, char ***names, int *n);
int scnp_is_name(const token *t);
scn_process *scnp_cur_proc(parser *ps);
void scnp_stmts_release(scn_stmt *v, size_t n);
int scnp_parse_statement(parser *ps);
int scnp_take_owner(parser *ps, struct scn_expect *e);
int scnp_take_count_or_size(parser *ps, struct scn_expect *e, const char *noun, const char *all);
int scnp_push_stmt(parser *ps, scn_stmt *st);
void scnp_stmt_init(parser *ps, scn_stmt *st, scn_op op, int col);
int scnp_parse_devsel(parser *ps, scn_devsel *sel);
int scnp_add_fixup(parser *ps, struct scn_expect *e, const char *p, size_t len, int is_process, int col);

/* sim/scn_parse_cbk.c: programs with CBs and kernels, `client`, the CB/kernel raw frames,
 * `expect query` and `expect kernels`, the kernel mesh options. */
int scnp_parse_program(parser *ps, int col);
int scnp_parse_client_stmt(parser *ps, int col);
/* Reads KEY=VALUE pairs to the end of the line into c (fields not written stay -1). */
int scnp_parse_client_opts(parser *ps, scn_client *c);
/* After `send`: cb_alloc, cb_free, kernel_load, kernel_unload or dump_kernels (st set up). */
int scnp_parse_send_cbk(parser *ps, scn_stmt *st);
/* After `expect query` (ext 1) or `expect kernels` (ext 2). */
int scnp_parse_expect_ext(parser *ps, struct scn_expect *e, int ext);
/* A mesh option of the kernel model: returns 1 if the current word is none of them. */
int scnp_parse_mesh_kernel_option(parser *ps, scn_mesh *m);

/* scn_parse_shm.c: the SHM mesh options. parse returns 1 if the token is not one (nothing
 * consumed), 0 when read, -1 on error; check reports an option the layout does not take. */
typedef struct {
    int col[12]; /* column of each SHM option written on the mesh line, 0 when absent */
} scnp_shm_cols;
int scnp_parse_mesh_shm_option(parser *ps, dev_config *cfg, scnp_shm_cols *cols);
int scnp_check_mesh_shm(parser *ps, const dev_config *cfg, const scnp_shm_cols *cols);
/* After `expect shm`: total, process, active, refcount, version, init, file, matches model. */
int scnp_parse_expect_shm(parser *ps, struct scn_expect *e);

#endif
