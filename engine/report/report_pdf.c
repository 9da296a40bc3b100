/*
 * report_pdf.c — the pdf format: the HTML report (report_html.c) printed
 * to PDF by headless Chromium. rune draws no PDF itself: the browser lays
 * the page out exactly as it shows it, print CSS included, and the two
 * formats cannot drift apart.
 *
 * Chromium is an optional dependency, needed only here. It is found
 * through $RUNE_CHROMIUM, else chromium, chromium-browser or google-chrome
 * in PATH; without it this format is an error naming the package to
 * install, never a silent fallback to another format.
 *
 * Everything Chromium touches lives in one private directory (mkdtemp,
 * 0700) removed afterwards: the page (0600, O_EXCL|O_NOFOLLOW), its
 * profile (--user-data-dir), its HOME, XDG directories and TMPDIR (so
 * nothing lands in the operator's home or a shared /tmp) and the PDF it
 * prints, which is read back
 * and written where asked like every format (rune_report_save_bytes:
 * whole or not at all). The page fetches nothing (its Content-Security-
 * Policy allows no request and no script), and Chromium is told to resolve
 * no host name and to do no background networking. The child runs through
 * proc.h like every child of rune: its own process group, killed whole at
 * the deadline ($RUNE_CHROMIUM_TIMEOUT seconds, default 60). The paper is
 * Chromium's default, Letter, unless $RUNE_PDF_PAPER says a4 (the page's
 * print CSS reads well on both).
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "proc.h"

#define TIMEOUT_DEFAULT_S 60
#define TIMEOUT_MAX_S 3600
#define PDF_MAX (512LL << 20) /* no report comes near; a bound on what is read back */
#define REMOVE_WAIT_MS 5000   /* Chromium's crash handler may still be writing its files */

#define INSTALL_HINT                                                                               \
    "install Chromium (Debian and Ubuntu: apt install chromium) or set RUNE_CHROMIUM to a "        \
    "Chromium or Chrome binary; `--format html` needs nothing and prints from any browser"

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The browser: $RUNE_CHROMIUM when set (a path, or a name looked up in
 * PATH), else the first of the usual names in PATH. */
static int find_chromium(char *path, size_t len, char *err, size_t errlen)
{
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    const char *env = getenv("RUNE_CHROMIUM"), *dirs = getenv("PATH");
    const char *const *want = names;
    size_t nwant = sizeof names / sizeof names[0];

    if (!dirs || !*dirs)
        dirs = "/usr/local/bin:/usr/bin:/bin";
    if (env && *env) {
        if (strchr(env, '/')) {
            if (executable(env) && (size_t)snprintf(path, len, "%s", env) < len)
                return 0;
            snprintf(err, errlen,
                     "the pdf format runs headless Chromium, and RUNE_CHROMIUM is %s, which is "
                     "not an executable file (%s): " INSTALL_HINT,
                     env, access(env, F_OK) ? strerror(errno) : "not executable");
            return -1;
        }
        want = &env;
        nwant = 1;
    }
    for (size_t i = 0; i < nwant; i++)
        for (const char *d = dirs; *d;) {
            size_t n = strcspn(d, ":");
            int w = snprintf(path, len, "%.*s/%s", (int)n, n ? d : ".", want[i]);
            if (w > 0 && (size_t)w < len && executable(path))
                return 0;
            d += n + (d[n] == ':');
        }
    if (env && *env)
        snprintf(err, errlen,
                 "the pdf format runs headless Chromium, and RUNE_CHROMIUM is %s, which is not "
                 "in PATH: " INSTALL_HINT,
                 env);
    else
        snprintf(err, errlen,
                 "the pdf format runs headless Chromium, and none of chromium, chromium-browser, "
                 "google-chrome is in PATH: " INSTALL_HINT);
    return -1;
}

