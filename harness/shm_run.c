/* shm_run: the SHM transport's executor (see shm_run.h).
 *
 * Every SHM operation is one command and one acknowledgement on the stand-in's pipes, so
 * operations of different processes never overlap and the regions at a check point are
 * exactly those after the plan's steps before it. The reader at a check point is started
 * with /bin/sh -c, LD_PRELOAD of the shim and ALLOCSIM_SHM_DIR set to the private
 * directory; its stdout and stderr are collected up to 64 KiB, and it is killed if it runs
 * longer than the timeout (a `tt_smi -w` would never end on its own).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "shm_run.h"
#include "srvproc.h"

extern char **environ;

int shmrun_init(shmrun *x, const plan *p, const shm_plan *sp, const shmio_dir *dir, const char *reader_cmd) {
    memset(x, 0, sizeof *x);
    x->p = p;
    x->sp = sp;
    x->dir = dir;
    x->reader_cmd = reader_cmd;
    x->reader_timeout_ms = 10000;
    size_t np = p->nprocs ? (size_t)p->nprocs : 1, nd = p->ndumps ? p->ndumps : 1;
    x->si = mem_calloc(np, sizeof *x->si);
    x->live_pid = mem_calloc(np, sizeof *x->live_pid);
    x->actual = mem_calloc(nd, sizeof *x->actual);
    x->have_actual = mem_calloc(nd, 1);
    x->reader_out = mem_calloc(nd, sizeof *x->reader_out);
    x->reader_status = mem_calloc(nd, sizeof *x->reader_status);
    if (!x->si || !x->live_pid || !x->actual || !x->have_actual || !x->reader_out || !x->reader_status) {
        snprintf(x->msg, sizeof x->msg, "shm: out of memory (host)");
        return -1;
    }
    for (size_t i = 0; i < np; i++)
        x->si[i].cmd_fd = x->si[i].ack_fd = -1;
    for (size_t i = 0; i < nd; i++)
        x->reader_status[i] = -1;
    if (reader_cmd) {
        char err[300];
        if (srvproc_shim_path(x->shim_path, sizeof x->shim_path, err, sizeof err) != 0) {
            snprintf(x->msg, sizeof x->msg, "--reader needs the shim: %s", err);
            return -1;
        }
    }
    return 0;
}

static int read_regions(shmrun *x, shmp_image *im) {
    const shm_plan *sp = x->sp;
    size_t n = sp->nchips ? (size_t)sp->nchips : 1;
    im->bytes = mem_calloc(n, SHMM_FILE_CAPACITY);
    im->size = mem_calloc(n, sizeof *im->size);
    im->exists = mem_calloc(n, 1);
    if (!im->bytes || !im->size || !im->exists) {
        snprintf(x->msg, sizeof x->msg, "shm: out of memory (host)");
        return -1;
    }
    for (int c = 0; c < sp->nchips; c++) {
        char err[300];
        long sz = shmio_read_file(x->dir, sp->chips[c].name, im->bytes + (size_t)c * SHMM_FILE_CAPACITY,
                                  SHMM_FILE_CAPACITY, err, sizeof err);
        if (sz == -2) {
            snprintf(x->msg, sizeof x->msg, "shm: reading region %s: %s", sp->chips[c].name, err);
            return -1;
        }
        im->exists[c] = sz >= 0;
        im->size[c] = sz >= 0 ? (size_t)sz : 0;
    }
    return 0;
}

static void image_free(shmp_image *im) {
    mem_free(im->bytes);
    mem_free(im->size);
    mem_free(im->exists);
    memset(im, 0, sizeof *im);
}

static long elapsed_ms(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Runs the reader once; its output goes to out. Returns its wait status, or -1 (x->msg). */
static int run_reader(shmrun *x, sbuf *out) {
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(x->msg, sizeof x->msg, "reader: pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    /* environ + LD_PRELOAD (prepended to any existing one) + ALLOCSIM_SHM_DIR */
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = mem_calloc(n + 3, sizeof *env);
    char *pre = mem_alloc(sizeof x->shim_path + 4096), *dirv = mem_alloc(SHMIO_PATH_MAX + 32);
    int status = -1;
    if (!env || !pre || !dirv) {
        snprintf(x->msg, sizeof x->msg, "reader: out of memory (host)");
        goto out;
    }
    const char *old = getenv("LD_PRELOAD");
    snprintf(pre, sizeof x->shim_path + 4096, "LD_PRELOAD=%s%s%s", x->shim_path, old && *old ? " " : "",
             old ? old : "");
    snprintf(dirv, SHMIO_PATH_MAX + 32, "ALLOCSIM_SHM_DIR=%s", x->dir->path);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 && strncmp(environ[i], "ALLOCSIM_SHM_DIR=", 17) != 0)
            env[k++] = environ[i];
    env[k++] = pre;
    env[k++] = dirv;
    env[k] = NULL;
    char *argv[] = {"/bin/sh", "-c", (char *)x->reader_cmd, NULL};
    pid_t pid;
    int e = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env);
    close(pfd[1]);
    pfd[1] = -1;
    if (e != 0) {
        snprintf(x->msg, sizeof x->msg, "reader: cannot start /bin/sh: %s", strerror(e));
        goto out;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int killed = 0;
    for (;;) {
        long left = x->reader_timeout_ms - elapsed_ms(&t0);
        if (left <= 0 && !killed) {
            kill(-pid, SIGKILL);
            killed = 1;
            sbuf_printf(out, "[allocsim: reader killed after %d ms]\n", x->reader_timeout_ms);
        }
        struct pollfd p = {pfd[0], POLLIN, 0};
        int r = poll(&p, 1, left > 0 ? (int)left : 100);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char buf[4096];
        ssize_t got = read(pfd[0], buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (out->len < 65536)
            sbuf_append(out, buf, (size_t)got);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
out:
    if (pfd[1] >= 0)
        close(pfd[1]);
    close(pfd[0]);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    mem_free(env);
    mem_free(pre);
    mem_free(dirv);
    return status;
}

static int fail_si(shmrun *x, size_t step, const char *err) {
    snprintf(x->msg, sizeof x->msg, "plan step %zu: %s", step, err);
    return -1;
}

static int exec_op(shmrun *x, const shmp_op *op) {
    const shm_plan *sp = x->sp;
    shmsi *s = &x->si[op->proc];
    if (s->state != SHMSI_RUNNING)
        return 0; /* died during an earlier operation: its later ones never happen */
    const shmp_chip *c = &sp->chips[op->chip];
    shmsi_ack ack;
    char err[300];
    int rc;
    switch (op->kind) {
    case SHMP_ATTACH:
        rc = shmsi_attach(s, op->chip, &sp->cfgs[op->mesh], c->name, c->id, c->device_id, 0, &ack, err, sizeof err);
        break;
    case SHMP_ALLOC:
    case SHMP_FREE:
        rc = shmsi_record(s, op->chip, op->kind == SHMP_FREE, op->size, op->type, (uint32_t)c->device_id, &ack, err,
                          sizeof err);
        break;
    case SHMP_CB_UPDATE:
        rc = shmsi_cb_update(s, op->chip, op->size, x->p->steps[op->step].vtime_ns, &ack, err, sizeof err);
        break;
    default:
        rc = shmsi_detach(s, op->chip, &ack, err, sizeof err);
        break;
    }
    if (rc < 0)
        return fail_si(x, op->step, err);
    if (!ack.completed) {
        snprintf(x->msg, sizeof x->msg, "plan step %zu: stand-in of %s (pid %ld) died during an SHM operation",
                 op->step, x->p->proc_names[op->proc], (long)s->pid);
        return -1;
    }
    x->ops_done++;
    return 0;
}

static int exec_step(shmrun *x, size_t i) {
    const plan *p = x->p;
    const plan_step *st = &p->steps[i];
    char err[300];
    shmsi *s = st->proc >= 0 && st->proc < p->nprocs ? &x->si[st->proc] : NULL;
    switch (st->kind) {
    case PLAN_SPAWN:
        if (shmsi_spawn(s, p->proc_names[st->proc], x->dir, err, sizeof err) < 0)
            return fail_si(x, i, err);
        x->live_pid[st->proc] = (int32_t)s->pid;
        break;
    case PLAN_CRASH:
        if (s->state == SHMSI_RUNNING && shmsi_crash(s, err, sizeof err) < 0)
            return fail_si(x, i, err);
        break;
    case PLAN_EXIT:
        if (s->state == SHMSI_RUNNING && shmsi_exit(s, err, sizeof err) < 0)
            return fail_si(x, i, err);
        break;
    case PLAN_DUMP:
        if (st->dump >= 0 && (size_t)st->dump < p->ndumps && !x->have_actual[st->dump]) {
            if (read_regions(x, &x->actual[st->dump]) < 0)
                return -1;
            x->have_actual[st->dump] = 1;
            if (x->reader_cmd) {
                int status = run_reader(x, &x->reader_out[st->dump]);
                if (status == -1 && x->msg[0])
                    return -1;
                x->reader_status[st->dump] = status;
            }
        }
        break;
    default:
        break;
    }
    for (size_t k = x->sp->step_ops[i]; k < x->sp->step_ops[i + 1]; k++)
        if (exec_op(x, &x->sp->ops[k]) < 0)
            return -1;
    return 0;
}

int shmrun_advance(shmrun *x, size_t end) {
    if (end > x->p->nsteps)
        end = x->p->nsteps;
    while (x->next < end) {
        if (exec_step(x, x->next) < 0)
            return -1;
        x->next++;
    }
    return 0;
}

int shmrun_finish(shmrun *x) {
    if (shmrun_advance(x, x->p->nsteps) < 0)
        return -1;
    if (!x->have_final) {
        if (read_regions(x, &x->final) < 0)
            return -1;
        x->have_final = 1;
    }
    return 0;
}

void shmrun_release(shmrun *x) {
    if (x->si)
        for (int i = 0; i < x->p->nprocs; i++)
            shmsi_release(&x->si[i]);
    if (x->actual)
        for (size_t i = 0; i < x->p->ndumps; i++)
            image_free(&x->actual[i]);
    if (x->reader_out)
        for (size_t i = 0; i < x->p->ndumps; i++)
            sbuf_release(&x->reader_out[i]);
    image_free(&x->final);
    mem_free(x->si);
    mem_free(x->live_pid);
    mem_free(x->actual);
    mem_free(x->have_actual);
    mem_free(x->reader_out);
    mem_free(x->reader_status);
    x->si = NULL;
    x->actual = NULL;
    x->reader_out = NULL;
}

int32_t shmrun_live_to_sim(void *ctx, int32_t pid) {
    const shmrun *x = ctx;
    for (int i = 0; i < x->p->nprocs; i++)
        if (x->live_pid[i] == pid)
            return x->p->sim_pid[i];
    return pid;
}

const char *shmrun_live_pid_name(void *ctx, int32_t pid) {
    const shmrun *x = ctx;
    for (int i = 0; i < x->p->nprocs; i++)
        if (x->live_pid[i] == pid)
            return x->p->proc_names[i];
    return NULL;
}

const char *shmrun_sim_pid_name(void *ctx, int32_t pid) {
    const shmrun *x = ctx;
    for (int i = 0; i < x->p->nprocs; i++)
        if (x->p->sim_pid[i] == pid)
            return x->p->proc_names[i];
    return NULL;
}

/* ---- --transport both: the runner's processes are the SHM stand-ins -------------------------- */

/* The plan step of kind k for process proc (the n-th DUMP when proc < 0), or -1. */
static long find_step(const plan *p, plan_kind k, int proc, size_t n) {
    for (size_t i = 0; i < p->nsteps; i++) {
        const plan_step *st = &p->steps[i];
        if (k == PLAN_DUMP ? st->kind == PLAN_DUMP && n-- == 0
                           : (st->kind == k || (k == PLAN_CRASH && st->kind == PLAN_EXIT)) && st->proc == proc)
            return (long)i;
    }
    return -1;
}

static int hook_spawn(void *ctx, uint32_t proc, int32_t *pid, char *err, size_t errlen) {
    shmrun *x = ctx;
    long i = proc < (uint32_t)x->p->nprocs ? find_step(x->p, PLAN_SPAWN, (int)proc, 0) : -1;
    if (i < 0) {
        snprintf(err, errlen, "both transports: process %u has no SPAWN step in the SHM plan", proc);
        return -1;
    }
    if (shmrun_advance(x, (size_t)i + 1) < 0) {
        snprintf(err, errlen, "both transports: SHM: %s", x->msg);
        return -1;
    }
    *pid = x->live_pid[proc];
    return 0;
}

static int hook_end(void *ctx, uint32_t proc, int crash, char *err, size_t errlen) {
    shmrun *x = ctx;
    (void)crash; /* the plan says which: its CRASH or EXIT step */
    long i = proc < (uint32_t)x->p->nprocs ? find_step(x->p, PLAN_CRASH, (int)proc, 0) : -1;
    if (i < 0) {
        snprintf(err, errlen, "both transports: process %u has no CRASH or EXIT step in the SHM plan", proc);
        return -1;
    }
    if (shmrun_advance(x, (size_t)i + 1) < 0) {
        snprintf(err, errlen, "both transports: SHM: %s", x->msg);
        return -1;
    }
    return 0;
}

static int hook_dump(void *ctx, size_t ordinal, char *err, size_t errlen) {
    shmrun *x = ctx;
    long i = find_step(x->p, PLAN_DUMP, -1, ordinal);
    if (i < 0)
        return 0; /* a DUMP the plan does not have: nothing to catch up to */
    if (shmrun_advance(x, (size_t)i + 1) < 0) {
        snprintf(err, errlen, "both transports: SHM: %s", x->msg);
        return -1;
    }
    return 0;
}

void shmrun_runner_procs(shmrun *x, runner_procs *out) {
    out->ctx = x;
    out->spawn = hook_spawn;
    out->end = hook_end;
    out->dump = hook_dump;
}
