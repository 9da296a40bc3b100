/*
 * proc.c — spawning and supervising one child process (see proc.h).
 *
 * rune runs several steps at once, each in its own thread, so this file is
 * written for a multithreaded parent:
 *   - everything that allocates or takes a lock (PATH lookup, the envp
 *     array, strerror) happens before the child exists; until execve()
 *     the child calls only async-signal-safe functions, and shares our
 *     memory (spawn) so it writes nothing but its own stack;
 *   - every descriptor is created close-on-exec, so a child spawned by
 *     another thread at the same moment never inherits our pipe ends (it
 *     would hold them open and we would never see EOF);
 *   - the child is reaped with waitpid(pid), never waitpid(-1), because the
 *     other threads own the other children.
 * The child gets its own process group so a deadline or a cancel can kill
 * it together with everything it started. A child that exits on its own
 * ends the call once its pipes reach EOF, or DRAIN_MS later when something
 * it left in the background (a daemon) still holds them: that leftover is
 * not killed, only no longer read.
 *
 * This file must not touch global state: no signal handlers, no setenv.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

extern char **environ;

#define TICK_MS 50   /* how often cancelled() and the child are checked */
#define DRAIN_MS 500 /* reading on after the child exited, for leftovers */
#define GRACE_DEFAULT_MS 2000
#define CHUNK 65536
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* What the child reports through the error pipe when it cannot exec. */
enum child_stage { STAGE_CHDIR = 1, STAGE_EXEC = 2 };

struct child_error {
    int stage;
    int err;
};

/* Everything the child needs, prepared before fork() so the child only
 * copies descriptors and calls execve(). */
struct child_setup {
    const char *path;
    char *const *argv;
    char **envp;
    const char *cwd;
    int in_fd, out_fd, err_fd; /* become 0, 1, 2 */
    int report_fd;             /* error pipe, write end (close-on-exec) */
    int gate_fd;               /* read end: a byte when the parent recorded us; -1: none */
    int gate_wr;               /* its write end, closed first so the parent's death is EOF */
    int rtmin;                 /* SIGRTMIN, read before the child exists */
};

/* One captured stream: the first `max` bytes are kept, the rest is read
 * and dropped so the child never blocks on a full pipe. */
struct capture {
    int fd;
    char *buf;
    size_t len, alloc, max;
    bool truncated;
};

/* The last RUNE_PROC_TAIL bytes of stdout and stderr in arrival order. */
struct ring {
    char buf[RUNE_PROC_TAIL];
    size_t pos;
    bool full;
    bool overrun; /* bytes were pushed out of the front */
};

enum kill_stage { KILL_NONE, KILL_TERM_SENT, KILL_KILL_SENT };

struct run {
    pid_t pid;
    int pidfd; /* readable when the child exits; -1 where unsupported */
    struct capture out, err;
    int in_fd;
    const char *in_data;
    size_t in_left;
    struct ring tail;
    bool reaped;
    bool status_known;
    int status;
    enum kill_stage kill;
    long long kill_at;     /* when SIGKILL follows SIGTERM */
    long long drain_until; /* set once the child is reaped */
    long long next_cancel_check;
};

