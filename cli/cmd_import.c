/* cmd_import: `allocsim import LOG [options]`, the command-line face of the log importer
 * (import/import.h). It parses options, runs the import, prints the human or JSON report and
 * writes the requested files. Exit status:
 *   0  imported; every dump agrees with the events and no inconsistency was found;
 *   1  imported, with findings (a dump that disagrees, lines that contradict each other);
 *   2  bad usage, unreadable log, a log without any server line, unwritable output.
 * Warnings about malformed lines do not change the exit status.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "import.h"
#include "stream.h"

static void cmd_import_usage(FILE *f) {
    fprintf(f,
            "usage: allocsim import LOG [options]\n"
            "\n"
            "Reads an allocation server's stdout log (any protocol revision; noise, CRLF and\n"
            "interleaved threads are tolerated; LOG '-' reads standard input) and reports each\n"
            "buffer's lifecycle (devices allocated, devices freed, FULLY FREED / CLEANED UP /\n"
            "REMAINING / LEAKED / LOST), what every DUMP_REMAINING report held, and whether it\n"
            "agrees with the allocations and frees logged before it.\n"
            "\n"
            "options:\n"
            "  --json                 print the report as JSON (stable key order)\n"
            "  --buffer ID            report only the lifecycles of this buffer id (decimal or 0x)\n"
            "  --timeline FILE.tsv    write the memory timeline (time = log line number)\n"
            "  --stream FILE.allocstream  write a replayable stream, one process per PID\n"
            "  --scenario FILE.scn    write the events as raw `send` statements per PID\n"
            "  --protocol REV         the server's revision (%s; default: detected)\n"
            "  --max-notes N          warnings and findings printed (default 50)\n"
            "\n"
            "exit status: 0 no findings; 1 findings; 2 bad usage, unreadable log, or no server\n"
            "line in it (an empty file, binary data, the wrong file).\n",
            proto_rev_names());
}

static const char *cmd_import_optval(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "allocsim import: %s needs a value\n", name);
        return "";
    }
    return argv[++*i];
}

static int cmd_import_u64(const char *s, uint64_t *v) {
    char *end;
    if (!*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

/* What a log without a single server line holds: nothing, binary data, or other text. */
static void cmd_import_describe_empty(const char *path, size_t lines, char *buf, size_t len) {
    if (lines == 0) {
        snprintf(buf, len, "an empty file");
        return;
    }
    FILE *f = strcmp(path, "-") == 0 ? NULL : fopen(path, "rb");
    if (f) {
        unsigned char chunk[65536];
        size_t n = fread(chunk, 1, sizeof chunk, f);
        fclose(f);
        const unsigned char *nul = memchr(chunk, 0, n);
        if (nul) {
            snprintf(buf, len, "binary data (a NUL byte at byte %zu)", (size_t)(nul - chunk));
            return;
        }
    }
    snprintf(buf, len, "%zu line%s of text without a single server line", lines, lines == 1 ? "" : "s");
}

int cmd_import(int argc, char **argv) {
    const char *log = NULL, *timeline = NULL, *stream_path = NULL, *scenario = NULL, *v;
    int json = 0;
    import_opts o = {0};
    import_report_opts ro = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cmd_import_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if ((v = cmd_import_optval(argc, argv, &i, "--timeline"))) {
            if (!*v)
                return 2;
            timeline = v;
        } else if ((v = cmd_import_optval(argc, argv, &i, "--stream"))) {
            if (!*v)
                return 2;
            stream_path = v;
        } else if ((v = cmd_import_optval(argc, argv, &i, "--scenario"))) {
            if (!*v)
                return 2;
            scenario = v;
        } else if ((v = cmd_import_optval(argc, argv, &i, "--protocol"))) {
            if (proto_rev_parse(v, &o.rev) < 0) {
                fprintf(stderr, "allocsim import: --protocol: expected one of %s, found '%s'\n",
                        proto_rev_names(), v);
                return 2;
            }
            o.force_rev = 1;
        } else if ((v = cmd_import_optval(argc, argv, &i, "--buffer"))) {
            if (cmd_import_u64(v, &ro.buffer_id) < 0) {
                fprintf(stderr, "allocsim import: --buffer: expected a buffer id (decimal or "
                        "0x hex), found '%s'\n", v);
                return 2;
            }
            ro.have_buffer = 1;
        } else if ((v = cmd_import_optval(argc, argv, &i, "--max-notes"))) {
            uint64_t n;
            if (cmd_import_u64(v, &n) < 0 || n == 0) {
                fprintf(stderr, "allocsim import: --max-notes: expected a positive number, "
                        "found '%s'\n", v);
                return 2;
            }
            ro.max_notes = (size_t)n;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "allocsim import: unknown option '%s'\n", argv[i]);
            cmd_import_usage(stderr);
            return 2;
        } else if (!log) {
            log = argv[i];
        } else {
            fprintf(stderr, "allocsim import: one LOG only (found '%s' after '%s')\n", argv[i], log);
            return 2;
        }
    }
    if (!log) {
        cmd_import_usage(stderr);
        return 2;
    }
    o.log_name = log;
    o.want_timeline = timeline != NULL;
    o.want_stream = stream_path != NULL || scenario != NULL;

    import_result r;
    char err[512];
    if (import_file(log, &o, &r, err, sizeof err) < 0) {
        fprintf(stderr, "allocsim import: %s\n", err);
        import_result_release(&r);
        return 2;
    }
    if (r.server_lines == 0) {
        /* Tolerance is for noise around server lines; a log without any is the wrong file. */
        char what[160];
        cmd_import_describe_empty(log, r.lines, what, sizeof what);
        fprintf(stderr, "allocsim import: %s: expected an allocation server log, found %s\n", log, what);
        import_result_release(&r);
        return 2;
    }
    int status = r.nfindings ? 1 : 0;
    sbuf out = SBUF_INIT;
    if (json)
        import_report_json(&r, log, &ro, &out);
    else
        import_report_text(&r, log, &ro, &out);
    fwrite(sbuf_str(&out), 1, out.len, stdout);
    fflush(stdout); /* the report before the "wrote FILE" lines, even when both are redirected */
    sbuf_release(&out);

    if (timeline && import_write_timeline(&r, log, timeline, err, sizeof err) < 0) {
        fprintf(stderr, "allocsim import: %s\n", err);
        status = 2;
    }
    if (stream_path) {
        if (stream_save(&r.stream, stream_path, err, sizeof err) < 0) {
            fprintf(stderr, "allocsim import: %s\n", err);
            status = 2;
        }
    }
    if (scenario && import_write_scenario(&r, log, scenario, err, sizeof err) < 0) {
        fprintf(stderr, "allocsim import: %s\n", err);
        status = 2;
    }
    if (!json) {
        if (timeline && status != 2)
            fprintf(stderr, "wrote %s (plot it with: allocsim plot %s -o timeline.png)\n",
                    timeline, timeline);
        if (stream_path && status != 2)
            fprintf(stderr, "wrote %s (%zu records, %u processes, digest 0x%016" PRIx64 "; "
                    "replay it with: allocsim replay %s)\n", stream_path, r.stream.nrecords,
                    r.stream.nprocs, r.stream.digest, stream_path);
        if (scenario && status != 2)
            fprintf(stderr, "wrote %s\n", scenario);
    }
    import_result_release(&r);
    return status;
}
