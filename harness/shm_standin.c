/* shm_standin: forked SHM writer processes driven over a pipe (see shm_standin.h).
 *
 * The command and acknowledgement records are fixed-size structs passed between a process
 * and its own fork (same binary, same ABI) over two socket pairs (send(MSG_NOSIGNAL): a
 * stand-in that died makes the next command fail instead of raising SIGPIPE). The
 * child's state lives in static arrays, so it needs no heap after the fork.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm_standin.h"

enum { CMD_ATTACH = 1, CMD_ALLOC, CMD_FREE, CMD_DETACH, CMD_EXIT, CMD_CB_UPDATE };

typedef struct {
    uint32_t op;
    int32_t slot;
    uint64_t size;
    uint32_t chip_id;
    uint8_t type;
    shmm_config cfg;
    uint64_t id;
    int32_t device_id;
    unsigned long kill_at;
    uint64_t vtime_ns; /* CMD_CB_UPDATE: the plan's virtual time (the rate limit's clock) */
    char name[64];
} cmd;

/* ---- the child ----------------------------------------------------------------------------- */

static shmio_region c_regions[SHMSI_MAX_SLOTS];
static shmm_provider c_providers[SHMSI_MAX_SLOTS];
static shmm_cb_limiter c_cb_limiter; /* process-wide, like TT-Metal's static map (§4.7) */

static int read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* send with MSG_NOSIGNAL: a stand-in that died must not kill the harness with SIGPIPE. */
static int write_full(int fd, const void *buf, size_t n) {
    size_t put = 0;
    while (put < n) {
        ssize_t r = send(fd, (const char *)buf + put, n - put, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        put += (size_t)r;
    }
    return 0;
}

static void close_from(int lowfd) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0u) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = lowfd; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
        close(fd);
}

static void child_main(int cfd, int afd, const shmio_dir *d, const char *name) {
    if (dup2(cfd, 0) < 0 || dup2(afd, 1) < 0)
        _exit(127);
    close_from(3);
    signal(SIGPIPE, SIG_DFL);
    for (int i = 0; i < SHMSI_MAX_SLOTS; i++)
        c_regions[i].fd = -1;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, name, 0, 0, 0);
    /* TT-Metal reads the slot name from /proc/<pid>/comm: so does the stand-in. */
    char comm[32] = {0};
    int fd = open("/proc/self/comm", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, comm, sizeof comm - 1);
        close(fd);
        if (n > 0) {
            comm[n] = 0;
            char *nl = strchr(comm, '\n');
            if (nl)
                *nl = 0;
        }
    }
    shmm_process self;
    shmm_process_init(&self, (int32_t)getpid(), fd >= 0 ? comm : NULL);
    shmm_env env = {0, shmio_pid_state, NULL};
    shmm_cb_limiter_init(&c_cb_limiter);
    for (;;) {
        cmd c;
        if (read_full(0, &c, sizeof c) < 0 || c.op == CMD_EXIT)
            _exit(0);
        shmm_result res;
        memset(&res, 0, sizeof res);
        shmsi_ack ack = {1, 0, -1, -1};
        if (c.slot < 0 || c.slot >= SHMSI_MAX_SLOTS)
            _exit(126);
        shmio_region *rg = &c_regions[c.slot];
        shmm_provider *pv = &c_providers[c.slot];
        shmm_ops ops;
        shmio_region_ops(&ops, rg);
        env.now_ns = shmio_now_ns();
        switch (c.op) {
        case CMD_ATTACH:
            shmio_region_close(rg);
            if (shmio_region_init(rg, d, c.name, shmio_mode_of(&c.cfg)) < 0)
                _exit(125);
            rg->kill_at = c.kill_at;
            shmm_provider_init(pv, &c.cfg, &self, c.id, c.device_id);
            ack.completed = shmm_attach(pv, &ops, &env, &res);
            break;
        case CMD_ALLOC:
        case CMD_FREE:
            ack.completed = c.op == CMD_ALLOC
                                ? shmm_record_alloc(pv, &ops, &env, c.size, c.type, c.chip_id, &res)
                                : shmm_record_free(pv, &ops, &env, c.size, c.type, c.chip_id, &res);
            break;
        case CMD_CB_UPDATE:
            /* virtual time, so the rate limit decides as the model did */
            env.now_ns = c.vtime_ns;
            ack.completed = shmm_update_from_allocator(pv, &ops, &env, &c_cb_limiter, c.size, &res);
            break;
        case CMD_DETACH:
            ack.completed = shmm_detach(pv, &ops, &env, &res);
            shmio_region_close(rg);
            break;
        default:
            _exit(124);
        }
        ack.attach = (int)res.attach;
        ack.slot = res.slot;
        ack.chip_slot = res.chip_slot;
        if (write_full(1, &ack, sizeof ack) < 0)
            _exit(0);
    }
}

/* ---- the harness side ---------------------------------------------------------------------- */