static void set_error(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- before fork: program lookup and environment ---- */

static bool is_executable_file(const char *path, bool *exists)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    *exists = true;
    return S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Checks `rel` as the child will see it after chdir(base): relative paths
 * are tested as base/rel here, but executed as given. */
static bool check_candidate(const char *rel, const char *base, bool *exists)
{
    if (rel[0] == '/' || !base)
        return is_executable_file(rel, exists);
    char joined[PATH_MAX];
    if ((size_t)snprintf(joined, sizeof joined, "%s/%s", base, rel) >= sizeof joined)
        return false;
    return is_executable_file(joined, exists);
}

static const char *env_lookup(char **envp, const char *key)
{
    size_t klen = strlen(key);
    const char *found = NULL;
    for (char **e = envp; *e; e++)
        if (strncmp(*e, key, klen) == 0 && (*e)[klen] == '=')
            found = *e + klen + 1;
    return found;
}

/* Resolves argv[0] the way execvp would, but before fork so the child does
 * not have to allocate. PATH comes from the child's environment. On success
 * *path is a malloc'd string the caller frees. */
static int resolve_program(const char *name, char **envp, const char *cwd, char **path,
                           char *errbuf, size_t errlen)
{
    bool exists = false;
    if (strchr(name, '/')) {
        if (!check_candidate(name, cwd, &exists)) {
            if (exists)
                set_error(errbuf, errlen, "%s: not executable", name);
            else
                set_error(errbuf, errlen, "%s: no such file", name);
            return -1;
        }
        *path = strdup(name);
        return *path ? 0 : -1;
    }
    const char *search = env_lookup(envp, "PATH");
    if (!search || !*search)
        search = DEFAULT_PATH;
    for (const char *dir = search;; dir++) {
        size_t dlen = strcspn(dir, ":");
        char cand[PATH_MAX];
        /* An empty PATH entry means the current directory. */
        int n = dlen ? snprintf(cand, sizeof cand, "%.*s/%s", (int)dlen, dir, name)
                     : snprintf(cand, sizeof cand, "./%s", name);
        if (n > 0 && (size_t)n < sizeof cand && check_candidate(cand, cwd, &exists)) {
            *path = strdup(cand);
            return *path ? 0 : -1;
        }
        dir += dlen;
        if (!*dir)
            break;
    }
    if (exists)
        set_error(errbuf, errlen, "%s: not executable", name);
    else
        set_error(errbuf, errlen, "%s: not found in PATH", name);
    return -1;
}

static size_t key_len(const char *entry)
{
    return strcspn(entry, "=");
}

static bool overridden(const char *entry, char *const *extra)
{
    size_t k = key_len(entry);
    for (char *const *e = extra; e && *e; e++)
        if (key_len(*e) == k && strncmp(*e, entry, k) == 0)
            return true;
    return false;
}

/* The inherited environment with `extra` laid over it. The array is
 * malloc'd; its strings are borrowed from environ and from extra, both of
 * which outlive the call (nobody calls setenv in a threaded program). */
static char **build_env(char *const *extra)
{
    size_t n = 0, m = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    for (char *const *e = extra; e && *e; e++)
        m++;
    char **envp = malloc((n + m + 1) * sizeof *envp);
    if (!envp)
        return NULL;
    size_t i = 0;
    for (char **e = environ; e && *e; e++)
        if (!overridden(*e, extra))
            envp[i++] = *e;
    for (char *const *e = extra; e && *e; e++)
        envp[i++] = *e;
    envp[i] = NULL;
    return envp;
}

/* Moves a close-on-exec descriptor above 2. When rune itself was started
 * with stdin or stdout closed, a new descriptor can land on 0..2, and the
 * child's dup2 calls onto 0, 1, 2 would then clobber one another. */
static int lift(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int saved = errno;
    close(fd);
    errno = saved;
    return moved;
}

static int make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    fds[0] = lift(fds[0]);
    fds[1] = lift(fds[1]);
    if (fds[0] < 0 || fds[1] < 0) {
        close_fd(&fds[0]);
        close_fd(&fds[1]);
        return -1;
    }
    return 0;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- the child, between fork and exec: async-signal-safe calls only ---- */

/* The child shares rune's memory until it execs (see spawn): it must
 * write nothing but its own stack. errno, in the calling thread's TLS, is
 * the one write its calls can make: only on the failure paths, which end
 * the child at once (child_report). Built without the sanitizers: their
 * checks assume a thread's own stack. */
#define CHILD_CODE __attribute__((no_sanitize("address", "undefined")))

CHILD_CODE static void child_report(int fd, int stage)
{
    struct child_error ce = {stage, errno};
    ssize_t unused = write(fd, &ce, sizeof ce);
    (void)unused;
    _exit(127);
}

CHILD_CODE static void child_exec(const struct child_setup *s)
{
    setpgid(0, 0);
    /* wait until the parent has recorded us; EOF means it died first, and
     * a child nobody recorded must not run (signals are still blocked
     * here, so the read is not interrupted) */
    if (s->gate_fd >= 0) {
        char go;
        close(s->gate_wr);
        if (read(s->gate_fd, &go, 1) != 1)
            _exit(127);
    }
    /* Handlers installed by the parent must not run here, and ignored
     * signals (SIGPIPE, typically) must not stay ignored in the program
     * we run. All signals are blocked since before fork(). */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && (sig < 32 || sig >= s->rtmin))
            sigaction(sig, &dfl, NULL); /* skipped: those it refuses (errno) */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Every source is above 2 (see lift), so no dup2 clobbers another. */
    if (dup2(s->in_fd, 0) < 0 || dup2(s->out_fd, 1) < 0 || dup2(s->err_fd, 2) < 0)
        child_report(s->report_fd, STAGE_EXEC);
    if (s->cwd && chdir(s->cwd) != 0)
        child_report(s->report_fd, STAGE_CHDIR);
    execve(s->path, s->argv, s->envp);
    child_report(s->report_fd, STAGE_EXEC);
}

