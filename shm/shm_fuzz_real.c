/* shm_fuzz_real: running a schedule with real processes on a real region file.
 *
 * One child is forked per schedule process before the first entry. The parent hands out
 * turns: it writes a command to one child's pipe and waits for its reply, so exactly one
 * process runs at a time and the interleaving is the schedule's. A child performs the
 * operation through harness/shm_io's backend (__atomic builtins on a MAP_SHARED mapping of
 * the file); its step hook replies "paused" after the pause step and waits for `resume`, and
 * shm_io SIGKILLs it after the crash step. The parent reaps every child as soon as it is gone
 * (detach, kill, crash), so kill(pid, 0) in the other processes sees exactly the model's
 * liveness. At quiescence the file is read, judged (shm_check), and compared byte for byte
 * (timestamps masked) with the model run with the children's pids.
 *
 * Pid reuse (a process declared `pid-of pN`): the whole run happens inside a private PID
 * namespace. A helper forks, unshare(CLONE_NEWPID)s and forks the executor, which is pid 1 of
 * the new namespace; the reusing child is forked only once pN is gone and reaped, right after
 * the executor wrote pN's pid - 1 into /proc/sys/kernel/ns_last_pid — which names the pid
 * namespace of the writing task, here the private one (the write is refused unless getpid() is
 * 1), never the machine's. The outcome comes back to the caller over a pipe.
 */
#define _GNU_SOURCE
#include "shm_fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem.h"
#include "shm_io.h"

#define CMD_RESUME 255
#define REPLY_TIMEOUT_MS 10000

typedef struct {
    uint8_t op, type, reader, pad;
    uint32_t chip, pause_at, crash_at;
    uint64_t size, now;
} fz_cmd;

enum { MSG_DONE = 1, MSG_PAUSED = 2 };

typedef struct {
    int32_t kind, completed, slot, pad;
} fz_msg;

typedef struct {
    int cmd_fd, msg_fd;
    uint32_t pause_at;
} child_ctx;

