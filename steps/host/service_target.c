/*
 * service_target.c — the `service` target kind: its fields, and a
 * target read and checked for its backend before anything runs (pg_ctl
 * found for the data directory's version, the user it runs as, systemctl
 * present, the command backend's scripts).
 */
#include "service.h"

#include <glob.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG_LIB_DIR "/usr/lib/postgresql"

const char *const rune_service_backend_names[] = {"pg_ctl", "systemd", "command"};

static const char *field(json_t *t, const char *name)
{
    const char *v = json_string_value(json_object_get(t, name));
    return v && *v ? v : NULL;
}

static char *join(const char *dir, const char *name);

/* On another host (the step's host:) nothing of the service can be
 * looked at from here: paths are the remote host's and must be absolute,
 * pg_ctl is where bin_dir says, and commands run as the user the ssh
 * target logs in as. */
static int load_remote(struct rune_call *c, struct service *s, json_t *t)
{
    static const char *const paths[] = {"data_dir", "bin_dir", "log", "workdir"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const char *v = field(t, paths[i]);
        if (v && v[0] != '/')
            return rune_call_fail(c,
                                  "target \"%s\": %s \"%s\" is relative; on host %s give the "
                                  "remote host's absolute path",
                                  s->name, paths[i], v, s->host);
    }
    if (s->backend == BACKEND_SYSTEMD) {
        s->unit = field(t, "unit");
        return s->unit ? RUNE_STEP_OK
                       : rune_call_fail(c,
                                        "target \"%s\" (backend systemd) needs unit: the systemd "
                                        "unit to control, e.g. postgresql@15-main",
                                        s->name);
    }
    if (s->backend == BACKEND_COMMAND) {
        s->start = field(t, "start");
        s->stop = field(t, "stop");
        s->status = field(t, "status");
        s->workdir = field(t, "workdir") ? strdup(field(t, "workdir")) : NULL;
        return RUNE_STEP_OK;
    }
    if (field(t, "user"))
        return rune_call_fail(c,
                              "target \"%s\": user: %s — on host %s pg_ctl runs as the user the "
                              "ssh target logs in as; set user: %s on the ssh target and drop it "
                              "here",
                              s->name, field(t, "user"), s->host, field(t, "user"));
    if (!field(t, "data_dir") || !field(t, "bin_dir"))
        return rune_call_fail(c,
                              "target \"%s\" (backend pg_ctl) on host %s needs data_dir and "
                              "bin_dir (the remote cluster's data directory and the directory "
                              "holding its pg_ctl, e.g. /usr/lib/postgresql/15/bin)",
                              s->name, s->host);
    s->data_dir = strdup(field(t, "data_dir"));
    s->pg_ctl = join(field(t, "bin_dir"), "pg_ctl");
    s->log = field(t, "log") ? strdup(field(t, "log")) : join(s->data_dir, "pg_ctl.log");
    s->options = field(t, "options");
    s->stop_mode = field(t, "stop_mode") ? field(t, "stop_mode") : "fast";
    return RUNE_STEP_OK;
}

/* A path field relative to where the operator started rune. Malloc'd;
 * NULL when the field is absent. */
static char *path_field(struct rune_call *c, json_t *t, const char *name)
{
    const char *v = field(t, name);
    if (!v)
        return NULL;
    const char *base = rune_call_cwd(c);
    if (v[0] == '/' || !base || !*base)
        return strdup(v);
    size_t len = strlen(base) + strlen(v) + 2;
    char *abs = malloc(len);
    if (abs)
        snprintf(abs, len, "%s/%s", base, v);
    return abs;
}

/* Fields that only mean something for one backend; giving one to another
 * backend is a mistake worth stopping for (a command target with a
 * data_dir is probably meant to be pg_ctl). Fields with defaults are not
 * listed: they are always present. */
static const struct {
    const char *field;
    enum backend backend;
} backend_fields[] = {
    {"data_dir", BACKEND_PG_CTL}, {"bin_dir", BACKEND_PG_CTL}, {"user", BACKEND_PG_CTL},
    {"options", BACKEND_PG_CTL},  {"log", BACKEND_PG_CTL},     {"unit", BACKEND_SYSTEMD},
    {"start", BACKEND_COMMAND},   {"stop", BACKEND_COMMAND},   {"status", BACKEND_COMMAND},
    {"workdir", BACKEND_COMMAND},
};

