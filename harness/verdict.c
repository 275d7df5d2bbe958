/* verdict: dump, reply and golden comparisons, and the human, TAP and JUnit reports. */
#include "verdict.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

void verdict_report_init(verdict_report *r, const char *suite) {
    memset(r, 0, sizeof *r);
    r->suite = mem_strdup(suite ? suite : "");
}

void verdict_report_release(verdict_report *r) {
    for (size_t i = 0; i < r->ncases; i++) {
        mem_free(r->cases[i].name);
        mem_free(r->cases[i].detail);
    }
    mem_free(r->cases);
    mem_free(r->suite);
    mem_free(r->repro);
    mem_free(r->log_excerpt);
    mem_free(r->error);
    memset(r, 0, sizeof *r);
}

int verdict_report_add(verdict_report *r, const char *name, int ok, const char *detail) {
    if (r->ncases == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        verdict_case *c = mem_realloc(r->cases, cap * sizeof *c);
        if (!c)
            return -1;
        r->cases = c;
        r->cap = cap;
    }
    verdict_case *c = &r->cases[r->ncases];
    c->name = mem_strdup(name);
    c->detail = mem_strdup(detail ? detail : "");
    c->ok = ok;
    if (!c->name || !c->detail) {
        mem_free(c->name);
        mem_free(c->detail);
        return -1;
    }
    r->ncases++;
    return 0;
}

static void replace(char **slot, const char *text) {
    mem_free(*slot);
    *slot = text ? mem_strdup(text) : NULL;
}

void verdict_report_set_repro(verdict_report *r, const char *cmdline) { replace(&r->repro, cmdline); }
void verdict_report_set_log(verdict_report *r, const char *excerpt) { replace(&r->log_excerpt, excerpt); }

void verdict_report_set_error(verdict_report *r, int status, const char *message) {
    r->error_status = status;
    replace(&r->error, message);
}

size_t verdict_report_failures(const verdict_report *r) {
    size_t n = 0;
    for (size_t i = 0; i < r->ncases; i++)
        n += !r->cases[i].ok;
    return n;
}

int verdict_report_status(const verdict_report *r) {
    if (r->error_status)
        return r->error_status;
    return verdict_report_failures(r) ? 1 : 0;
}

void verdict_dump_views(verdict_report *r, const char *label, const dumpview *expected,
                      dumpview_pid_name_fn ename, void *ectx, const dumpview *actual,
                      dumpview_pid_name_fn aname, void *actx) {
    char name[256];
    snprintf(name, sizeof name, "%s: model", label);
    dumpview want = *expected, got = *actual;
    want.ndead = got.ndead = 0;
    sbuf diff = SBUF_INIT;
    int differs = dumpview_compare(&want, ename, ectx, &got, aname, actx, &diff);
    verdict_report_add(r, name, !differs, sbuf_str(&diff));
    sbuf_release(&diff);
}

void verdict_canonical(const dumpview *v, dumpview_pid_name_fn name, void *ctx, sbuf *out) {
    dumpview copy = *v;
    copy.ndead = 0;
    dumpview_render(&copy, name, ctx, out);
}