CHILD_CODE static int child_main(void *arg)
{
    child_exec(arg);
    return 127;
}

/* The child's stack while it shares our memory: it makes a few calls, then
 * execs. */
#define CHILD_STACK (64 * 1024)

/* Starts the child with every signal blocked in this thread, so no handler
 * of ours runs in it before its dispositions are reset.
 *
 * Not fork(): it copies rune's page tables (SQLite's cache, Lua, every
 * thread's stack) and every page either side writes afterwards faults —
 * half of what a 100-step run of /bin/true cost. The child shares our
 * memory instead (CLONE_VM, as posix_spawn and vfork do) on a stack of its
 * own, until execve gives it its own. Unlike vfork we are not suspended:
 * the child waits at the gate until we have recorded it, which a
 * suspended parent could never do. *stack is unmapped by the caller once
 * the child has exec'd or died (the error pipe's EOF). */
static pid_t spawn(const struct child_setup *s, void **stack)
{
    *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (*stack == MAP_FAILED) {
        *stack = NULL;
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(child_main, (char *)*stack + CHILD_STACK, CLONE_VM | SIGCHLD, (void *)s);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid > 0) /* also in the parent: kill(-pid) must work as soon as we return */
        setpgid(pid, pid);
    errno = saved;
    return pid;
}