/* How long Chromium may take: $RUNE_CHROMIUM_TIMEOUT seconds, else 60. */
static int timeout_s(long *secs, char *err, size_t errlen)
{
    const char *env = getenv("RUNE_CHROMIUM_TIMEOUT");
    char *end;

    *secs = TIMEOUT_DEFAULT_S;
    if (!env || !*env)
        return 0;
    errno = 0;
    *secs = strtol(env, &end, 10);
    if (errno || *end || *secs < 1 || *secs > TIMEOUT_MAX_S) {
        snprintf(err, errlen,
                 "RUNE_CHROMIUM_TIMEOUT is \"%s\": give whole seconds from 1 to %d, or unset it "
                 "for %d",
                 env, TIMEOUT_MAX_S, TIMEOUT_DEFAULT_S);
        return -1;
    }
    return 0;
}

/* The paper: $RUNE_PDF_PAPER (a4 or letter) as an @page rule for the
 * page's head, or "" for Chromium's own default (Letter). */
static int paper(const char **rule, char *err, size_t errlen)
{
    const char *env = getenv("RUNE_PDF_PAPER");

    *rule = "";
    if (!env || !*env)
        return 0;
    if (!strcasecmp(env, "a4"))
        *rule = "<style>@page{size:A4}</style>\n";
    else if (!strcasecmp(env, "letter"))
        *rule = "<style>@page{size:letter}</style>\n";
    else {
        snprintf(err, errlen, "RUNE_PDF_PAPER is \"%s\": give a4 or letter, or unset it for letter",
                 env);
        return -1;
    }
    return 0;
}

/* The page to print: the HTML report with the paper's rule at the end of
 * its head (after the report's own style, so it wins). malloc'd. */
static char *page_to_print(json_t *rep, const char *rule)
{
    char *html = rune_report_html(rep), *head, *out;
    size_t n, r = strlen(rule);

    if (!html || !r || !(head = strstr(html, "</head>")))
        return html;
    n = strlen(html);
    if ((out = malloc(n + r + 1))) {
        size_t at = (size_t)(head - html);
        memcpy(out, html, at);
        memcpy(out + at, rule, r);
        memcpy(out + at + r, head, n - at + 1);
    }
    free(html);
    return out;
}

/* A new private file: created here or not at all, never through a link. */
static int write_new(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    for (size_t off = 0; off < len;) {
        ssize_t k = write(fd, data + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            snprintf(err, errlen, "cannot write %s: %s", path,
                     k < 0 ? strerror(errno) : "short write");
            close(fd);
            return -1;
        }
        off += (size_t)k;
    }
    if (close(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The PDF Chromium printed, whole, into *data (malloc'd). Anything but a
 * regular file starting with %PDF- is refused. */
static int read_pdf(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    size_t off = 0;

    *data = NULL;
    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 5 || st.st_size > PDF_MAX) {
        snprintf(err, errlen, "not a plausible PDF (%lld bytes)", (long long)st.st_size);
        goto fail;
    }
    *len = (size_t)st.st_size;
    if (!(*data = malloc(*len))) {
        snprintf(err, errlen, "no memory for %zu bytes: free memory on this host", *len);
        goto fail;
    }
    while (off < *len) {
        ssize_t k = read(fd, *data + off, *len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            snprintf(err, errlen, "%s", k < 0 ? strerror(errno) : "it shrank while read");
            goto fail;
        }
        off += (size_t)k;
    }
    if (memcmp(*data, "%PDF-", 5) != 0) {
        snprintf(err, errlen, "it does not start with %%PDF-");
        goto fail;
    }
    close(fd);
    return 0;
fail:
    free(*data);
    *data = NULL;
    close(fd);
    return -1;
}

/* file:// URL of an absolute path, every byte but [A-Za-z0-9/._~-]
 * percent-encoded (TMPDIR may hold spaces, '%' or '#'). */
static int file_url(const char *path, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "file://");
    for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
        if (o + 4 > len)
            return -1;
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            strchr("/._~-", *s))
            buf[o++] = (char)*s;
        else
            o += (size_t)snprintf(buf + o, len - o, "%%%02X", *s);
    }
    buf[o] = '\0';
    return 0;
}

/* The last line the browser printed that says something (its D-Bus
 * complaints on a server say nothing about the print), for a message. */