static int write_all(int fd, const void *b, size_t n) {
    const char *p = b;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *b, size_t n) {
    char *p = b;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int child_hook(void *user, unsigned long step) {
    child_ctx *c = user;
    if (c->pause_at && step == c->pause_at) {
        fz_msg m = {MSG_PAUSED, 0, -1, 0};
        fz_cmd cmd;
        if (write_all(c->msg_fd, &m, sizeof m) != 0 || read_all(c->cmd_fd, &cmd, sizeof cmd) != 0)
            _exit(3);
    }
    return 0;
}

static void child_main(const shmf_schedule *s, int p, const shmio_dir *d, int cmd_fd, int msg_fd) {
    /* A TT-Metal process touching a region before its creator's ftruncate dies of SIGBUS; so
     * does this one (a sanitizer's handler would turn it into a report and an exit). */
    signal(SIGBUS, SIG_DFL);
    shmio_region rg;
    child_ctx c = {cmd_fd, msg_fd, 0};
    shmm_config cfg = s->procs[p].cfg;
    if (s->procs[p].is_reader)
        shmf_config_parse("v4c", &cfg);
    if (shmio_region_init(&rg, d, SHMF_REGION_NAME, shmio_mode_of(&cfg)) != 0)
        _exit(4);
    rg.on_step = child_hook;
    rg.user = &c;
    shmm_ops ops;
    shmio_region_ops(&ops, &rg);
    shmm_process self;
    char name[16];
    snprintf(name, sizeof name, "p%d", p);
    shmm_process_init(&self, (int32_t)getpid(), name);
    shmm_provider prov;
    shmm_provider_init(&prov, &cfg, &self, SHMF_ASIC_ID, 0);
    for (;;) {
        fz_cmd cmd;
        if (read_all(cmd_fd, &cmd, sizeof cmd) != 0)
            _exit(0);
        shmm_env env = {cmd.now, shmio_pid_state, NULL};
        shmm_result res;
        memset(&res, 0, sizeof res);
        res.slot = -1;
        res.completed = 1;
        c.pause_at = cmd.pause_at;
        rg.steps = 0;
        rg.kill_at = cmd.crash_at;
        switch (cmd.op) {
        case SHMF_ATTACH: shmm_attach(&prov, &ops, &env, &res); break;
        case SHMF_ALLOC: shmm_record_alloc(&prov, &ops, &env, cmd.size, cmd.type, cmd.chip, &res); break;
        case SHMF_FREE: shmm_record_free(&prov, &ops, &env, cmd.size, cmd.type, cmd.chip, &res); break;
        case SHMF_DETACH: shmm_detach(&prov, &ops, &env, &res); break;
        case SHMF_CLEANUP: {
            struct stat st;
            if (!rg.base) {
                rg.fd = open(rg.path, O_RDWR | O_CLOEXEC);
                if (rg.fd >= 0) {
                    void *m = mmap(NULL, SHMM_FILE_CAPACITY, PROT_READ | PROT_WRITE, MAP_SHARED, rg.fd, 0);
                    rg.base = m == MAP_FAILED ? NULL : m;
                }
            }
            if (rg.base && fstat(rg.fd, &st) == 0) {
                shmm_reader_config rc;
                shml_detection det;
                uint8_t buf[SHMM_FILE_CAPACITY];
                size_t n = (size_t)st.st_size < sizeof buf ? (size_t)st.st_size : sizeof buf;
                memcpy(buf, rg.base, n);
                shml_version layout = shml_detect(buf, n, &det) ? det.best : SHML_V4;
                shmm_reader_config_default(&rc, layout);
                shmm_reader_cleanup((shmm_reader)cmd.reader, &rc, &ops, &env, &res);
            }
            break;
        }
        default: break;
        }
        fz_msg m = {MSG_DONE, res.completed, res.slot, 0};
        if (write_all(msg_fd, &m, sizeof m) != 0)
            _exit(3);
        if (cmd.op == SHMF_DETACH && res.completed)
            _exit(0);
    }
}

enum { R_IDLE = 0, R_PAUSED, R_GONE, R_NOTYET };

typedef struct {
    pid_t pid;
    int cmd_fd, msg_fd;
    int state;
    int enabled; /* attached (the model's provider would be enabled): detaches at quiescence */
} rchild;

typedef struct {
    const shmf_schedule *s;
    const shmio_dir *d;
    int inherit_checked[SHMF_MAX_PROCS];
    rchild c[SHMF_MAX_PROCS];
    int stack[SHMF_MAX_PROCS], depth;
    shmf_outcome *out;
    uint64_t cur_size[SHMF_MAX_PROCS];
    uint8_t cur_type[SHMF_MAX_PROCS];
    int harness_error;
    char err[200];
} rexec;

static void reap(rexec *x, int p) {
    rchild *c = &x->c[p];
    if (c->pid > 0) {
        int st;
        while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    if (c->cmd_fd >= 0)
        close(c->cmd_fd);
    if (c->msg_fd >= 0)
        close(c->msg_fd);
    c->cmd_fd = c->msg_fd = -1;
    c->state = R_GONE;
}

/* Waits for child p's reply. Returns MSG_* or 0 when the child is gone (crashed). */
static int wait_reply(rexec *x, int p, fz_msg *m) {
    struct pollfd pf = {x->c[p].msg_fd, POLLIN, 0};
    int r;
    while ((r = poll(&pf, 1, REPLY_TIMEOUT_MS)) < 0 && errno == EINTR) {
    }
    if (r == 0) {
        x->harness_error = 1;
        snprintf(x->err, sizeof x->err, "p%d did not answer within %d ms", p, REPLY_TIMEOUT_MS);
        kill(x->c[p].pid, SIGKILL);
        reap(x, p);
        return 0;
    }
    if (read_all(x->c[p].msg_fd, m, sizeof *m) != 0) {
        reap(x, p);
        return 0;
    }
    return m->kind;
}

static void real_slot(rexec *x, int p, int slot, int op) {
    shmf_outcome *o = x->out;
    if (x->s->procs[p].is_reader || slot < 0 || op == SHMF_DETACH)
        return;
    o->slot_of[p] = slot;
    if (x->s->procs[p].pid_from && !x->inherit_checked[p]) {
        uint8_t *buf = mem_alloc(SHMM_FILE_CAPACITY);
        char e2[200], d[200];
        shmf_entry e;
        memset(&e, 0, sizeof e);
        e.op = (uint8_t)op;
        e.size = x->cur_size[p];
        e.type = x->cur_type[p];
        x->inherit_checked[p] = 1;
        long n = buf ? shmio_read_file(x->d, SHMF_REGION_NAME, buf, SHMM_FILE_CAPACITY, e2, sizeof e2) : -1;
        if (n > 0 && shmf_slot_inherited(x->s, p, &e, slot, buf, (size_t)n, d, sizeof d)) {
            if (!(o->kinds & (1u << SHMF_K_INHERITED)))
                snprintf(o->detail[SHMF_K_INHERITED], sizeof o->detail[0], "%s", d);
            o->kinds |= 1u << SHMF_K_INHERITED;
        }
        mem_free(buf);
    }
    for (int q = 0; q < x->s->nprocs; q++) {
        if (q == p || x->s->procs[q].is_reader || x->c[q].state == R_GONE || x->c[q].state == R_NOTYET ||
            o->slot_of[q] != slot)
            continue;
        if (!(o->kinds & (1u << SHMF_K_SLOT_TWICE)))
            snprintf(o->detail[SHMF_K_SLOT_TWICE], sizeof o->detail[0], "processes[%d] used by p%d and p%d, both alive",
                     slot, p, q);
        o->kinds |= 1u << SHMF_K_SLOT_TWICE;
    }
}

static void after_reply(rexec *x, int p, int kind, const fz_msg *m, int op) {
    if (kind == MSG_PAUSED) {
        x->c[p].state = R_PAUSED;
        x->stack[x->depth++] = p;
        return;
    }
    if (kind == 0)
        return; /* crashed: reaped */
    x->c[p].state = R_IDLE;
    if (!m->completed) {
        x->harness_error = 1;
        snprintf(x->err, sizeof x->err, "p%d: operation stopped without being killed", p);
    }
    if (op == SHMF_ATTACH)
        x->c[p].enabled = 1;
    real_slot(x, p, m->slot, op);
    if (op == SHMF_DETACH)
        reap(x, p);
}

static int cur_op[SHMF_MAX_PROCS];

static void resume(rexec *x, int p) {
    fz_cmd cmd;
    fz_msg m;
    memset(&cmd, 0, sizeof cmd);
    cmd.op = CMD_RESUME;
    x->depth--;
    x->c[p].state = R_IDLE;
    if (write_all(x->c[p].cmd_fd, &cmd, sizeof cmd) != 0) {
        reap(x, p);
        return;
    }
    int k = wait_reply(x, p, &m);
    after_reply(x, p, k, &m, cur_op[p]);
}

static void send_op(rexec *x, int p, const shmf_entry *e, int idx) {
    fz_cmd cmd;
    fz_msg m;
    memset(&cmd, 0, sizeof cmd);
    cmd.op = e->op;
    cmd.type = e->type;
    cmd.reader = e->reader;
    cmd.chip = e->chip;
    cmd.size = e->size;
    cmd.pause_at = e->pause_at;
    cmd.crash_at = e->crash_at;
    cmd.now = 1000000000ull + (uint64_t)idx * 1000u;
    cur_op[p] = e->op;
    x->cur_size[p] = e->size;
    x->cur_type[p] = e->type;
    if (e->op == SHMF_DETACH)
        x->out->slot_of[p] = -1; /* releasing its slot: a later claimer may take it */
    if (write_all(x->c[p].cmd_fd, &cmd, sizeof cmd) != 0) {
        reap(x, p);
        return;
    }
    int k = wait_reply(x, p, &m);
    after_reply(x, p, k, &m, e->op);
}

static int file_exists(const char *dir) {
    char path[SHMIO_PATH_MAX + 64];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, SHMF_REGION_NAME);
    return stat(path, &st) == 0;
}

/* Sets the next pid fork() gives in this task's PID namespace: only from pid 1 of a private one. */
static int set_next_pid(pid_t want, char *err, size_t errlen) {
    if (getpid() != 1) {
        snprintf(err, errlen, "not pid 1 of a private PID namespace: ns_last_pid left alone");
        return -1;
    }
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    char num[24];
    int n = snprintf(num, sizeof num, "%d", (int)want - 1);
    if (fd < 0 || write(fd, num, (size_t)n) != n) {
        snprintf(err, errlen, "/proc/sys/kernel/ns_last_pid: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Forks child p (with pid `want` when > 0). Returns 0, or -1 with err. */
static int spawn(rexec *x, int p, pid_t want, const shmio_dir *d, char *err, size_t errlen) {
    int a[2], b[2];
    if (want > 0 && set_next_pid(want, err, errlen) != 0)
        return -1;
    if (pipe(a) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe(b) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close(a[0]), close(a[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(a[0]), close(a[1]), close(b[0]), close(b[1]);
        return -1;
    }
    if (pid == 0) {
        close(a[1]);
        close(b[0]);
        for (int q = 0; q < SHMF_MAX_PROCS; q++) {
            if (q == p)
                continue;
            if (x->c[q].cmd_fd >= 0)
                close(x->c[q].cmd_fd);
            if (x->c[q].msg_fd >= 0)
                close(x->c[q].msg_fd);
        }
        child_main(x->s, p, d, a[0], b[1]);
        _exit(0);
    }
    close(a[0]);
    close(b[1]);
    x->c[p].pid = pid;
    x->c[p].cmd_fd = a[1];
    x->c[p].msg_fd = b[0];
    x->c[p].state = R_IDLE;
    if (want > 0 && pid != want) {
        snprintf(err, errlen, "p%d: wanted pid %d, fork gave %d", p, (int)want, (int)pid);
        return -1;
    }
    return 0;
}

static int run_real_here(const shmf_schedule *s, const char *dir, shmf_outcome *out, char *err, size_t errlen);

/* The executor as pid 1 of a private PID namespace (see the top of the file). */
static int run_in_pidns(const shmf_schedule *s, const char *dir, shmf_outcome *out, char *err, size_t errlen) {
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t h = fork();
    if (h < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(fd[0]), close(fd[1]);
        return -1;
    }
    if (h == 0) {
        close(fd[0]);
        int32_t rc = -1;
        char e[200] = "";
        shmf_outcome *o = mem_calloc(1, sizeof *o);
        if (unshare(CLONE_NEWPID) != 0) {
            snprintf(e, sizeof e, "unshare(CLONE_NEWPID): %s", strerror(errno));
        } else {
            pid_t init = fork();
            if (init == 0) {
                rc = o ? run_real_here(s, dir, o, e, sizeof e) : -1;
                if (!o)
                    snprintf(e, sizeof e, "out of memory");
                if (write_all(fd[1], &rc, sizeof rc) != 0 || write_all(fd[1], e, sizeof e) != 0 ||
                    (o && write_all(fd[1], o, sizeof *o) != 0))
                    _exit(3);
                _exit(0);
            }
            if (init > 0) {
                int st;
                while (waitpid(init, &st, 0) < 0 && errno == EINTR) {
                }
                _exit(0);
            }
            snprintf(e, sizeof e, "fork in the PID namespace: %s", strerror(errno));
        }
        if (write_all(fd[1], &rc, sizeof rc) != 0 || write_all(fd[1], e, sizeof e) != 0)
            _exit(3);
        _exit(0);
    }
    close(fd[1]);
    int32_t rc = -1;
    char e[200] = "the namespace helper died";
    int ok = read_all(fd[0], &rc, sizeof rc) == 0 && read_all(fd[0], e, sizeof e) == 0;
    e[sizeof e - 1] = '\0';
    if (ok && rc == 0)
        ok = read_all(fd[0], out, sizeof *out) == 0;
    close(fd[0]);
    int st;
    while (waitpid(h, &st, 0) < 0 && errno == EINTR) {
    }
    if (!ok || rc != 0) {
        snprintf(err, errlen, "%s", ok ? e : "the PID namespace executor died");
        return -1;
    }
    return 0;
}

int shmf_pidns_probe(char *err, size_t errlen) {
    shmf_schedule *s = mem_calloc(1, sizeof *s);
    shmf_outcome *o = mem_alloc(sizeof *o);
    char dir[] = "/dev/shm/allocsim-pidns-XXXXXX";
    int rc = -1;
    if (!s || !o) {
        snprintf(err, errlen, "out of memory");
    } else if (!mkdtemp(dir)) {
        snprintf(err, errlen, "mkdtemp %s: %s", dir, strerror(errno));
    } else {
        /* p1 gets p0's pid once p0 is gone: no entry runs, the spawn is the test. */
        s->nprocs = 2;
        shmf_config_parse("v4c", &s->procs[0].cfg);
        s->procs[1].cfg = s->procs[0].cfg;
        s->procs[1].pid_from = 1;
        s->nentries = 2;
        s->e[0].proc = 0;
        s->e[0].op = SHMF_KILL;
        s->e[1].proc = 1;
        s->e[1].op = SHMF_KILL;
        rc = run_in_pidns(s, dir, o, err, errlen);
        if (rc == 0 && (o->kinds >> SHMF_K_HARNESS) & 1) {
            snprintf(err, errlen, "%s", o->detail[SHMF_K_HARNESS]);
            rc = -1;
        }
        rmdir(dir);
    }
    mem_free(s);
    mem_free(o);
    return rc;
}

int shmf_run_real(const shmf_schedule *s, const char *dir, shmf_outcome *out, char *err, size_t errlen) {
    if (shmf_uses_pid_reuse(s))
        return run_in_pidns(s, dir, out, err, errlen);
    return run_real_here(s, dir, out, err, errlen);
}

static int run_real_here(const shmf_schedule *s, const char *dir, shmf_outcome *out, char *err, size_t errlen) {
    rexec *x = mem_calloc(1, sizeof *x);
    shmf_outcome *model = mem_alloc(sizeof *model);
    if (!x || !model) {
        mem_free(x);
        mem_free(model);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(out, 0, sizeof *out);
    for (int p = 0; p < SHMF_MAX_PROCS; p++)
        out->slot_of[p] = -1;
    x->s = s;
    x->out = out;
    for (int p = 0; p < SHMF_MAX_PROCS; p++)
        x->c[p].cmd_fd = x->c[p].msg_fd = -1;
    shmio_dir d;
    memset(&d, 0, sizeof d);
    snprintf(d.path, sizeof d.path, "%s", dir);
    d.keep = 1;
    char path[SHMIO_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, SHMF_REGION_NAME);
    unlink(path);
    int32_t pids[SHMF_MAX_PROCS] = {0};
    int rc = 0;
    x->d = &d;
    for (int p = 0; p < s->nprocs && rc == 0; p++) {
        if (s->procs[p].pid_from) {
            x->c[p].state = R_NOTYET; /* forked once its pid's first owner is gone */
            continue;
        }
        rc = spawn(x, p, 0, &d, err, errlen);
        pids[p] = (int32_t)x->c[p].pid;
    }
    for (int p = 0; p < s->nprocs; p++)
        if (s->procs[p].pid_from)
            pids[p] = pids[s->procs[p].pid_from - 1];
    if (rc == 0) {
        for (int i = 0; i < s->nentries; i++) {
            const shmf_entry *e = &s->e[i];
            int p = e->proc;
            if (p >= s->nprocs)
                continue;
            if (x->c[p].state == R_NOTYET && e->op != SHMF_RESUME &&
                x->c[s->procs[p].pid_from - 1].state == R_GONE) {
                char e2[200];
                if (spawn(x, p, (pid_t)pids[p], &d, e2, sizeof e2) != 0) {
                    x->harness_error = 1;
                    snprintf(x->err, sizeof x->err, "%s", e2);
                    if (x->c[p].pid > 0)
                        kill(x->c[p].pid, SIGKILL), reap(x, p);
                    x->c[p].state = R_GONE;
                }
            }
            if (e->op == SHMF_RESUME) {
                if (x->c[p].state != R_PAUSED)
                    continue;
                while (x->depth > 0 && x->stack[x->depth - 1] != p)
                    resume(x, x->stack[x->depth - 1]);
                resume(x, p);
                continue;
            }
            if (x->c[p].state != R_IDLE)
                continue;
            if (s->procs[p].is_reader != (e->op == SHMF_CLEANUP))
                continue;
            if (e->op == SHMF_CLEANUP && !file_exists(dir))
                continue;
            if (e->op == SHMF_KILL) {
                kill(x->c[p].pid, SIGKILL);
                reap(x, p);
                continue;
            }
            send_op(x, p, e, i);
        }
        while (x->depth > 0)
            resume(x, x->stack[x->depth - 1]);
        for (int p = 0; p < s->nprocs; p++) {
            if (s->procs[p].is_reader || x->c[p].state != R_IDLE || !x->c[p].enabled)
                continue;
            shmf_entry e;
            memset(&e, 0, sizeof e);
            e.proc = (uint8_t)p;
            e.op = SHMF_DETACH;
            send_op(x, p, &e, s->nentries + p);
        }
    }
    for (int p = 0; p < s->nprocs; p++)
        if (x->c[p].state != R_GONE && x->c[p].pid > 0) {
            close(x->c[p].cmd_fd);
            x->c[p].cmd_fd = -1;
            reap(x, p);
        }
    if (rc == 0) {
        uint8_t buf[SHMM_FILE_CAPACITY];
        char e2[200];
        long n = shmio_read_file(&d, SHMF_REGION_NAME, buf, sizeof buf, e2, sizeof e2);
        unsigned slot_kinds = out->kinds;
        char slot_detail[200], inh_detail[200];
        memcpy(slot_detail, out->detail[SHMF_K_SLOT_TWICE], sizeof slot_detail);
        memcpy(inh_detail, out->detail[SHMF_K_INHERITED], sizeof inh_detail);
        shmf_run_model(s, pids, model);
        /* The verdict on the real bytes, through the same judge as the model's. */
        shmf_schedule none;
        memset(&none, 0, sizeof none);
        (void)none;
        memset(out, 0, sizeof *out);
        out->kinds = slot_kinds;
        memcpy(out->detail[SHMF_K_SLOT_TWICE], slot_detail, sizeof slot_detail);
        memcpy(out->detail[SHMF_K_INHERITED], inh_detail, sizeof inh_detail);
        if (n >= 0) {
            shmf_outcome *real = mem_calloc(1, sizeof *real);
            if (real) {
                shmf_judge_bytes(buf, (size_t)(n < (long)sizeof buf ? n : (long)sizeof buf), 1, real);
                out->kinds |= real->kinds;
                for (int k = 0; k < SHMF_K_COUNT; k++)
                    if (real->kinds & (1u << k))
                        memcpy(out->detail[k], real->detail[k], sizeof out->detail[k]);
                out->region_size = real->region_size;
                memcpy(out->region, real->region, sizeof out->region);
                mem_free(real);
            }
        }
        /* Real against model: sizes, then every determined byte. */
        size_t rs = n >= 0 ? (size_t)n : 0;
        if (rs != model->region_size) {
            out->kinds |= 1u << SHMF_K_MODEL;
            snprintf(out->detail[SHMF_K_MODEL], sizeof out->detail[0], "file size %zu, model %zu", rs,
                     model->region_size);
        } else if (rs > 0 && rs <= sizeof buf) {
            uint8_t mask[SHMM_FILE_CAPACITY];
            shml_detection det;
            shml_version v = shml_detect(model->region, rs, &det) ? det.best : SHML_V4;
            shmm_expect_mask(v, rs, 0, mask);
            char why[160];
            if (shmm_expect_compare(v, model->region, buf, mask, rs, why, sizeof why) >= 0) {
                out->kinds |= 1u << SHMF_K_MODEL;
                snprintf(out->detail[SHMF_K_MODEL], sizeof out->detail[0], "%s", why);
            }
        }
        if ((model->kinds & (1u << SHMF_K_SLOT_TWICE)) != (slot_kinds & (1u << SHMF_K_SLOT_TWICE))) {
            out->kinds |= 1u << SHMF_K_MODEL;
            snprintf(out->detail[SHMF_K_MODEL], sizeof out->detail[0], "slot owners differ from the model's");
        }
        if ((model->kinds & (1u << SHMF_K_INHERITED)) != (slot_kinds & (1u << SHMF_K_INHERITED))) {
            out->kinds |= 1u << SHMF_K_MODEL;
            snprintf(out->detail[SHMF_K_MODEL], sizeof out->detail[0], "inherited slot bytes differ from the model's");
        }
        if (x->harness_error) {
            out->kinds |= 1u << SHMF_K_HARNESS;
            snprintf(out->detail[SHMF_K_HARNESS], sizeof out->detail[0], "%s", x->err);
        }
    }
    unlink(path);
    mem_free(model);
    mem_free(x);
    return rc;
}
