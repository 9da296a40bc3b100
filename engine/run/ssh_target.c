/*
 * ssh_target.c — the `ssh` target kind: a host steps run on through the
 * system's OpenSSH client (ssh.c keeps the connections, ssh_exec.c runs
 * the commands). Its fields, and the checks that keep a runbook from
 * turning an ssh option into a command run on this host.
 *
 * ssh options that run programs here (ProxyCommand, LocalCommand,
 * KnownHostsCommand, Match exec, a PKCS#11 or security-key provider that
 * loads a library) would make a runbook a way to run anything as the
 * operator, under a name that looks like networking. So `options:` takes
 * only names from a list of options that do no such thing, and values of
 * plain characters; the fields rune sets itself (connection sharing,
 * BatchMode, host key checking) cannot be overridden there.
 *
 * The kind lives in the engine, not in a step family, because the engine
 * runs remote commands for every family (rune_proc.host); steps/registry.c
 * lists it with the others.
 */
#include "ssh_target.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct rune_param ssh_fields[] = {
    {"host", RUNE_T_STRING, true, NULL,
     "host name or address to connect to (or a Host alias of the operator's ~/.ssh/config)"},
    {"user", RUNE_T_STRING, false, NULL,
     "user to log in as (default: ssh's, usually the operator)"},
    {"port", RUNE_T_INT, false, "22", "TCP port of the server"},
    {"identity_file", RUNE_T_PATH, false, NULL,
     "private key to log in with (only this one is offered: IdentitiesOnly)"},
    {"known_hosts", RUNE_T_PATH, false, NULL,
     "known_hosts file the server's key is checked against (default: ssh's, ~/.ssh/known_hosts)"},
    {"strict_host_key_checking", RUNE_T_STRING, false, "yes",
     "yes: a server whose key is not in known_hosts is refused; accept-new: a first key is "
     "learned and written there (a changed key is refused either way)",
     .choices = "yes|accept-new"},
    {"connect_timeout", RUNE_T_DURATION, false, "10s",
     "how long opening the connection may take (ConnectTimeout)"},
    {"options", RUNE_T_MAP, false, NULL,
     "more ssh options, from a list that runs no program here: ProxyJump, ServerAliveInterval, "
     "ServerAliveCountMax, ConnectionAttempts, TCPKeepAlive, Compression, Ciphers, MACs, "
     "KexAlgorithms, HostKeyAlgorithms, PubkeyAcceptedAlgorithms, HostKeyAlias, AddressFamily, "
     "BindAddress, BindInterface, IPQoS, CheckHostIP, LogLevel, RekeyLimit, IdentityAgent"},
    {0},
};

/* What `options:` may hold: none of these runs a program, loads code,
 * forwards anything or changes what rune relies on. */
static const char *const allowed[] = {
    "ProxyJump",
    "ServerAliveInterval",
    "ServerAliveCountMax",
    "ConnectionAttempts",
    "TCPKeepAlive",
    "Compression",
    "Ciphers",
    "MACs",
    "KexAlgorithms",
    "HostKeyAlgorithms",
    "PubkeyAcceptedAlgorithms",
    "HostKeyAlias",
    "AddressFamily",
    "BindAddress",
    "BindInterface",
    "IPQoS",
    "CheckHostIP",
    "LogLevel",
    "RekeyLimit",
    "IdentityAgent",
    NULL,
};

/* Why an option someone may well try is refused. */
static const struct {
    const char *name, *why;
} refused[] = {
    {"ProxyCommand", "it runs a command on this host; use ProxyJump for a jump host"},
    {"LocalCommand", "it runs a command on this host"},
    {"PermitLocalCommand", "it lets LocalCommand run a command on this host"},
    {"KnownHostsCommand", "it runs a command on this host"},
    {"RemoteCommand", "rune chooses the remote command (the step's)"},
    {"Match", "Match exec runs a command on this host"},
    {"Include", "it reads more options from a file rune does not check"},
    {"PKCS11Provider", "it loads a library into ssh on this host"},
    {"SecurityKeyProvider", "it loads a library into ssh on this host"},
    {"ControlMaster", "rune shares one connection per target and run itself"},
    {"ControlPath", "rune keeps the connection's socket in the run's private directory"},
    {"ControlPersist", "rune keeps the shared connection for the run and closes it at the end"},
    {"BatchMode", "rune never lets ssh prompt (BatchMode=yes)"},
    {"StrictHostKeyChecking", "use the field strict_host_key_checking (yes or accept-new)"},
    {"UserKnownHostsFile", "use the field known_hosts"},
    {"GlobalKnownHostsFile", "use the field known_hosts"},
    {"IdentityFile", "use the field identity_file"},
    {"Port", "use the field port"},
    {"User", "use the field user"},
    {"Hostname", "use the field host"},
    {"ConnectTimeout", "use the field connect_timeout"},
    {"SendEnv", "a step's env: goes to the remote command over its standard input"},
    {"SetEnv", "a step's env: goes to the remote command over its standard input"},
    {"ForwardAgent", "it lets the remote host use this host's keys"},
    {"LocalForward", "rune runs commands; it forwards no ports"},
    {"RemoteForward", "rune runs commands; it forwards no ports"},
    {"DynamicForward", "rune runs commands; it forwards no ports"},
    {"ForwardX11", "rune runs commands; it forwards nothing"},
    {"Tunnel", "rune runs commands; it forwards nothing"},
};