static int check_fields(struct rune_call *c, const struct service *s, json_t *t)
{
    for (size_t i = 0; i < sizeof backend_fields / sizeof backend_fields[0]; i++) {
        if (backend_fields[i].backend == s->backend || !field(t, backend_fields[i].field))
            continue;
        return rune_call_fail(c,
                              "target \"%s\": %s is a field of backend %s, not %s; remove it "
                              "or change the backend",
                              s->name, backend_fields[i].field,
                              rune_service_backend_names[backend_fields[i].backend],
                              rune_service_backend_names[s->backend]);
    }
    return RUNE_STEP_OK;
}

/* The name of a user id into buf; false if it has none. */
static bool user_name(uid_t uid, char *buf, size_t len)
{
    struct passwd pw, *found = NULL;
    char tmp[4096];
    if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &found) != 0 || !found)
        return false;
    snprintf(buf, len, "%s", found->pw_name);
    return true;
}

/* PostgreSQL refuses to run as root, so as root pg_ctl runs as `user`
 * (through runuser, which drops to the user's ids and groups); as anyone
 * else rune can only be that user itself. */
static int check_user(struct rune_call *c, struct service *s)
{
    if (geteuid() == 0) {
        if (s->user && strcmp(s->user, "root") != 0) {
            s->as_user = true;
            return RUNE_STEP_OK;
        }
        char owner[256] = "";
        struct stat st;
        if (stat(s->data_dir, &st) == 0 && st.st_uid != 0 && user_name(st.st_uid, owner, 200))
            snprintf(owner + strlen(owner), sizeof owner - strlen(owner), " owns %s", s->data_dir);
        return rune_call_fail(c,
                              "target \"%s\": rune runs as root and PostgreSQL refuses to: set "
                              "user: on the target to the OS user that owns the data "
                              "directory%s%s%s",
                              s->name, *owner ? " (" : "", owner, *owner ? ")" : "");
    }
    char me[256];
    if (!s->user || (user_name(geteuid(), me, sizeof me) && strcmp(me, s->user) == 0))
        return RUNE_STEP_OK;
    return rune_call_fail(c,
                          "target \"%s\": user: %s: rune runs as %s, not root, so it cannot "
                          "run pg_ctl as %s; run rune as root or as %s, or remove user:",
                          s->name, s->user, user_name(geteuid(), me, sizeof me) ? me : "?", s->user,
                          s->user);
}

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", dir, name);
    return p;
}

/* "/usr/lib/postgresql/9.6/bin/pg_ctl" → 9006, ".../15/bin/pg_ctl" → 15000. */
static long pg_version_of(const char *path)
{
    const char *v = path + strlen(PG_LIB_DIR "/");
    char *end;
    long major = strtol(v, &end, 10), minor = 0;
    if (*end == '.')
        minor = strtol(end + 1, NULL, 10);
    return major * 1000 + minor;
}

/* pg_ctl of the data directory's own major version when that is
 * installed (a newer pg_ctl would start a server that refuses the
 * directory), else the newest installed one. Malloc'd, or NULL. */
static char *installed_pg_ctl(const char *data_dir)
{
    char ver[32] = "", *path = NULL;
    char *vfile = join(data_dir, "PG_VERSION");
    FILE *f = vfile ? fopen(vfile, "r") : NULL; /* unreadable unless rune is its owner or root */
    free(vfile);
    if (f) {
        if (fgets(ver, sizeof ver, f))
            ver[strcspn(ver, "\r\n")] = '\0';
        fclose(f);
    }
    if (*ver && !strchr(ver, '/')) {
        char p[256];
        snprintf(p, sizeof p, PG_LIB_DIR "/%s/bin/pg_ctl", ver);
        if (executable(p))
            return strdup(p);
    }
    glob_t g;
    if (glob(PG_LIB_DIR "/*/bin/pg_ctl", 0, NULL, &g) != 0)
        return NULL;
    long best = -1;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        long v = pg_version_of(g.gl_pathv[i]);
        if (v > best && executable(g.gl_pathv[i])) {
            best = v;
            free(path);
            path = strdup(g.gl_pathv[i]);
        }
    }
    globfree(&g);
    return path;
}