/* Reads the error pipe until EOF (execve closed it) or a report. */
static int read_child_error(int fd, struct child_error *ce)
{
    size_t got = 0;
    while (got < sizeof *ce) {
        ssize_t n = read(fd, (char *)ce + got, sizeof *ce - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got == sizeof *ce ? 1 : 0;
}

/* ---- supervising: capture, stdin, deadline, cancel ---- */

static void ring_add(struct ring *r, const char *data, size_t n)
{
    if (n == 0)
        return;
    if (r->full || r->pos + n > RUNE_PROC_TAIL)
        r->overrun = true;
    if (n >= RUNE_PROC_TAIL) {
        memcpy(r->buf, data + n - RUNE_PROC_TAIL, RUNE_PROC_TAIL);
        r->pos = 0;
        r->full = true;
        return;
    }
    size_t first = RUNE_PROC_TAIL - r->pos < n ? RUNE_PROC_TAIL - r->pos : n;
    memcpy(r->buf + r->pos, data, first);
    memcpy(r->buf, data + first, n - first);
    if (r->pos + n >= RUNE_PROC_TAIL)
        r->full = true;
    r->pos = (r->pos + n) % RUNE_PROC_TAIL;
}

static size_t ring_copy(const struct ring *r, char *dst)
{
    if (!r->full) {
        memcpy(dst, r->buf, r->pos);
        return r->pos;
    }
    memcpy(dst, r->buf + r->pos, RUNE_PROC_TAIL - r->pos);
    memcpy(dst + RUNE_PROC_TAIL - r->pos, r->buf, r->pos);
    return RUNE_PROC_TAIL;
}

/* Keeps what fits under the cap. When memory runs out the stream is marked
 * truncated: what was kept is still correct, and the flag says it is not all. */
static void capture_add(struct capture *c, const char *data, size_t n)
{
    size_t room = c->max - c->len;
    size_t keep = n < room ? n : room;
    if (n > room)
        c->truncated = true;
    if (!keep)
        return;
    if (c->len + keep + 1 > c->alloc) {
        size_t want = c->alloc ? c->alloc : 4096;
        while (want < c->len + keep + 1)
            want *= 2;
        if (want > c->max + 1)
            want = c->max + 1;
        char *grown = realloc(c->buf, want);
        if (!grown) {
            c->truncated = true;
            return;
        }
        c->buf = grown;
        c->alloc = want;
    }
    memcpy(c->buf + c->len, data, keep);
    c->len += keep;
}

static void pump_output(struct run *r, struct capture *c)
{
    char chunk[CHUNK];
    ssize_t n = read(c->fd, chunk, sizeof chunk);
    if (n > 0) {
        capture_add(c, chunk, (size_t)n);
        ring_add(&r->tail, chunk, (size_t)n);
        return;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    close_fd(&c->fd); /* EOF, or an error we cannot recover from */
}

/* write() without dying of SIGPIPE when the child stopped reading: the
 * signal is blocked in this thread for the call and, if the write raised
 * it, consumed. The process-wide disposition is left alone. */
static ssize_t write_quiet(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t n = write(fd, buf, len);
    int saved = errno;
    if (n < 0 && saved == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return n;
}

static void pump_input(struct run *r)
{
    size_t len = r->in_left < CHUNK ? r->in_left : CHUNK;
    ssize_t n = write_quiet(r->in_fd, r->in_data, len);
    if (n > 0) {
        r->in_data += n;
        r->in_left -= (size_t)n;
    } else if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return;
    } else {
        r->in_left = 0; /* EPIPE: the child does not want the rest */
    }
    if (!r->in_left)
        close_fd(&r->in_fd);
}

static void try_reap(struct run *r, long long now)
{
    if (r->reaped)
        return;
    pid_t w = waitpid(r->pid, &r->status, WNOHANG);
    if (w == 0 || (w < 0 && errno == EINTR))
        return;
    /* ECHILD: SIGCHLD is ignored in this process and the kernel reaped the
     * child itself; it is gone, but how it ended is lost. */
    r->status_known = w > 0;
    r->reaped = true;
    r->drain_until = now + DRAIN_MS;
    close_fd(&r->pidfd);
    close_fd(&r->in_fd); /* the process we were feeding is gone */
}

static bool should_stop(struct run *r, struct rune_proc *p, long long now)
{
    if (p->deadline_ms && now >= p->deadline_ms) {
        p->timed_out = true;
        return true;
    }
    if (p->cancelled && now >= r->next_cancel_check) {
        r->next_cancel_check = now + TICK_MS;
        p->was_cancelled = p->cancelled(p->cancel_ctx);
    }
    return p->was_cancelled;
}

/* Deadline and cancel: SIGTERM to the whole group, SIGKILL after the grace
 * period. Once the child is reaped, the kernel keeps its pid reserved as
 * long as the group has members, so kill(-pid) still reaches only them.
 * A child that exited on its own is not followed up: whatever it left in
 * the background (a daemon it started) is the operator's, not ours. */
static void enforce(struct run *r, struct rune_proc *p, long long now)
{
    if (r->kill == KILL_NONE) {
        if (r->reaped || !should_stop(r, p, now))
            return;
        kill(-r->pid, SIGTERM);
        r->kill = KILL_TERM_SENT;
        r->kill_at = now + (p->kill_grace_ms > 0 ? p->kill_grace_ms : GRACE_DEFAULT_MS);
        return;
    }
    if (r->kill != KILL_TERM_SENT)
        return;
    if (r->reaped && kill(-r->pid, 0) != 0 && errno == ESRCH) {
        r->kill = KILL_KILL_SENT; /* the whole group is already gone */
        return;
    }
    if (now >= r->kill_at) {
        kill(-r->pid, SIGKILL);
        r->kill = KILL_KILL_SENT;
        if (r->reaped)
            r->drain_until = now + DRAIN_MS;
    }
}

static bool finished(const struct run *r, long long now)
{
    if (!r->reaped || r->kill == KILL_TERM_SENT)
        return false;
    return (r->out.fd < 0 && r->err.fd < 0) || now >= r->drain_until;
}

static int poll_timeout(const struct run *r, const struct rune_proc *p, long long now)
{
    long long t = TICK_MS;
    if (r->kill == KILL_NONE && !r->reaped && p->deadline_ms && p->deadline_ms - now < t)
        t = p->deadline_ms - now;
    else if (r->kill == KILL_TERM_SENT && r->kill_at - now < t)
        t = r->kill_at - now;
    else if (r->kill != KILL_TERM_SENT && r->reaped && r->drain_until - now < t)
        t = r->drain_until - now;
    return t < 0 ? 0 : (int)t;
}

struct watch {
    struct pollfd fds[4];
    struct capture *capture[4]; /* the stream behind fds[i], if it is one */
    nfds_t n;
};

static void watch_add(struct watch *w, int fd, short events, struct capture *c)
{
    if (fd < 0)
        return;
    w->fds[w->n] = (struct pollfd){.fd = fd, .events = events};
    w->capture[w->n++] = c;
}

/* The loop: read what the child writes, feed its stdin, notice its exit,
 * and enforce the deadline and cancel, until it is gone and its pipes are
 * drained (or given up on). */
static void supervise(struct run *r, struct rune_proc *p)
{
    for (;;) {
        long long now = rune_clock_mono_ms();
        try_reap(r, now);
        enforce(r, p, now);
        if (finished(r, now))
            return;

        struct watch w = {.n = 0};
        watch_add(&w, r->out.fd, POLLIN, &r->out);
        watch_add(&w, r->err.fd, POLLIN, &r->err);
        watch_add(&w, r->in_fd, POLLOUT, NULL);
        watch_add(&w, r->pidfd, POLLIN, NULL); /* try_reap handles it */
        if (poll(w.fds, w.n, poll_timeout(r, p, now)) <= 0)
            continue; /* timeout or EINTR: the checks above run again */
        for (nfds_t i = 0; i < w.n; i++) {
            if (!w.fds[i].revents)
                continue;
            if (w.capture[i])
                pump_output(r, w.capture[i]);
            else if (w.fds[i].fd == r->in_fd)
                pump_input(r);
        }
    }
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
#else
    (void)pid;
    return -1; /* fall back to checking every TICK_MS */
#endif
}

/* Hands the captured bytes to p as NUL-terminated strings (never NULL). */
static int finish_capture(struct capture *c, char **buf, size_t *len, bool *truncated)
{
    if (!c->buf) {
        c->buf = malloc(1);
        if (!c->buf)
            return -1;
    }
    c->buf[c->len] = '\0';
    *buf = c->buf;
    *len = c->len;
    *truncated = c->truncated;
    c->buf = NULL;
    return 0;
}

static void reset_out(struct rune_proc *p)
{
    p->pid = 0;
    p->exit_code = -1;
    p->term_signal = 0;
    p->timed_out = p->was_cancelled = false;
    p->out = p->err = NULL;
    p->out_len = p->err_len = 0;
    p->out_truncated = p->err_truncated = false;
    p->tail[0] = '\0';
    p->tail_len = 0;
    p->tail_cut = false;
}

/* The descriptors of one start: the child's ends, ours, and the error pipe.
 * Every one is -1 until opened so a single cleanup closes what exists. */
struct fds {
    int in[2], out[2], err[2], report[2], gate[2];
};

static int open_fds(struct fds *f, const struct rune_proc *p, char *errbuf, size_t errlen)
{
    if (make_pipe(f->out) || make_pipe(f->err) || make_pipe(f->report) ||
        (p->started && make_pipe(f->gate))) {
        set_error(errbuf, errlen, "cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    if (p->stdin_data) {
        if (make_pipe(f->in)) {
            set_error(errbuf, errlen, "cannot create a pipe: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    f->in[0] = lift(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (f->in[0] < 0) {
        set_error(errbuf, errlen, "cannot open /dev/null: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void close_fds(struct fds *f)
{
    int *all[] = {&f->in[0],  &f->in[1],     &f->out[0],    &f->out[1],  &f->err[0],
                  &f->err[1], &f->report[0], &f->report[1], &f->gate[0], &f->gate[1]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        close_fd(all[i]);
}

/* Starts the child; on failure reaps it (if it was forked) and explains. */
static pid_t start(struct fds *f, const struct child_setup *s, const struct rune_proc *p,
                   char *errbuf, size_t errlen)
{
    void *stack = NULL;
    pid_t pid = spawn(s, &stack);
    if (pid < 0) {
        set_error(errbuf, errlen, "cannot start %s: %s", p->argv[0], strerror(errno));
        if (stack)
            munmap(stack, CHILD_STACK);
        return -1;
    }
    close_fd(&f->report[1]);
    if (p->started) {
        /* recorded before it runs; then the byte that lets it exec */
        close_fd(&f->gate[0]);
        p->started(p->started_ctx, pid);
        ssize_t w;
        while ((w = write(f->gate[1], "x", 1)) < 0 && errno == EINTR)
            ;
        close_fd(&f->gate[1]);
    }
    struct child_error ce;
    if (!read_child_error(f->report[0], &ce)) {
        munmap(stack, CHILD_STACK); /* the child left it: execve succeeded */
        return pid;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    munmap(stack, CHILD_STACK); /* the child has exited */
    if (ce.stage == STAGE_CHDIR)
        set_error(errbuf, errlen, "cannot chdir to %s: %s", p->cwd, strerror(ce.err));
    else
        set_error(errbuf, errlen, "cannot run %s: %s", p->argv[0], strerror(ce.err));
    return -1;
}

static int check_cwd(const char *cwd, char *errbuf, size_t errlen)
{
    struct stat st;
    if (!cwd)
        return 0;
    if (stat(cwd, &st) != 0) {
        set_error(errbuf, errlen, "cannot chdir to %s: %s", cwd, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        set_error(errbuf, errlen, "cannot chdir to %s: %s", cwd, strerror(ENOTDIR));
        return -1;
    }
    return 0;
}

/* Moves our ends of the pipes from f into r, closing the child's ends:
 * a copy of a write end left open here would keep us from ever seeing EOF. */
static void take_over(struct run *r, struct fds *f, const struct rune_proc *p)
{
    close_fd(&f->in[0]);
    close_fd(&f->out[1]);
    close_fd(&f->err[1]);
    /* Capped so that len + 1 can never overflow. */
    size_t max = p->capture_max ? p->capture_max : RUNE_PROC_CAPTURE_DEFAULT;
    if (max > SIZE_MAX / 2)
        max = SIZE_MAX / 2;
    r->out.fd = f->out[0];
    r->err.fd = f->err[0];
    r->in_fd = f->in[1];
    f->out[0] = f->err[0] = f->in[1] = -1;
    r->out.max = r->err.max = max;
    r->in_data = p->stdin_data;
    r->in_left = p->stdin_data ? p->stdin_len : 0;
    r->pidfd = open_pidfd(r->pid);
    r->next_cancel_check = rune_clock_mono_ms();
    set_nonblock(r->out.fd);
    set_nonblock(r->err.fd);
    if (r->in_fd >= 0)
        set_nonblock(r->in_fd);
    if (!r->in_left)
        close_fd(&r->in_fd); /* empty stdin: the child reads EOF at once */
}

static void collect(struct run *r, struct rune_proc *p)
{
    if (r->status_known && WIFEXITED(r->status))
        p->exit_code = WEXITSTATUS(r->status);
    else if (r->status_known && WIFSIGNALED(r->status))
        p->term_signal = WTERMSIG(r->status);
    p->tail_len = ring_copy(&r->tail, p->tail);
    p->tail[p->tail_len] = '\0';
    p->tail_cut = r->tail.overrun;
    if (finish_capture(&r->out, &p->out, &p->out_len, &p->out_truncated) ||
        finish_capture(&r->err, &p->err, &p->err_len, &p->err_truncated)) {
        /* Out of memory for one byte: the exit status is still true, and
         * the flags say the output is not all there. */
        p->out_truncated = p->err_truncated = true;
    }
}

int rune_proc_run(struct rune_proc *p, char *errbuf, size_t errlen)
{
    reset_out(p);
    if (!p->argv || !p->argv[0] || !p->argv[0][0]) {
        set_error(errbuf, errlen, "no program to run");
        return -1;
    }
    int rc = -1;
    char *path = NULL;
    struct fds f = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
    struct run r = {.pid = -1, .pidfd = -1, .in_fd = -1, .out.fd = -1, .err.fd = -1};
    char **envp = build_env(p->env);
    if (!envp) {
        set_error(errbuf, errlen,
                  "no memory for the environment of %s; free memory on this host "
                  "and run the step again",
                  p->argv[0]);
        goto out;
    }
    if (check_cwd(p->cwd, errbuf, errlen) ||
        resolve_program(p->argv[0], envp, p->cwd, &path, errbuf, errlen) ||
        open_fds(&f, p, errbuf, errlen))
        goto out;

    struct child_setup s = {path,     p->argv,     envp,      p->cwd,    f.in[0], f.out[1],
                            f.err[1], f.report[1], f.gate[0], f.gate[1], SIGRTMIN};
    r.pid = start(&f, &s, p, errbuf, errlen);
    if (r.pid < 0)
        goto out;
    p->pid = r.pid;
    take_over(&r, &f, p);
    supervise(&r, p);
    collect(&r, p);
    rc = 0;
out:
    close_fd(&r.out.fd);
    close_fd(&r.err.fd);
    close_fd(&r.in_fd);
    close_fd(&r.pidfd);
    close_fds(&f);
    free(r.out.buf);
    free(r.err.buf);
    free(path);
    free(envp);
    return rc;
}

void rune_proc_release(struct rune_proc *p)
{
    free(p->out);
    free(p->err);
    p->out = p->err = NULL;
    p->out_len = p->err_len = 0;
}