void verdict_reply(verdict_report *r, const char *label, const proto_msg *e, const proto_msg *a) {
    sbuf d = SBUF_INIT;
#define FIELD(f)                                                                                   \
    if ((uint64_t)e->f != (uint64_t)a->f)                                                          \
        sbuf_printf(&d, "%s: expected %" PRIu64 ", found %" PRIu64 "\n", #f, (uint64_t)e->f, (uint64_t)a->f);
    FIELD(type)
    FIELD(device_id)
    FIELD(dram_allocated)
    FIELD(l1_allocated)
    FIELD(l1_small_allocated)
    FIELD(trace_allocated)
    FIELD(cb_allocated)
    FIELD(kernel_allocated)
    FIELD(total_dram_size)
    FIELD(total_l1_size)
    FIELD(arch_type)
    FIELD(num_dram_channels)
    FIELD(dram_size_per_channel)
    FIELD(l1_size_per_core)
    FIELD(is_available)
    FIELD(num_devices)
#undef FIELD
    verdict_report_add(r, label, d.len == 0, sbuf_str(&d));
    sbuf_release(&d);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sbuf b = SBUF_INIT;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_append(&b, buf, n);
    fclose(f);
    if (!b.data)
        sbuf_append(&b, "", 0);
    *len = b.len;
    return b.data;
}

/* First differing line of two texts, as "line N: expected '...', found '...'". */
static void first_difference(const char *want, const char *got, sbuf *out) {
    int line = 1;
    for (;;) {
        const char *we = strchr(want, '\n'), *ge = strchr(got, '\n');
        size_t wl = we ? (size_t)(we - want) : strlen(want);
        size_t gl = ge ? (size_t)(ge - got) : strlen(got);
        if (wl != gl || memcmp(want, got, wl) != 0 || (!we) != (!ge)) {
            sbuf_printf(out, "golden line %d: expected '%.*s', found '%.*s'", line, (int)wl, want, (int)gl, got);
            return;
        }
        if (!we)
            return;
        want = we + 1;
        got = ge + 1;
        line++;
    }
}

void verdict_golden(verdict_report *r, const char *path, const char *canonical, int update) {
    char name[512];
    snprintf(name, sizeof name, "golden %s", path);
    if (update) {
        FILE *f = fopen(path, "wb");
        if (!f || fputs(canonical, f) == EOF || fclose(f) != 0) {
            char detail[600];
            snprintf(detail, sizeof detail, "cannot write %s: %s", path, strerror(errno));
            verdict_report_add(r, name, 0, detail);
            return;
        }
        verdict_report_add(r, name, 1, "updated");
        return;
    }
    size_t len;
    char *want = read_file(path, &len);
    if (!want) {
        verdict_report_add(r, name, 1, "no golden file (create it with --update-golden)");
        return;
    }
    sbuf d = SBUF_INIT;
    if (strcmp(want, canonical) != 0) {
        first_difference(want, canonical, &d);
        sbuf_printf(&d, "\n(review with --update-golden and git diff %s)", path);
    }
    verdict_report_add(r, name, d.len == 0, sbuf_str(&d));
    sbuf_release(&d);
    mem_free(want);
}

void verdict_print_human(const verdict_report *r, FILE *out) {
    size_t failed = verdict_report_failures(r);
    for (size_t i = 0; i < r->ncases; i++) {
        const verdict_case *c = &r->cases[i];
        if (c->ok)
            continue;
        fprintf(out, "FAIL %s: %s\n", r->suite, c->name);
        const char *d = c->detail;
        while (*d) {
            const char *e = strchr(d, '\n');
            int n = e ? (int)(e - d) : (int)strlen(d);
            fprintf(out, "    %.*s\n", n, d);
            d += n + (e != NULL);
        }
    }
    if (r->error)
        fprintf(out, "ERROR %s: %s\n", r->suite, r->error);
    if ((failed || r->error) && r->log_excerpt && *r->log_excerpt) {
        fprintf(out, "--- server log around the failure ---\n%s", r->log_excerpt);
        if (r->log_excerpt[strlen(r->log_excerpt) - 1] != '\n')
            fputc('\n', out);
        fprintf(out, "---\n");
    }
    fprintf(out, "%s %s: %zu checks, %zu failed\n", verdict_report_status(r) ? "FAILED" : "ok", r->suite, r->ncases,
            failed);
    if ((failed || r->error) && r->repro)
        fprintf(out, "reproduce: %s\n", r->repro);
}

void verdict_print_tap(const verdict_report *const *reports, size_t n, FILE *out) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += reports[i]->ncases + (reports[i]->error != NULL);
    fprintf(out, "TAP version 13\n1..%zu\n", total);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const verdict_report *r = reports[i];
        for (size_t j = 0; j < r->ncases; j++) {
            const verdict_case *c = &r->cases[j];
            fprintf(out, "%s %zu - %s: %s\n", c->ok ? "ok" : "not ok", ++k, r->suite, c->name);
            if (!c->ok) {
                fprintf(out, "  ---\n  message: |\n");
                const char *d = c->detail;
                while (*d) {
                    const char *e = strchr(d, '\n');
                    int len = e ? (int)(e - d) : (int)strlen(d);
                    fprintf(out, "    %.*s\n", len, d);
                    d += len + (e != NULL);
                }
                if (r->repro)
                    fprintf(out, "  reproduce: \"%s\"\n", r->repro);
                fprintf(out, "  ...\n");
            }
        }
        if (r->error)
            fprintf(out, "not ok %zu - %s: run\n  ---\n  message: \"%s\"\n  ...\n", ++k, r->suite, r->error);
    }
}

static void xml_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                fputc('?', f);
            else
                fputc(*s, f);
        }
    }
}

int verdict_write_junit(const verdict_report *const *reports, size_t n, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t tests = 0, failures = 0, errors = 0;
    for (size_t i = 0; i < n; i++) {
        tests += reports[i]->ncases;
        failures += verdict_report_failures(reports[i]);
        errors += reports[i]->error != NULL;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"allocsim\" tests=\"%zu\" "
               "failures=\"%zu\" errors=\"%zu\">\n", tests, failures, errors);
    for (size_t i = 0; i < n; i++) {
        const verdict_report *r = reports[i];
        fputs("  <testsuite name=\"", f);
        xml_escape(f, r->suite);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%d\">\n", r->ncases, verdict_report_failures(r),
                r->error != NULL);
        for (size_t j = 0; j < r->ncases; j++) {
            const verdict_case *c = &r->cases[j];
            fputs("    <testcase classname=\"", f);
            xml_escape(f, r->suite);
            fputs("\" name=\"", f);
            xml_escape(f, c->name);
            if (c->ok) {
                fputs("\"/>\n", f);
                continue;
            }
            fputs("\">\n      <failure message=\"", f);
            xml_escape(f, c->name);
            fputs("\">", f);
            xml_escape(f, c->detail);
            if (r->repro) {
                fputs("\nreproduce: ", f);
                xml_escape(f, r->repro);
            }
            fputs("</failure>\n    </testcase>\n", f);
        }
        if (r->error) {
            fputs("    <testcase classname=\"", f);
            xml_escape(f, r->suite);
            fputs("\" name=\"run\">\n      <error message=\"", f);
            xml_escape(f, r->error);
            fputs("\">", f);
            if (r->log_excerpt)
                xml_escape(f, r->log_excerpt);
            fputs("</error>\n    </testcase>\n", f);
        }
        fputs("  </testsuite>\n", f);
    }
    fputs("</testsuites>\n", f);
    return fclose(f) == 0 ? 0 : -1;
}