/* prog in PATH, as the child will look it up. Malloc'd, or NULL. */
static char *in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char *dirs = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    char *found = NULL, *save = NULL;
    for (char *d = dirs ? strtok_r(dirs, ":", &save) : NULL; d && !found;
         d = strtok_r(NULL, ":", &save)) {
        char *p = join(*d ? d : ".", prog);
        if (p && executable(p))
            found = p;
        else
            free(p);
    }
    free(dirs);
    return found;
}

static int find_pg_ctl(struct rune_call *c, struct service *s, json_t *t)
{
    char *bin_dir = path_field(c, t, "bin_dir");
    if (bin_dir) {
        s->pg_ctl = join(bin_dir, "pg_ctl");
        int st = RUNE_STEP_OK;
        if (s->pg_ctl && !executable(s->pg_ctl))
            st = rune_call_fail(c,
                                "target \"%s\": bin_dir: %s is not an executable pg_ctl; "
                                "set bin_dir to the directory that holds pg_ctl",
                                s->name, s->pg_ctl);
        free(bin_dir);
        return st;
    }
    s->pg_ctl = installed_pg_ctl(s->data_dir);
    if (!s->pg_ctl)
        s->pg_ctl = in_path("pg_ctl");
    if (!s->pg_ctl)
        return rune_call_fail(c,
                              "target \"%s\": pg_ctl not found in " PG_LIB_DIR "/*/bin or in "
                              "PATH; set bin_dir on the target",
                              s->name);
    return RUNE_STEP_OK;
}

static int load_pg_ctl(struct rune_call *c, struct service *s, json_t *t)
{
    s->data_dir = path_field(c, t, "data_dir");
    if (!s->data_dir)
        return rune_call_fail(c,
                              "target \"%s\" (backend pg_ctl) needs data_dir: the cluster's "
                              "data directory, e.g. /var/lib/postgresql/15/main",
                              s->name);
    s->log = path_field(c, t, "log");
    if (!s->log)
        s->log = join(s->data_dir, "pg_ctl.log");
    s->user = field(t, "user");
    s->options = field(t, "options");
    s->stop_mode = field(t, "stop_mode");
    if (!s->stop_mode)
        s->stop_mode = "fast";
    if (strcmp(s->stop_mode, "smart") && strcmp(s->stop_mode, "fast") &&
        strcmp(s->stop_mode, "immediate"))
        return rune_call_fail(c,
                              "target \"%s\": stop_mode \"%s\" is not one of smart, fast, "
                              "immediate",
                              s->name, s->stop_mode);
    int st = check_user(c, s);
    return st != RUNE_STEP_OK ? st : find_pg_ctl(c, s, t);
}

/* systemctl must be there: without it (a container, a non-systemd host)
 * say so before trying, rather than leave "not found" to the spawn. */
static int load_systemd(struct rune_call *c, struct service *s, json_t *t)
{
    s->unit = field(t, "unit");
    if (!s->unit)
        return rune_call_fail(c,
                              "target \"%s\" (backend systemd) needs unit: the systemd "
                              "unit to control, e.g. postgresql@15-main",
                              s->name);
    char *systemctl = in_path("systemctl");
    if (systemctl) {
        free(systemctl);
        return RUNE_STEP_OK;
    }
    return rune_call_fail(c,
                          "target \"%s\" (backend systemd): systemctl is not available (not "
                          "found in PATH), so this machine is not run by systemd; use backend "
                          "pg_ctl or command here",
                          s->name);
}

/* The engine checked the kind and each field's type; what each backend
 * needs is checked here, before anything runs. */
