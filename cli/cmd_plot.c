/* cmd_plot: `allocsim plot TIMELINE.tsv -o FILE.png|FILE.svg [...]`, the command-line face of
 * the plot driver (plots/plot.h). It parses options, calls plot_render, prints the leak list
 * and what was written, and maps the result to an exit status:
 *   0  the picture was written;
 *   1  no picture: gnuplot is missing or failed (data and script are kept to render later);
 *   2  bad usage, unreadable or malformed timeline, missing template, unwritable output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "plot.h"

static void cmd_plot_usage(FILE *f)
{
    fprintf(f,
            "usage: allocsim plot TIMELINE.tsv -o FILE.png|FILE.svg [options]\n"
            "\n"
            "Renders a memory timeline (written by `allocsim run` or `allocsim import`) with\n"
            "gnuplot: one panel per device, stacked bytes in use per region, each region on a\n"
            "log scale with its capacity, the peak, the phases. Prints what is still in use at\n"
            "the end of the timeline. Writes FILE.data.tsv and FILE.gp beside the picture and\n"
            "removes them once gnuplot succeeded (unless --keep-script).\n"
            "\n"
            "options:\n"
            "  -o, --output FILE     picture to write; .png or .svg decides the format\n"
            "  --devices LIST        devices to draw: 0,3,5 or all (default all)\n"
            "  --max-points N        points per panel after downsampling (default %d)\n"
            "  --title TEXT          figure title (default: the timeline's #title)\n"
            "  --keep-script         keep FILE.data.tsv and FILE.gp\n"
            "\n"
            "exit status: 0 picture written; 1 no picture (gnuplot missing or failed; data and\n"
            "script kept); 2 bad usage or bad timeline.\n",
            PLOT_DEFAULT_MAX_POINTS);
}

/* Value of an option given as `--name VALUE` or `--name=VALUE`; NULL when argv[*i] is not it. */
static const char *cmd_plot_optval(int argc, char **argv, int *i, const char *name,
                                   int *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

int cmd_plot(int argc, char **argv)
{
    plot_opts opts;
    const char *tsv = NULL, *v;
    sbuf report = SBUF_INIT;
    char err[8192];
    int i, rc;

    memset(&opts, 0, sizeof opts);
    for (i = 1; i < argc; i++) {
        int missing = 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cmd_plot_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--keep-script") == 0) {
            opts.keep_script = 1;
            continue;
        }
        if ((v = cmd_plot_optval(argc, argv, &i, "-o", &missing)) != NULL ||
            (v = cmd_plot_optval(argc, argv, &i, "--output", &missing)) != NULL) {
            opts.output_path = v;
            continue;
        }
        if ((v = cmd_plot_optval(argc, argv, &i, "--devices", &missing)) != NULL) {
            opts.devices = v;
            continue;
        }
        if ((v = cmd_plot_optval(argc, argv, &i, "--title", &missing)) != NULL) {
            opts.title = v;
            continue;
        }
        if ((v = cmd_plot_optval(argc, argv, &i, "--max-points", &missing)) != NULL) {
            char *end;
            unsigned long long n;
            errno = 0;
            n = strtoull(v, &end, 10);
            if (errno != 0 || *end != '\0' || end == v || v[0] == '-' ||
                n < PLOT_MIN_MAX_POINTS) {
                fprintf(stderr,
                        "allocsim plot: --max-points: expected an integer >= %d, found \"%s\"\n",
                        PLOT_MIN_MAX_POINTS, v);
                return 2;
            }
            opts.max_points = (size_t)n;
            continue;
        }
        if (missing) {
            fprintf(stderr, "allocsim plot: %s: expected a value, found end of arguments\n",
                    argv[i]);
            return 2;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "allocsim plot: unknown option %s\n", argv[i]);
            cmd_plot_usage(stderr);
            return 2;
        }
        if (tsv) {
            fprintf(stderr, "allocsim plot: expected one timeline, found a second: %s\n",
                    argv[i]);
            return 2;
        }
        tsv = argv[i];
    }
    if (!tsv || !opts.output_path) {
        fprintf(stderr, "allocsim plot: expected %s\n",
                !tsv ? "a timeline file" : "-o FILE.png or -o FILE.svg");
        cmd_plot_usage(stderr);
        return 2;
    }
    opts.report = &report;
    err[0] = '\0';
    rc = plot_render(tsv, &opts, err, sizeof err);
    fputs(sbuf_str(&report), stdout);
    fflush(stdout);
    sbuf_release(&report);
    switch (rc) {
    case PLOT_OK:
        return 0;
    case PLOT_NO_GNUPLOT:
    case PLOT_ERR_GNUPLOT:
        fprintf(stderr, "allocsim plot: %s\n", err);
        return 1;
    default:
        fprintf(stderr, "allocsim plot: %s\n", err);
        return 2;
    }
}
