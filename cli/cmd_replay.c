/* cmd_replay: `allocsim replay FILE.allocstream`, one recorded stream sent to a server and
 * judged against the ledger exactly as the fuzzer judged it (same executor), so a fuzzer's
 * reproducer fails the same way here, and a recording from `allocsim run` replays anywhere.
 *
 * The server is the reference server of the stream's revision (its dead-PID and statistics
 * timers off, like the fuzzer's), a --server command, or one that runs already (--socket with
 * --server-log). The dumps the server printed go to stdout; the verdict to stderr.
 * Exit status: 0 held, 1 a reply or dump differs, 2 bad usage or unreadable file, 3 the
 * server crashed, hung, printed a sanitizer report or could not be reached.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "fuzz.h"
#include "fuzz_exec.h"
#include "sbuf.h"
#include "stream.h"

static const char *const replay_reference_args[] = {"--cleanup-interval", "0", "--stats-interval", "0", NULL};

static void replay_usage(FILE *f) {
    fprintf(f,
            "usage: allocsim replay FILE.allocstream [--server \"CMD\" | --socket PATH --server-log FILE]\n"
            "                       [--protocol REV] [--vs \"CMD\"] [--timeout DURATION]\n"
            "                       [--check-device-info] [--devices PRESET] [--print-stream]\n"
            "\n"
            "Sends a recorded stream to a server, prints the DUMP_REMAINING reports it printed and\n"
            "checks them and every QUERY/DEVICE_INFO reply against the ledger.\n"
            "Exit status: 0 held, 1 differs, 2 bad file or usage, 3 server crashed or hung.\n"
            "\n"
            "  --server \"CMD\"       server command (default: allocsim-server of the stream's revision)\n"
            "  --socket PATH        attach to a running server ...\n"
            "  --server-log FILE    ... whose output goes to FILE (needed to read its dumps)\n"
            "  --protocol REV       the server's revision if not the stream's (same frame size)\n"
            "  --vs \"CMD\"           compare with a second server instead of the ledger\n"
            "  --timeout DURATION   a reply or report later than this is a hang (default 5s)\n"
            "  --check-device-info  compare DEVICE_INFO replies with --server too\n"
            "  --devices PRESET     the reference server and the ledger detect PRESET's chips;\n"
            "                       DEVICE_INFO replies are compared (as allocsim fuzz --devices)\n"
            "  --print-stream       print the stream, one record per line, and exit\n");
}

/* Failures of the server itself (as opposed to wrong answers) exit with 3. */
static int signature_is_server_failure(const char *sig) {
    static const char *const prefixes[] = {"crash-", "exit-status-", "hang", "asan", "lsan", "ubsan",
                                           "tsan", "msan"};
    const char *p = sig;
    if ((p[0] == 'a' || p[0] == 'b') && p[1] == '-')
        p += 2;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(p, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

static const char *replay_devices; /* --devices PRESET or NULL */

static int replay_exec(proto_rev rev, const char *cmd, const char *sock, const char *log, int timeout_ms,
                       int oracle, int check_devinfo, fuzz_exec **out) {
    fuzz_exec_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rev = rev;
    cfg.command = cmd;
    cfg.extra_args = cmd || sock ? NULL : replay_reference_args;
    cfg.attach_socket = sock;
    cfg.attach_log = log;
    cfg.timeout_ms = timeout_ms;
    cfg.oracle = oracle;
    cfg.check_device_info = (cmd || sock) ? check_devinfo : 1;
    cfg.devices = replay_devices;
    cfg.background_cleanup = sock || (cmd && !fuzz_command_disables_cleanup(cmd));
    cfg.final_check = 1;
    cfg.record_transcript = !oracle;
    cfg.keep_dumps = 1;
    char err[2048];
    if (fuzz_exec_new(&cfg, out, err, sizeof err) != 0) {
        fprintf(stderr, "allocsim replay: cannot reach the server: %s\n", err);
        return -1;
    }
    const char *note = fuzz_exec_note(*out);
    if (note)
        fprintf(stderr, "replay: note: %s\n", note);
    return 0;
}

int cmd_replay(int argc, char **argv) {
    const char *file = NULL, *server = NULL, *sock = NULL, *log = NULL, *vs = NULL, *rev_name = NULL;
    uint64_t timeout_ms = 5000;
    int check_devinfo = 0, print_stream = 0;
    char err[1024];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int valued = strcmp(a, "--server") == 0 || strcmp(a, "--socket") == 0 ||
                     strcmp(a, "--server-log") == 0 || strcmp(a, "--vs") == 0 ||
                     strcmp(a, "--protocol") == 0 || strcmp(a, "--timeout") == 0 ||
                     strcmp(a, "--devices") == 0;
        if (valued && !v) {
            fprintf(stderr, "allocsim replay: %s: expected a value, found the end\n", a);
            return 2;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            replay_usage(stdout);
            return 0;
        } else if (strcmp(a, "--server") == 0) {
            server = v;
        } else if (strcmp(a, "--socket") == 0) {
            sock = v;
        } else if (strcmp(a, "--server-log") == 0) {
            log = v;
        } else if (strcmp(a, "--vs") == 0) {
            vs = v;
        } else if (strcmp(a, "--protocol") == 0) {
            rev_name = v;
        } else if (strcmp(a, "--timeout") == 0) {
            if (fuzz_parse_duration(v, &timeout_ms, err, sizeof err) != 0 || timeout_ms == 0 ||
                timeout_ms > INT32_MAX) {
                fprintf(stderr, "allocsim replay: --timeout: %s\n", err);
                return 2;
            }
        } else if (strcmp(a, "--check-device-info") == 0) {
            check_devinfo = 1;
            continue;
        } else if (strcmp(a, "--devices") == 0) {
            replay_devices = v; /* checked by the executor */
            check_devinfo = 1;
        } else if (strcmp(a, "--print-stream") == 0) {
            print_stream = 1;
            continue;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "allocsim replay: expected an option (see --help), found '%s'\n", a);
            return 2;
        } else if (!file) {
            file = a;
            continue;
        } else {
            fprintf(stderr, "allocsim replay: expected one stream file, found a second: '%s'\n", a);
            return 2;
        }
        i++;
    }
    if (!file) {
        replay_usage(stderr);
        return 2;
    }
    if (server && sock) {
        fprintf(stderr, "allocsim replay: expected --server or --socket, found both\n");
        return 2;
    }
    if (sock && !log) {
        fprintf(stderr, "allocsim replay: --socket: expected --server-log FILE too (the dumps are read from it)\n");
        return 2;
    }
    stream s;
    if (stream_load(file, &s, err, sizeof err) != 0) {
        fprintf(stderr, "allocsim replay: %s\n", err);
        return 2;
    }
    if (print_stream) {
        sbuf b = SBUF_INIT;
        fuzz_stream_render(&s, &b);
        fputs(sbuf_str(&b), stdout);
        sbuf_release(&b);
        stream_release(&s);
        return 0;
    }
    proto_rev rev = s.rev;
    if (rev_name) {
        if (proto_rev_parse(rev_name, &rev) != 0) {
            fprintf(stderr, "allocsim replay: --protocol: expected one of %s, found '%s'\n", proto_rev_names(),
                    rev_name);
            stream_release(&s);
            return 2;
        }
        if (proto_rev_get(rev)->frame_size != s.frame_size) {
            fprintf(stderr, "allocsim replay: --protocol %s: expected a revision with %zu-byte frames like the "
                            "stream's (%s), found %zu-byte frames\n",
                    rev_name, s.frame_size, proto_rev_get(s.rev)->name, proto_rev_get(rev)->frame_size);
            stream_release(&s);
            return 2;
        }
    }
    fuzz_exec *a = NULL, *b = NULL;
    if (replay_exec(rev, server, sock, log, (int)timeout_ms, vs == NULL, check_devinfo, &a) != 0) {
        stream_release(&s);
        return 3;
    }
    if (vs && replay_exec(rev, vs, NULL, NULL, (int)timeout_ms, 0, check_devinfo, &b) != 0) {
        fuzz_exec_free(a);
        stream_release(&s);
        return 3;
    }
    fuzz_outcome oa, ob;
    fuzz_outcome_init(&oa);
    fuzz_outcome_init(&ob);
    fuzz_verdict va = fuzz_exec_run(a, &s, &oa);
    fuzz_verdict vb = b ? fuzz_exec_run(b, &s, &ob) : FUZZ_PASS;
    fputs(sbuf_str(&oa.dump_text), stdout);
    fflush(stdout);
    int status = 0;
    const char *name = file;
    if (va == FUZZ_ERROR || vb == FUZZ_ERROR) {
        fprintf(stderr, "replay %s: could not run: %s\n", name, sbuf_str(va == FUZZ_ERROR ? &oa.detail : &ob.detail));
        status = 3;
    } else if (va == FUZZ_FAIL || vb == FUZZ_FAIL) {
        fuzz_outcome *o = va == FUZZ_FAIL ? &oa : &ob;
        fprintf(stderr, "replay %s: FAILED %s%s\n%s\n", name, b ? (va == FUZZ_FAIL ? "(server A) " : "(server B) ") : "",
                o->signature, sbuf_str(&o->detail));
        status = signature_is_server_failure(o->signature) ? 3 : 1;
    } else if (va == FUZZ_INCONCLUSIVE || vb == FUZZ_INCONCLUSIVE) {
        fprintf(stderr, "replay %s: no verdict: %s\n", name,
                sbuf_str(va == FUZZ_INCONCLUSIVE ? &oa.detail : &ob.detail));
        status = 1;
    } else if (b) {
        char sig[128];
        sbuf d = SBUF_INIT;
        if (fuzz_observations_compare(rev, &oa, &ob, sig, sizeof sig, &d) != 0) {
            fprintf(stderr, "replay %s: the servers differ (%s)\n%s\n", name, sig, sbuf_str(&d));
            status = 1;
        } else {
            fprintf(stderr, "replay %s: held: both servers gave the same %zu replies and reports\n", name, oa.nobs);
        }
        sbuf_release(&d);
    } else {
        fprintf(stderr, "replay %s: held: %" PRIu64 " replies and %" PRIu64 " reports match the ledger (%zu records)\n",
                name, oa.replies, oa.dumps, s.nrecords);
    }
    fuzz_outcome_release(&oa);
    fuzz_outcome_release(&ob);
    fuzz_exec_free(a);
    fuzz_exec_free(b);
    stream_release(&s);
    return status;
}