int rune_service_load(struct rune_call *c, struct service *s)
{
    memset(s, 0, sizeof *s);
    json_t *t = rune_call_target(c, "target");
    if (!t) {
        rune_call_fail(c, "no target: give target: NAME of a `kind: service` target");
        return RUNE_STEP_FAILED;
    }
    s->name = json_string_value(json_object_get(t, "name"));
    const char *backend = field(t, "backend");
    s->backend = BACKEND_COUNT;
    for (int b = 0; backend && b < BACKEND_COUNT; b++)
        if (strcmp(backend, rune_service_backend_names[b]) == 0)
            s->backend = (enum backend)b;
    if (s->backend == BACKEND_COUNT) {
        rune_call_fail(c, "target \"%s\": backend \"%s\" is not one of pg_ctl, systemd, command",
                       s->name, backend ? backend : "");
        return RUNE_STEP_FAILED; /* spelt out: s->backend must never index backend_names */
    }
    json_t *wait = json_object_get(rune_call_params(c), "wait");
    if (!json_is_integer(wait))
        wait = json_object_get(t, "wait");
    s->wait_ms = json_is_integer(wait) ? json_integer_value(wait) : 60000;
    int st = check_fields(c, s, t);
    if (st != RUNE_STEP_OK)
        return st;
    const char *host = rune_call_str(c, "host");
    s->host = host && *host ? host : NULL;
    if (s->host)
        return load_remote(c, s, t);
    switch (s->backend) {
    case BACKEND_PG_CTL:
        return load_pg_ctl(c, s, t);
    case BACKEND_SYSTEMD:
        return load_systemd(c, s, t);
    default:
        s->start = field(t, "start");
        s->stop = field(t, "stop");
        s->status = field(t, "status");
        s->workdir = path_field(c, t, "workdir");
        return RUNE_STEP_OK;
    }
}

/* The command backend needs the scripts the action uses. */
int rune_service_need_scripts(struct rune_call *c, const struct service *s, enum action a)
{
    if (s->backend != BACKEND_COMMAND)
        return RUNE_STEP_OK;
    const char *missing = !s->status                                          ? "status"
                          : (a == ACT_START || a == ACT_RESTART) && !s->start ? "start"
                          : (a == ACT_STOP || a == ACT_RESTART) && !s->stop   ? "stop"
                                                                              : NULL;
    if (!missing)
        return RUNE_STEP_OK;
    return rune_call_fail(c,
                          "target \"%s\" (backend command) needs %s: the shell command that "
                          "%s the service%s",
                          s->name, missing,
                          !strcmp(missing, "status")  ? "exits 0 while"
                          : !strcmp(missing, "start") ? "starts"
                                                      : "stops",
                          !strcmp(missing, "status") ? " runs and non-zero when it is stopped"
                                                     : "");
}

static const struct rune_param service_fields[] = {
    {"backend", RUNE_T_STRING, true, NULL,
     "how the service is controlled: pg_ctl, systemd or command (see docs/services.md)",
     .choices = "pg_ctl|systemd|command"},
    {"wait", RUNE_T_DURATION, false, "60s",
     "how long stop, start and restart may take, command and waiting for the new state "
     "together"},
    {"data_dir", RUNE_T_PATH, false, NULL, "pg_ctl (required): the cluster's data directory"},
    {"bin_dir", RUNE_T_PATH, false, NULL,
     "pg_ctl: directory holding pg_ctl; default /usr/lib/postgresql/<the data directory's "
     "PG_VERSION>/bin, else the newest /usr/lib/postgresql/*/bin, else PATH"},
    {"user", RUNE_T_STRING, false, NULL,
     "pg_ctl: the OS user pg_ctl runs as (through runuser) when rune runs as root; required "
     "then, since PostgreSQL refuses to run as root"},
    {"options", RUNE_T_STRING, false, NULL,
     "pg_ctl: server options for start (pg_ctl -o), e.g. \"-c port=5433\""},
    {"log", RUNE_T_PATH, false, NULL,
     "pg_ctl: server log file for start (pg_ctl -l); default <data_dir>/pg_ctl.log"},
    {"stop_mode", RUNE_T_STRING, false, "fast", "pg_ctl: shutdown mode: smart, fast or immediate",
     .choices = "smart|fast|immediate"},
    {"unit", RUNE_T_STRING, false, NULL, "systemd (required): the unit, e.g. postgresql@15-main"},
    {"start", RUNE_T_STRING, false, NULL, "command: shell command that starts the service"},
    {"stop", RUNE_T_STRING, false, NULL, "command: shell command that stops the service"},
    {"status", RUNE_T_STRING, false, NULL,
     "command (required): shell command that exits 0 while the service runs, non-zero when it "
     "is stopped"},
    {"workdir", RUNE_T_PATH, false, NULL, "command: directory the commands run in"},
    {NULL},
};

const struct rune_target_kind rune_service_target = {
    "service",
    "A service rune can stop, start and check (pg_ctl, systemd or commands)",
    service_fields,
};
