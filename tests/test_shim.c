/* Tests for harness/shim_preload.c, the LD_PRELOAD socket-path redirect.
 *
 * Unit part: the shim is dlopen()ed into the test (each Check test runs in its own process)
 * and its bind/connect/unlink/access/stat are called through dlsym, with
 * ALLOCSIM_SOCKET_PATH pointing into a private directory. Integration part: two reference
 * servers started WITHOUT --socket at the same time, each through the shim, serve their own
 * clients. Throughout, the real hard-coded path must keep exactly the state it had (absent,
 * or the same inode and times): the tests never create, bind or unlink it.
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "srvproc.h"

#define WAIT_MS 10000

typedef int (*addr_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*path_fn)(const char *);
typedef int (*access_fn)(const char *, int);
typedef int (*stat_fn)(const char *, struct stat *);

typedef struct {
    int exists;
    struct stat sb;
} hc_state;

static hc_state hc_get(void) {
    hc_state s;
    memset(&s, 0, sizeof s);
    s.exists = lstat(SRVPROC_HARDCODED_SOCKET, &s.sb) == 0;
    return s;
}

static void hc_assert_same(const hc_state *a) {
    hc_state b = hc_get();
    ck_assert_msg(a->exists == b.exists, "%s appeared or vanished", SRVPROC_HARDCODED_SOCKET);
    if (a->exists) {
        ck_assert(a->sb.st_ino == b.sb.st_ino && a->sb.st_dev == b.sb.st_dev);
        ck_assert(a->sb.st_mtim.tv_sec == b.sb.st_mtim.tv_sec &&
                  a->sb.st_mtim.tv_nsec == b.sb.st_mtim.tv_nsec);
        ck_assert(a->sb.st_ctim.tv_sec == b.sb.st_ctim.tv_sec &&
                  a->sb.st_ctim.tv_nsec == b.sb.st_ctim.tv_nsec);
    }
}

static char private_dir[64];
static char private_sock[128];

/* Creates the private directory, exports the variable and loads the shim. */
static void *load_shim(int with_env) {
    snprintf(private_dir, sizeof private_dir, "/tmp/allocsim-shimtest-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(private_dir));
    snprintf(private_sock, sizeof private_sock, "%s/server.sock", private_dir);
    if (with_env)
        setenv(SRVPROC_SHIM_ENV, private_sock, 1);
    else
        unsetenv(SRVPROC_SHIM_ENV);
    char path[1024], err[512];
    ck_assert_msg(srvproc_shim_path(path, sizeof path, err, sizeof err) == 0, "%s", err);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
    return h;
}

static void unload(void *h) {
    unlink(private_sock);
    rmdir(private_dir);
    dlclose(h);
}

static struct sockaddr_un hardcoded_addr(void) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, SRVPROC_HARDCODED_SOCKET, sizeof SRVPROC_HARDCODED_SOCKET);
    return sa;
}

