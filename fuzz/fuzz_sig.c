/* fuzz_sig: naming failures — sanitizer report lines and signals turned into file-name-safe
 * signatures — plus the small parsers the fuzz front ends share (durations, whether a server
 * command turns its cleanup timer off).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "fuzz_int.h"
#include "mem.h"
#include "rng.h"

/* ---- signatures ------------------------------------------------------------------------------ */

void fuzz_signature_clean(char *sig) {
    size_t o = 0;
    for (size_t i = 0; sig[i] && o < 96; i++) {
        char ch = sig[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == '-';
        if (!ok)
            ch = '-';
        if (ch == '-' && (o == 0 || sig[o - 1] == '-'))
            continue;
        sig[o++] = ch;
    }
    while (o > 0 && sig[o - 1] == '-')
        o--;
    sig[o] = '\0';
    if (o == 0)
        strcpy(sig, "unknown");
}

/* Appends up to max words of text[0..len) to sig, '-'-separated: quoted parts ('...') and
 * words with digits are skipped, a word ending in ':' ends the list, and so do the words
 * "on", "at" and "in" after the first. */
static void sig_words(const char *text, size_t len, int max, char *sig, size_t n) {
    size_t used = strlen(sig);
    int words = 0;
    size_t i = 0;
    while (i < len && words < max) {
        while (i < len && (text[i] == ' ' || text[i] == '\t'))
            i++;
        if (i < len && text[i] == '\'') {
            size_t j = i + 1;
            while (j < len && text[j] != '\'')
                j++;
            i = j + 1;
            continue;
        }
        size_t start = i;
        while (i < len && text[i] != ' ' && text[i] != '\t' && text[i] != '\'')
            i++;
        size_t wl = i - start;
        if (wl == 0)
            continue;
        int colon = text[start + wl - 1] == ':';
        if (colon)
            wl--;
        int digit = 0;
        for (size_t k = 0; k < wl; k++)
            if (text[start + k] >= '0' && text[start + k] <= '9')
                digit = 1;
        if (words > 0 && ((wl == 2 && (strncmp(text + start, "on", 2) == 0 ||
                                       strncmp(text + start, "at", 2) == 0 ||
                                       strncmp(text + start, "in", 2) == 0))))
            break;
        if (!digit && wl > 0) {
            int k = snprintf(sig + used, n - used, "-%.*s", (int)wl, text + start);
            if (k < 0 || (size_t)k >= n - used)
                break;
            used += (size_t)k;
            words++;
        }
        if (colon)
            break;
    }
}

static const char *find_sub(const char *s, size_t len, const char *needle) {
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (memcmp(s + i, needle, nl) == 0)
            return s + i;
    return NULL;
}

int fuzz_sanitizer_signature(const char *line, size_t len, char *sig, size_t n) {
    static const struct {
        const char *marker;
        const char *prefix;
        int words;
    } kinds[] = {
        {"ERROR: LeakSanitizer:", "lsan-leak", 0},
        {"ERROR: AddressSanitizer: ", "asan", 3},
        {"runtime error: ", "ubsan", 4},
        {"WARNING: ThreadSanitizer: ", "tsan", 3},
        {"WARNING: MemorySanitizer: ", "msan", 3},
        {"ERROR: MemorySanitizer: ", "msan", 3},
    };
    if (n == 0)
        return 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const char *at = find_sub(line, len, kinds[k].marker);
        if (!at)
            continue;
        snprintf(sig, n, "%s", kinds[k].prefix);
        if (kinds[k].words) {
            size_t off = (size_t)(at - line) + strlen(kinds[k].marker);
            sig_words(line + off, len - off, kinds[k].words, sig, n);
        }
        fuzz_signature_clean(sig);
        return 1;
    }
    return 0;
}

const char *fuzz_signal_name(int sig, char *buf, size_t n) {
    static const struct {
        int sig;
        const char *name;
    } names[] = {{SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},
                 {SIGILL, "SIGILL"},   {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},
                 {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
                 {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
                 {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
                 {SIGSYS, "SIGSYS"},   {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig) {
            snprintf(buf, n, "%s", names[i].name);
            return buf;
        }
    snprintf(buf, n, "SIG%d", sig);
    return buf;
}

int fuzz_parse_duration(const char *text, uint64_t *ms, char *err, size_t errlen) {
    char *end = NULL;
    double v = text && *text ? strtod(text, &end) : -1.0;
    double scale = -1.0;
    if (end && end != text && v >= 0.0) {
        if (*end == '\0' || strcmp(end, "s") == 0)
            scale = 1000.0;
        else if (strcmp(end, "ms") == 0)
            scale = 1.0;
        else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
            scale = 60000.0;
        else if (strcmp(end, "h") == 0)
            scale = 3600000.0;
    }
    if (scale < 0.0 || v * scale > 1e15) {
        snprintf(err, errlen, "expected a duration such as 60s, 5m or 500ms, found '%s'", text ? text : "");
        return -1;
    }
    *ms = (uint64_t)(v * scale + 0.5);
    return 0;
}

int fuzz_command_disables_cleanup(const char *command) {
    static const char opt[] = "--cleanup-interval";
    for (const char *p = command; p && (p = strstr(p, opt)) != NULL; p += sizeof opt - 1) {
        const char *v = p + sizeof opt - 1;
        if (*v != ' ' && *v != '=')
            continue;
        while (*v == ' ' || *v == '=')
            v++;
        char *end;
        double d = strtod(v, &end);
        if (end != v && d == 0.0 && (*end == '\0' || *end == ' ' || *end == '\''))
            return 1;
    }
    return 0;
}