static void last_words(const char *tail, char *buf, size_t len)
{
    const char *best = NULL, *best_end = NULL;
    for (const char *s = tail; *s;) {
        const char *e = s + strcspn(s, "\n");
        if (e > s && !memmem(s, (size_t)(e - s), "dbus", 4) &&
            !memmem(s, (size_t)(e - s), "D-Bus", 5)) {
            best = s;
            best_end = e;
        }
        s = *e ? e + 1 : e;
    }
    if (best)
        snprintf(buf, len, "; it said: %.*s", (int)(best_end - best), best);
    else
        buf[0] = '\0';
}

/* Runs the browser on dir/report.html, printing dir/report.pdf. */
static int print(const char *chromium, const char *dir, long secs, char *err, size_t errlen)
{
    char page[PATH_MAX + 16], url[3 * PATH_MAX + 16], pdf_arg[PATH_MAX + 32],
        profile_arg[PATH_MAX + 32], home[PATH_MAX + 8], config[PATH_MAX + 32], cache[PATH_MAX + 32],
        tmpdir[PATH_MAX + 8], said[512];
    snprintf(page, sizeof page, "%s/report.html", dir);
    snprintf(pdf_arg, sizeof pdf_arg, "--print-to-pdf=%s/report.pdf", dir);
    snprintf(profile_arg, sizeof profile_arg, "--user-data-dir=%s/profile", dir);
    snprintf(home, sizeof home, "HOME=%s", dir);
    snprintf(config, sizeof config, "XDG_CONFIG_HOME=%s/config", dir);
    snprintf(cache, sizeof cache, "XDG_CACHE_HOME=%s/cache", dir);
    snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", dir);
    if (file_url(page, url, sizeof url) != 0) {
        snprintf(err, errlen, "the temporary path %s is too long for a URL: set TMPDIR shorter",
                 page);
        return -1;
    }
    const char *argv[24] = {chromium,
                            "--headless",
                            "--disable-gpu",
                            "--no-pdf-header-footer",
                            "--print-to-pdf-no-header", /* the same, before Chromium 111 */
                            "--no-first-run",
                            "--no-default-browser-check",
                            "--disable-extensions",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-default-apps",
                            "--host-resolver-rules=MAP * ~NOTFOUND",
                            profile_arg,
                            pdf_arg};
    size_t n = 15;
    /* Chromium refuses to start as root with its sandbox on (the sandbox
     * is built on dropping privileges a root browser could take back), so
     * only then it runs without: the page is rune's own, escaped, with no
     * script allowed and nothing fetched. Any other user keeps it. */
    if (geteuid() == 0)
        argv[n++] = "--no-sandbox";
    argv[n++] = url;
    const char *env[] = {home, config, cache, tmpdir, NULL};
    struct rune_proc p = {
        .argv = (char *const *)argv,
        .env = (char *const *)env,
        .cwd = dir,
        .capture_max = 64 << 10,
        .deadline_ms = rune_clock_mono_ms() + secs * 1000,
    };
    char why[256];
    int rc = -1;

    if (rune_proc_run(&p, why, sizeof why) != 0) {
        snprintf(err, errlen, "cannot start %s to print the PDF: %s", chromium, why);
        return -1;
    }
    /* Whatever of the browser is left in its group (a helper that outlived
     * it) goes too. Linux keeps a group's id from reuse while a member
     * lives, so this reaches the browser's own processes; with none left
     * it finds nothing (only a pid space wrapped around since the exit
     * could hand the id to a new group leader). Chromium's crash handler
     * makes its own session and ends itself when the browser is gone. */
    kill(-p.pid, SIGKILL);
    last_words(p.tail, said, sizeof said);
    if (p.timed_out)
        snprintf(err, errlen,
                 "%s did not print the PDF within %lds and was stopped with all its processes; "
                 "set RUNE_CHROMIUM_TIMEOUT to more seconds on a slow or loaded host%s",
                 chromium, secs, said);
    else if (p.exit_code != 0)
        snprintf(err, errlen, "%s failed to print the PDF (%s %d)%s", chromium,
                 p.term_signal ? "killed by signal" : "exit status",
                 p.term_signal ? p.term_signal : p.exit_code, said);
    else
        rc = 0;
    rune_proc_release(&p);
    return rc;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0; /* on: what stays is found when the top will not go */
}