const char *rune_ssh_option_name(const char *name)
{
    for (const char *const *a = allowed; *a; a++)
        if (!strcasecmp(*a, name))
            return *a;
    return NULL;
}

/* Characters an ssh option value or a host may hold: no space (ssh would
 * read a second word), no quote, no control character, nothing a shell or
 * ssh's %-tokens treat specially. */
static bool plain_value(const char *s)
{
    return *s && *s != '-' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                     "._@:,+/=[]-") == strlen(s);
}

static bool dynamic(const char *s)
{
    return s && strstr(s, "${");
}

static bool check_word(json_t *t, const char *field, const char *what, char *err, size_t errlen,
                       const char **bad)
{
    const char *v = json_string_value(json_object_get(t, field));
    if (!v || dynamic(v) || plain_value(v))
        return true;
    *bad = field;
    snprintf(err, errlen,
             "%s \"%.80s\" is not a plain %s: letters, digits and . _ @ : , + / = [ ] -, not "
             "starting with -",
             field, v, what);
    return false;
}

/* Paths ssh reads through -o (known_hosts): no blank, quote or % (ssh
 * would split the value or expand a token in it). */
static bool check_path(json_t *t, const char *field, char *err, size_t errlen, const char **bad)
{
    const char *v = json_string_value(json_object_get(t, field));
    if (!v || dynamic(v) || (*v && !strpbrk(v, " \t\r\n\"'%\\")))
        return true;
    *bad = field;
    snprintf(err, errlen,
             "%s \"%.80s\": rune passes it to ssh, which would split or expand it; use a path "
             "without blanks, quotes, backslashes or %%",
             field, v);
    return false;
}

static bool check_option(const char *key, json_t *v, char *err, size_t errlen)
{
    if (!rune_ssh_option_name(key)) {
        for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
            if (!strcasecmp(refused[i].name, key)) {
                snprintf(err, errlen, "option %s is refused: %s", refused[i].name, refused[i].why);
                return false;
            }
        snprintf(err, errlen,
                 "option \"%.80s\" is not one rune passes to ssh; allowed: ProxyJump, "
                 "ServerAliveInterval, ServerAliveCountMax, ConnectionAttempts, TCPKeepAlive, "
                 "Compression, Ciphers, MACs, KexAlgorithms, HostKeyAlgorithms, "
                 "PubkeyAcceptedAlgorithms, HostKeyAlias, AddressFamily, BindAddress, "
                 "BindInterface, IPQoS, CheckHostIP, LogLevel, RekeyLimit, IdentityAgent",
                 key);
        return false;
    }
    char num[32];
    const char *s = json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        s = num;
    } else if (json_is_boolean(v)) {
        s = json_is_true(v) ? "yes" : "no";
    }
    if (!s) {
        snprintf(err, errlen, "option %s: expected a string, number or yes/no", key);
        return false;
    }
    if (dynamic(s) || plain_value(s))
        return true;
    snprintf(
        err, errlen,
        "option %s: \"%.80s\" is not a plain value: letters, digits and . _ @ : , + / = [ ] -, "
        "not starting with -",
        key, s);
    return false;
}

static bool ssh_check(json_t *t, char *err, size_t errlen, const char **bad, const char **bad_key)
{
    *bad_key = NULL;
    if (!check_word(t, "host", "host name", err, errlen, bad) ||
        !check_word(t, "user", "user name", err, errlen, bad) ||
        !check_path(t, "known_hosts", err, errlen, bad) ||
        !check_path(t, "identity_file", err, errlen, bad))
        return false;
    json_t *port = json_object_get(t, "port");
    if (json_is_integer(port) &&
        (json_integer_value(port) < 1 || json_integer_value(port) > 65535)) {
        *bad = "port";
        snprintf(err, errlen, "port %lld is not a TCP port (1-65535)",
                 (long long)json_integer_value(port));
        return false;
    }
    json_t *opts = json_object_get(t, "options");
    const char *key;
    json_t *v;
    json_object_foreach(opts, key, v)
    {
        if (!check_option(key, v, err, errlen)) {
            *bad = "options";
            *bad_key = key;
            return false;
        }
    }
    return true;
}

const struct rune_target_kind rune_ssh_target = {
    "ssh",
    "A host that steps run on (host: NAME), through the system's OpenSSH client: one shared "
    "connection per run, strict host key checking, no prompts",
    ssh_fields,
    ssh_check,
};

void rune_ssh_describe(json_t *t, char *buf, size_t len)
{
    const char *user = json_string_value(json_object_get(t, "user"));
    const char *host = json_string_value(json_object_get(t, "host"));
    json_t *port = json_object_get(t, "port");
    snprintf(buf, len, "ssh %s%s%s:%lld", user ? user : "", user ? "@" : "", host ? host : "?",
             json_is_integer(port) ? (long long)json_integer_value(port) : 22LL);
}