START_TEST(test_bind_connect_unlink_redirected) {
    hc_state before = hc_get();
    void *h = load_shim(1);
    addr_fn sbind = (addr_fn)dlsym(h, "bind"), sconnect = (addr_fn)dlsym(h, "connect");
    path_fn sunlink = (path_fn)dlsym(h, "unlink");
    access_fn saccess = (access_fn)dlsym(h, "access");
    stat_fn sstat = (stat_fn)dlsym(h, "stat");
    ck_assert(sbind && sconnect && sunlink && saccess && sstat);

    struct sockaddr_un sa = hardcoded_addr();
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(sbind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    struct stat sb;
    ck_assert_int_eq(lstat(private_sock, &sb), 0);
    ck_assert_msg(S_ISSOCK(sb.st_mode), "bind created the private socket");
    hc_assert_same(&before);

    /* The shim's stat and access see the private socket under the hard-coded name. */
    ck_assert_int_eq(saccess(SRVPROC_HARDCODED_SOCKET, F_OK), 0);
    ck_assert_int_eq(sstat(SRVPROC_HARDCODED_SOCKET, &sb), 0);
    ck_assert(S_ISSOCK(sb.st_mode));

    int cfd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(sconnect(cfd, (struct sockaddr *)&sa, sizeof sa), 0);
    int afd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(afd, 0);
    ck_assert_int_eq(write(cfd, "x", 1), 1);
    char c = 0;
    ck_assert_int_eq(read(afd, &c, 1), 1);
    ck_assert_int_eq(c, 'x');

    ck_assert_int_eq(sunlink(SRVPROC_HARDCODED_SOCKET), 0);
    ck_assert_int_ne(access(private_sock, F_OK), 0);
    hc_assert_same(&before);
    close(afd);
    close(cfd);
    close(lfd);
    unload(h);
}
END_TEST

START_TEST(test_unterminated_sun_path_redirected) {
    hc_state before = hc_get();
    void *h = load_shim(1);
    addr_fn sbind = (addr_fn)dlsym(h, "bind");
    /* Linux accepts a path that fills addrlen without a NUL; the shim must see it too. */
    struct sockaddr_un sa;
    memset(&sa, 'Z', sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, SRVPROC_HARDCODED_SOCKET, sizeof SRVPROC_HARDCODED_SOCKET - 1);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof SRVPROC_HARDCODED_SOCKET - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(sbind(fd, (struct sockaddr *)&sa, len), 0);
    ck_assert_int_eq(access(private_sock, F_OK), 0);
    hc_assert_same(&before);
    close(fd);
    unload(h);
}
END_TEST

START_TEST(test_other_paths_pass_through) {
    hc_state before = hc_get();
    void *h = load_shim(1);
    path_fn sunlink = (path_fn)dlsym(h, "unlink");
    path_fn sremove = (path_fn)dlsym(h, "remove");
    addr_fn sbind = (addr_fn)dlsym(h, "bind");
    /* A near miss: the hard-coded name plus a suffix is another file. */
    char near[128];
    snprintf(near, sizeof near, "%s.allocsim-test-%d", SRVPROC_HARDCODED_SOCKET, (int)getpid());
    int fd = open(near, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    int pfd = open(private_sock, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(pfd, 0);
    close(pfd);
    ck_assert_int_eq(sunlink(near), 0);
    ck_assert_int_ne(access(near, F_OK), 0);
    ck_assert_int_eq(access(private_sock, F_OK), 0);
    /* remove() of the hard-coded name goes to the private file. */
    ck_assert_int_eq(sremove(SRVPROC_HARDCODED_SOCKET), 0);
    ck_assert_int_ne(access(private_sock, F_OK), 0);
    /* Hostile arguments reach the real calls and fail there, without crashing. */
    errno = 0;
    ck_assert_int_eq(sbind(-1, NULL, 0), -1);
    ck_assert_int_ne(errno, 0);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = hardcoded_addr();
    ck_assert_int_eq(sbind(s, (struct sockaddr *)&sa, 1), -1);
    ck_assert_int_eq(sunlink(NULL), -1);
    close(s);
    hc_assert_same(&before);
    unload(h);
}
END_TEST

START_TEST(test_without_variable_nothing_redirected) {
    void *h = load_shim(0);
    access_fn saccess = (access_fn)dlsym(h, "access");
    int pfd = open(private_sock, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(pfd, 0);
    close(pfd);
    /* Without the variable, the hard-coded name means itself (same answer as libc). */
    ck_assert_int_eq(saccess(SRVPROC_HARDCODED_SOCKET, F_OK) == 0,
                     access(SRVPROC_HARDCODED_SOCKET, F_OK) == 0);
    unload(h);
}
END_TEST

typedef struct {
    const char *text;
} line_match;

static int line_is(const srvproc_line *l, void *ctx) {
    const line_match *m = ctx;
    return l->stream == SRVPROC_OUT && strlen(m->text) == l->len && memcmp(l->text, m->text, l->len) == 0;
}

static srvproc *start_reference(void) {
    srvproc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rev = PROTO_V72;
    cfg.isolation = SRVPROC_ISOLATE_SHIM;
    const char *extra[] = {"--stats-interval", "0", NULL};
    cfg.extra_args = extra;
    srvproc *p = NULL;
    char err[2048];
    ck_assert_msg(srvproc_start(&cfg, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(srvproc_wait_ready(p, WAIT_MS, err, sizeof err) == 0, "%s", err);
    return p;
}

static void alloc_and_dump(srvproc *p, uint64_t buffer_id) {
    conn c;
    char err[512];
    ck_assert_msg(conn_open(&c, srvproc_socket_path(p), PROTO_V72, WAIT_MS, err, sizeof err) == CONN_OK,
                  "%s", err);
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = PROTO_ALLOC;
    m.device_id = 0;
    m.size = 4096;
    m.buffer_type = PROTO_BUF_DRAM;
    m.process_id = (int32_t)getpid();
    m.buffer_id = buffer_id;
    ck_assert_int_eq(conn_send_msg(&c, &m, err, sizeof err), CONN_OK);
    memset(&m, 0, sizeof m);
    m.type = PROTO_DUMP_REMAINING;
    ck_assert_int_eq(conn_send_msg(&c, &m, err, sizeof err), CONN_OK);
    ck_assert_int_eq(conn_close(&c, err, sizeof err), CONN_OK);
}

START_TEST(test_two_servers_without_socket_flag) {
    hc_state before = hc_get();
    srvproc *a = start_reference();
    srvproc *b = start_reference();
    ck_assert_str_ne(srvproc_socket_path(a), srvproc_socket_path(b));
    /* Both think they bound the hard-coded path. */
    line_match listening = {"   Listening on: /tmp/tt_allocation_server.sock"};
    ck_assert_int_eq(srvproc_wait_line(a, 0, line_is, &listening, WAIT_MS, NULL), SRVPROC_FOUND);
    ck_assert_int_eq(srvproc_wait_line(b, 0, line_is, &listening, WAIT_MS, NULL), SRVPROC_FOUND);
    alloc_and_dump(a, 0xa000);
    alloc_and_dump(b, 0xb000);
    line_match done = {"📋 DUMP_REMAINING complete."};
    ck_assert_int_eq(srvproc_wait_line(a, 0, line_is, &done, WAIT_MS, NULL), SRVPROC_FOUND);
    ck_assert_int_eq(srvproc_wait_line(b, 0, line_is, &done, WAIT_MS, NULL), SRVPROC_FOUND);
    char want_a[160], want_b[160];
    snprintf(want_a, sizeof want_a, "    - Buffer 0xa000: 4 KB (PID %d, ref_count=1)", (int)getpid());
    snprintf(want_b, sizeof want_b, "    - Buffer 0xb000: 4 KB (PID %d, ref_count=1)", (int)getpid());
    line_match la = {want_a}, lb = {want_b};
    /* Each server holds its own client's buffer and not the other's. */
    ck_assert_int_eq(srvproc_wait_line(a, 0, line_is, &la, 0, NULL), SRVPROC_FOUND);
    ck_assert_int_eq(srvproc_wait_line(b, 0, line_is, &lb, 0, NULL), SRVPROC_FOUND);
    ck_assert_int_eq(srvproc_wait_line(a, 0, line_is, &lb, 0, NULL), SRVPROC_TIMEOUT);
    ck_assert_int_eq(srvproc_wait_line(b, 0, line_is, &la, 0, NULL), SRVPROC_TIMEOUT);
    hc_assert_same(&before);
    char report[256];
    /* Stopping one (which unlinks "its" path) leaves the other reachable. */
    ck_assert_int_eq(srvproc_stop(a, 5000, report, sizeof report), 0);
    conn c;
    char err[512];
    ck_assert_int_eq(conn_open(&c, srvproc_socket_path(b), PROTO_V72, WAIT_MS, err, sizeof err), CONN_OK);
    ck_assert_int_eq(conn_fence(&c, 0, NULL, err, sizeof err), CONN_OK);
    conn_close(&c, err, sizeof err);
    srvproc_free(a);
    srvproc_free(b);
    hc_assert_same(&before);
}
END_TEST

int main(void) {
    Suite *s = suite_create("shim");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bind_connect_unlink_redirected);
    tcase_add_test(tc, test_unterminated_sun_path_redirected);
    tcase_add_test(tc, test_other_paths_pass_through);
    tcase_add_test(tc, test_without_variable_nothing_redirected);
    tcase_add_test(tc, test_two_servers_without_socket_flag);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