/* Removes the private directory and all Chromium left in it, staying on
 * its filesystem and never following a link. A crash handler that
 * outlives the browser for a moment may still add a file: tried again
 * until the directory is gone or REMOVE_WAIT_MS passed. */
static int remove_tree(const char *dir)
{
    long long until = rune_clock_mono_ms() + REMOVE_WAIT_MS;
    for (;;) {
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        if (access(dir, F_OK) != 0 && errno == ENOENT)
            return 0;
        if (rune_clock_mono_ms() > until)
            return -1;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* A new private directory (0700, unpredictable name) in $TMPDIR or /tmp,
 * as an absolute path: Chromium is given file:// URLs into it. */
static int private_dir(char *dir, size_t len, char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR");
    char base[PATH_MAX];

    if (!tmp || !*tmp)
        tmp = "/tmp";
    if (!realpath(tmp, base)) {
        snprintf(err, errlen,
                 "cannot use %s for Chromium's private directory: %s; set TMPDIR to a writable "
                 "directory",
                 tmp, strerror(errno));
        return -1;
    }
    if ((size_t)snprintf(dir, len, "%s/rune-pdf-XXXXXX", base) >= len || !mkdtemp(dir)) {
        snprintf(err, errlen,
                 "cannot make a private directory for Chromium in %s: %s; set TMPDIR to a "
                 "writable directory",
                 base, strerror(errno));
        return -1;
    }
    return 0;
}

/* The bytes to out: a file whole or not at all, or standard output. */
static int emit(const char *out, const char *data, size_t len, char *err, size_t errlen)
{
    if (out && strcmp(out, "-"))
        return rune_report_save_bytes(out, data, len, err, errlen);
    for (size_t off = 0; off < len;) {
        ssize_t k = write(STDOUT_FILENO, data + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            snprintf(err, errlen, "cannot write the PDF to standard output: %s",
                     k < 0 ? strerror(errno) : "short write");
            return -1;
        }
        off += (size_t)k;
    }
    return 0;
}

int rune_report_pdf(json_t *rep, const char *out, char *err, size_t errlen)
{
    char chromium[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 16], why[512];
    char *html = NULL, *pdf = NULL;
    const char *rule;
    size_t len = 0;
    long secs;
    int rc = -1;

    if ((!out || !strcmp(out, "-")) && isatty(STDOUT_FILENO)) {
        snprintf(err, errlen,
                 "a PDF is binary and standard output is a terminal: give -o FILE, or redirect "
                 "standard output to a file");
        return -2;
    }
    if (timeout_s(&secs, err, errlen) != 0 || paper(&rule, err, errlen) != 0 ||
        find_chromium(chromium, sizeof chromium, err, errlen) != 0)
        return -1;
    if (!(html = page_to_print(rep, rule))) {
        snprintf(err, errlen, "no memory to render the HTML to print: free memory on this host");
        return -1;
    }
    if (private_dir(dir, sizeof dir, err, errlen) != 0) {
        free(html);
        return -1;
    }
    snprintf(path, sizeof path, "%s/report.html", dir);
    if (write_new(path, html, strlen(html), err, errlen) != 0 ||
        print(chromium, dir, secs, err, errlen) != 0)
        goto out;
    snprintf(path, sizeof path, "%s/report.pdf", dir);
    if (read_pdf(path, &pdf, &len, why, sizeof why) != 0) {
        snprintf(err, errlen,
                 "%s exited without printing a PDF (%s: %s); run it by hand on the "
                 "HTML report (`--format html`) to see why",
                 chromium, path, why);
        goto out;
    }
    rc = 0;
out:
    free(html);
    if (remove_tree(dir) != 0 && rc == 0) {
        snprintf(err, errlen,
                 "cannot remove Chromium's private directory %s (something still writes in it): "
                 "nothing was written; remove it and try again",
                 dir);
        rc = -1;
    }
    if (rc == 0)
        rc = emit(out, pdf, len, err, errlen);
    free(pdf);
    return rc;
}
