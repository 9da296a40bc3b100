/*
 * ssh_mux_main.c — rune-ssh-mux, the client rune runs for a remote step
 * instead of a whole `ssh` process when the target's shared connection is
 * open.
 *
 *   rune-ssh-mux SOCKET COMMAND [SSH ARGV...]
 *
 * It speaks OpenSSH's documented multiplexing protocol (PROTOCOL.mux in
 * OpenSSH's sources) to the master listening on SOCKET: a hello, one
 * MUX_C_NEW_SESSION carrying COMMAND, then its own stdin, stdout and
 * stderr passed over the socket (SCM_RIGHTS), so the master reads and
 * writes them directly. It exits with the remote command's exit status,
 * or 255 with a line on stderr when the connection closed before it came
 * — what `ssh` does in the same case.
 *
 * When no session could be had at all — the master is gone (a SIGKILL
 * leaves its socket behind), or it refused one (sshd's MaxSessions) —
 * and SSH ARGV follows, that `ssh` command is run in its place: `ssh`
 * itself, over the same socket, does the same and then connects on its
 * own, with the same checks. Nothing of the step's stdin was read yet:
 * the master reads it only once the session is open.
 *
 * Why a program of its own: starting `ssh` costs its libraries and its
 * configuration files at every step, most of a remote /bin/true
 * (docs/performance.md). This links nothing but libc, reads no file and
 * trusts nothing but the socket it is handed, which lives in the run's
 * private 0700 directory (engine/run/ssh.c). Everything else — the step's
 * env, stdin, deadline, cancel, the remote process group's kill — is
 * unchanged: rune runs this as any child (proc.c), and killing it closes
 * its side of the session as killing `ssh` did.
 *
 * No environment is sent: the master would pass only what its SendEnv
 * allows, and a step's env travels in its stdin script (ssh_exec.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MUX_MSG_HELLO 0x00000001u
#define MUX_C_NEW_SESSION 0x10000002u
#define MUX_S_PERMISSION_DENIED 0x80000002u
#define MUX_S_FAILURE 0x80000003u
#define MUX_S_EXIT_MESSAGE 0x80000004u
#define MUX_S_SESSION_OPENED 0x80000006u
#define MUX_S_TTY_ALLOC_FAIL 0x80000008u
#define MUX_VERSION 4u
#define NO_ESCAPE 0xffffffffu
#define REQUEST_ID 1u
#define PACKET_MAX (256u * 1024u) /* the master's own limit */
#define EXIT_SSH 255

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "rune-ssh-mux: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return EXIT_SSH;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        /* no SIGPIPE when the master has gone: an error to report */
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* 0, or -1 on an error, or 1 on EOF before the first byte. */
static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return got == 0 ? 1 : -1;
        if (n < 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* A packet being built: uint32 length first, SSH wire format. */
struct packet {
    unsigned char *buf;
    size_t len, cap;
    int broken;
};

static void put(struct packet *p, const void *data, size_t n)
{
    if (p->broken)
        return;
    if (p->len + n > p->cap) {
        size_t cap = (p->len + n) * 2;
        unsigned char *b = realloc(p->buf, cap);
        if (!b) {
            p->broken = 1;
            return;
        }
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, data, n);
    p->len += n;
}

static void put_u32(struct packet *p, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(p, b, 4);
}

static void put_str(struct packet *p, const char *s)
{
    size_t n = strlen(s);
    put_u32(p, (uint32_t)n);
    put(p, s, n);
}

static uint32_t get_u32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Sends a packet whose first 4 bytes are reserved for its length. */
static int send_packet(int fd, struct packet *p)
{
    if (p->broken || p->len < 4 || p->len - 4 > PACKET_MAX)
        return -1;
    uint32_t body = (uint32_t)(p->len - 4);
    unsigned char b[4] = {(unsigned char)(body >> 24), (unsigned char)(body >> 16),
                          (unsigned char)(body >> 8), (unsigned char)body};
    memcpy(p->buf, b, 4);
    return write_all(fd, p->buf, p->len);
}

/* One packet's body, malloc'd into *body; 0, 1 on EOF, -1 on an error. */
static int read_packet(int fd, unsigned char **body, uint32_t *len)
{
    unsigned char b[4];
    int rc = read_all(fd, b, 4);
    if (rc != 0)
        return rc;
    *len = get_u32(b);
    if (*len < 4 || *len > PACKET_MAX)
        return -1;
    *body = malloc(*len);
    if (!*body)
        return -1;
    if (read_all(fd, *body, *len) != 0) {
        free(*body);
        return -1;
    }
    return 0;
}

/* One descriptor over the socket, the way the master reads it: one byte
 * of data carrying it. */
static int send_fd(int sock, int fd)
{
    char byte = 0;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.space, .msg_controllen = sizeof u.space};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    while ((n = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n == 1 ? 0 : -1;
}

static int connect_to(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int hello(int fd)
{
    struct packet p = {0};
    put_u32(&p, 0);
    put_u32(&p, MUX_MSG_HELLO);
    put_u32(&p, MUX_VERSION);
    int rc = send_packet(fd, &p);
    free(p.buf);
    if (rc != 0)
        return fail("cannot greet the shared connection", strerror(errno));
    unsigned char *body = NULL;
    uint32_t len = 0;
    if (read_packet(fd, &body, &len) != 0)
        return fail("the shared connection did not answer its greeting", NULL);
    /* extensions may follow the version: none is used */
    int ok = len >= 8 && get_u32(body) == MUX_MSG_HELLO && get_u32(body + 4) == MUX_VERSION;
    free(body);
    return ok ? 0 : fail("the shared connection speaks another protocol version", NULL);
}

static int new_session(int fd, const char *command)
{
    struct packet p = {0};
    put_u32(&p, 0);
    put_u32(&p, MUX_C_NEW_SESSION);
    put_u32(&p, REQUEST_ID);
    put_str(&p, "");        /* reserved */
    put_u32(&p, 0);         /* no terminal: a step's output is data */
    put_u32(&p, 0);         /* no X11 forwarding */
    put_u32(&p, 0);         /* no agent forwarding */
    put_u32(&p, 0);         /* a command, not a subsystem */
    put_u32(&p, NO_ESCAPE); /* ~ means nothing in a step's input */
    put_str(&p, "");        /* terminal type */
    put_str(&p, command);
    int rc = send_packet(fd, &p);
    free(p.buf);
    if (rc != 0)
        return fail("cannot ask the shared connection for a session", strerror(errno));
    for (int i = 0; i < 3; i++)
        if (send_fd(fd, i) != 0)
            return fail("cannot hand the standard streams to the shared connection",
                        strerror(errno));
    return 0;
}

/* The status that says no session was had: the caller may fall back. */
#define NO_SESSION (-1)

/* Reads the master's replies until it closes the socket: the session's
 * opening, then its exit status. Waiting for the close, as ssh does,
 * means the master has written everything of the session's output.
 * NO_SESSION when the master refused or went before the session opened. */
static int wait_exit(int fd)
{
    int status = -1;
    int opened = 0;
    for (;;) {
        unsigned char *body = NULL;
        uint32_t len = 0;
        int rc = read_packet(fd, &body, &len);
        if (rc == 1)
            break;
        if (rc != 0) {
            fail("the shared connection sent a broken reply", NULL);
            return opened ? EXIT_SSH : NO_SESSION;
        }
        uint32_t type = get_u32(body);
        if ((type == MUX_S_FAILURE || type == MUX_S_PERMISSION_DENIED) && len >= 12) {
            uint32_t n = get_u32(body + 8);
            char why[256];
            snprintf(why, sizeof why, "%.*s", (int)(n <= len - 12 && n < 200 ? n : 0), body + 12);
            free(body);
            fail(type == MUX_S_FAILURE ? "the shared connection refused a session"
                                       : "the shared connection denied a session",
                 why);
            return opened ? EXIT_SSH : NO_SESSION;
        }
        if (type == MUX_S_SESSION_OPENED)
            opened = 1;
        if (type == MUX_S_EXIT_MESSAGE && len >= 12)
            status = (int)(get_u32(body + 8) & 0xff);
        /* MUX_S_SESSION_OPENED and MUX_S_TTY_ALLOC_FAIL need nothing */
        free(body);
    }
    if (status < 0) {
        fail("the shared connection closed before the command's exit status came", NULL);
        return opened ? EXIT_SSH : NO_SESSION;
    }
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: rune-ssh-mux SOCKET COMMAND [SSH ARGV...] (run by rune for "
                        "remote steps)\n");
        return 2;
    }
    int rc = NO_SESSION;
    int fd = connect_to(argv[1]);
    if (fd < 0) {
        fail("cannot reach the shared ssh connection", strerror(errno));
    } else {
        rc = hello(fd) == 0 && new_session(fd, argv[2]) == 0 ? wait_exit(fd) : NO_SESSION;
        close(fd);
    }
    if (rc != NO_SESSION)
        return rc;
    if (argc > 3) {
        fprintf(stderr, "rune-ssh-mux: running ssh on its own instead\n");
        execvp(argv[3], argv + 3);
        return fail("cannot run ssh", strerror(errno));
    }
    return EXIT_SSH;
}
