/* allocsim-server: allocsim's reference TT-Metal allocation server (docs/server.md).
 *
 * This file only decides exit codes and owns the process-wide signal set-up; the server is
 * server/srv.c. SIGINT and SIGTERM are blocked in every thread and taken by sigwait in one
 * dedicated thread, which asks the server to stop: nothing is printed from a signal handler,
 * so a signal can never deadlock on the server's lock (the real server's defect, §8.4).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "srv.h"

static void *server_wait_signal(void *arg) {
    srv *server = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    srv_stop(server);
    return NULL;
}

int main(int argc, char **argv) {
    srv_config cfg;
    srv_config_defaults(&cfg);
    char err[512] = "";
    switch (srv_parse_args(argc, argv, &cfg, err, sizeof err)) {
    case SRV_ARGS_HELP:
        fputs(srv_usage(), stdout);
        return 0;
    case SRV_ARGS_ERROR:
        fprintf(stderr, "allocsim-server: %s\nTry 'allocsim-server --help'.\n", err);
        return 2;
    case SRV_ARGS_RUN:
        break;
    }

    /* Replies use MSG_NOSIGNAL; this covers stdout/stderr pipes whose reader went away. */
    if (!(cfg.faults & SRV_FAULT_SIGPIPE))
        signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    srv *server = srv_new(&cfg, err, sizeof err);
    if (!server) {
        /* The real v144 server's --quiet silences this line too. */
        if (!cfg.quiet)
            fprintf(stderr, "%s\n", err);
        return 1;
    }
    pthread_t signal_thread;
    if (pthread_create(&signal_thread, NULL, server_wait_signal, server) != 0) {
        if (!cfg.quiet)
            fprintf(stderr, "Error: cannot start the signal thread\n");
        srv_free(server);
        return 1;
    }
    int rc = srv_run(server, err, sizeof err);
    /* srv_run returns after a signal; otherwise wake the signal thread so it can be joined. */
    pthread_kill(signal_thread, SIGTERM);
    pthread_join(signal_thread, NULL);
    if (rc != 0 && !cfg.quiet)
        fprintf(stderr, "Error: %s\n", err);
    srv_free(server);
    return rc == 0 ? 0 : 1;
}