int shmsi_spawn(shmsi *s, const char *name, const shmio_dir *d, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->cmd_fd = s->ack_fd = -1;
    /* One socket pair per direction: send() can refuse SIGPIPE, write() on a pipe cannot. */
    int cp[2], ap[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cp) != 0) {
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ap) != 0) {
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        close(cp[0]);
        close(cp[1]);
        return -1;
    }
    char nm[16];
    snprintf(nm, sizeof nm, "%s", name ? name : "standin");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(cp[0]);
        close(cp[1]);
        close(ap[0]);
        close(ap[1]);
        return -1;
    }
    if (pid == 0)
        child_main(cp[0], ap[1], d, nm);
    close(cp[0]);
    close(ap[1]);
    s->pid = pid;
    s->cmd_fd = cp[1];
    s->ack_fd = ap[0];
    s->state = SHMSI_RUNNING;
    return 0;
}

static int reap(shmsi *s, shmsi_state st) {
    int status;
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (s->cmd_fd >= 0)
        close(s->cmd_fd);
    if (s->ack_fd >= 0)
        close(s->ack_fd);
    s->cmd_fd = s->ack_fd = -1;
    s->state = st;
    return 0;
}

static int transact(shmsi *s, const cmd *c, shmsi_ack *ack, char *err, size_t errlen) {
    if (s->state != SHMSI_RUNNING) {
        snprintf(err, errlen, "stand-in %ld is not running", (long)s->pid);
        return -1;
    }
    shmsi_ack a;
    if (write_full(s->cmd_fd, c, sizeof *c) < 0 || read_full(s->ack_fd, &a, sizeof a) < 0) {
        /* It died during the operation: a kill_at crash (or a SIGBUS). Reap it. */
        reap(s, SHMSI_CRASHED);
        memset(ack, 0, sizeof *ack);
        ack->slot = ack->chip_slot = -1;
        return 0;
    }
    *ack = a;
    return 0;
}

int shmsi_attach(shmsi *s, int slot, const shmm_config *cfg, const char *name, uint64_t id, int32_t device_id,
                 unsigned long kill_at, shmsi_ack *ack, char *err, size_t errlen) {
    cmd c;
    memset(&c, 0, sizeof c);
    c.op = CMD_ATTACH;
    c.slot = slot;
    c.cfg = *cfg;
    c.id = id;
    c.device_id = device_id;
    c.kill_at = kill_at;
    if (strlen(name) >= sizeof c.name) {
        snprintf(err, errlen, "region name too long: %s", name);
        return -1;
    }
    memcpy(c.name, name, strlen(name) + 1);
    return transact(s, &c, ack, err, errlen);
}

int shmsi_record(shmsi *s, int slot, int is_free, uint64_t size, uint8_t type, uint32_t chip_id, shmsi_ack *ack,
                 char *err, size_t errlen) {
    cmd c;
    memset(&c, 0, sizeof c);
    c.op = is_free ? CMD_FREE : CMD_ALLOC;
    c.slot = slot;
    c.size = size;
    c.type = type;
    c.chip_id = chip_id;
    return transact(s, &c, ack, err, errlen);
}

int shmsi_cb_update(shmsi *s, int slot, uint64_t cb_bytes, uint64_t vtime_ns, shmsi_ack *ack, char *err,
                    size_t errlen) {
    cmd c;
    memset(&c, 0, sizeof c);
    c.op = CMD_CB_UPDATE;
    c.slot = slot;
    c.size = cb_bytes;
    c.vtime_ns = vtime_ns;
    return transact(s, &c, ack, err, errlen);
}

int shmsi_detach(shmsi *s, int slot, shmsi_ack *ack, char *err, size_t errlen) {
    cmd c;
    memset(&c, 0, sizeof c);
    c.op = CMD_DETACH;
    c.slot = slot;
    return transact(s, &c, ack, err, errlen);
}

int shmsi_crash(shmsi *s, char *err, size_t errlen) {
    if (s->state != SHMSI_RUNNING) {
        snprintf(err, errlen, "stand-in %ld is not running", (long)s->pid);
        return -1;
    }
    kill(s->pid, SIGKILL);
    return reap(s, SHMSI_CRASHED);
}

int shmsi_exit(shmsi *s, char *err, size_t errlen) {
    if (s->state != SHMSI_RUNNING) {
        snprintf(err, errlen, "stand-in %ld is not running", (long)s->pid);
        return -1;
    }
    cmd c;
    memset(&c, 0, sizeof c);
    c.op = CMD_EXIT;
    write_full(s->cmd_fd, &c, sizeof c);
    return reap(s, SHMSI_EXITED);
}

void shmsi_release(shmsi *s) {
    if (s->state == SHMSI_RUNNING) {
        kill(s->pid, SIGKILL);
        reap(s, SHMSI_CRASHED);
    }
    if (s->cmd_fd >= 0)
        close(s->cmd_fd);
    if (s->ack_fd >= 0)
        close(s->ack_fd);
    s->cmd_fd = s->ack_fd = -1;
}
