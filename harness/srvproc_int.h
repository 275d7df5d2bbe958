/* srvproc_int: the srvproc object's state, shared by its two files — process control and
 * isolation (harness/srvproc.c) and the line log with its reader threads
 * (harness/srvproc_log.c). Internal to them.
 */
#ifndef ALLOCSIM_SRVPROC_INT_H
#define ALLOCSIM_SRVPROC_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>

#include "srvproc.h"

#define PATH_LEN 4096 /* Linux PATH_MAX, kept local: harness/ has a limits.h of its own */
#define CHUNK_LINES 4096
#define MAX_LINE_BYTES (1u << 20) /* a longer run without '\n' is cut into lines */

typedef struct {
    char *text;
    uint32_t len;
    uint8_t stream;
} line_rec;

/* State of a path (the hard-coded socket) to detect that something touched it. */
typedef struct {
    int exists;
    dev_t dev;
    ino_t ino;
    struct timespec mtime, ctime;
} path_state;

struct srvproc {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t reader;
    int reader_started;

    /* log (under mu) */
    line_rec **chunks;
    size_t nchunks;  /* allocated chunk slots */
    size_t end;      /* lines received */
    size_t trimmed;  /* lines below this index are freed */
    sbuf partial[3]; /* by stream (1, 2) */

    /* process (under mu once the reader runs) */
    int owned;
    pid_t pid;
    int exited;
    int wstatus;
    int drained; /* exited and what was readable after the exit has been read */
    int out_fd, err_fd, pid_fd;
    int wake[2]; /* the owner writes to stop the reader */

    /* attach mode */
    int log_fd;
    off_t log_off;

    /* isolation */
    char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char *private_dir;
    char exe[PATH_LEN]; /* the server's executable as resolved from the command, or "" */
    int lock_fd;
    int shimmed;
    path_state hardcoded_before;
    char *note;
};

void srvp_abstime_in(struct timespec *ts, int ms);
void *srvp_reader_owned(void *arg);
void *srvp_reader_attached(void *arg);

#endif
