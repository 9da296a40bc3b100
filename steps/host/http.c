/*
 * http.c — the http.* family: http.check asks an HTTP(S) endpoint (a
 * health check, a status page) and judges its answer: status, a body
 * regex, a JSON field.
 *
 * libcurl does the talking. What this file adds is what a check needs to
 * be safe by default: TLS verified unless `insecure: true` says otherwise
 * (and then loudly), redirects not followed unless asked, only http and
 * https, a connect and a total timeout inside the step's deadline, a cap on
 * the body kept, and header values (tokens) masked in every message and
 * output. Retries are the engine's (`retry:`), not this file's.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "step.h"
#include "utf8.h"

#define SHOWN_BODY 200 /* bytes of the body quoted in a failure */

struct answer {
    struct rune_call *c;
    char *body; /* NUL-terminated, at most cap bytes */
    size_t len, cap;
    bool truncated;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

/* Once per process, before any thread uses libcurl. */
static void global_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t take_body(char *p, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t got = size * n, room = a->cap - a->len;
    if (got > room) {
        memcpy(a->body + a->len, p, room);
        a->len += room;
        a->body[a->len] = '\0';
        a->truncated = true;
        return 0; /* enough: stop the transfer (CURLE_WRITE_ERROR, expected) */
    }
    memcpy(a->body + a->len, p, got);
    a->len += got;
    a->body[a->len] = '\0';
    return got;
}

static int watch(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    struct answer *a = arg;
    return rune_call_cancelled(a->c) ? 1 : 0;
}

/* Header names that carry credentials: their values are masked even when
 * they did not come from a secret. */
static bool credential(const char *name)
{
    static const char *const names[] = {"authorization", "proxy-authorization", "cookie",
                                        "x-api-key",     "x-auth-token",        NULL};
    for (const char *const *n = names; *n; n++)
        if (!strcasecmp(name, *n))
            return true;
    return strcasestr(name, "token") || strcasestr(name, "secret") || strcasestr(name, "key");
}

/* The request's headers as curl wants them ("Name: value"); NULL with the
 * call failed on a bad one. *ok tells a failure from no headers. */
static struct curl_slist *headers(struct rune_call *c, bool *ok)
{
    *ok = true;
    json_t *h = json_object_get(rune_call_params(c), "headers");
    struct curl_slist *list = NULL;
    const char *name;
    json_t *v;
    json_object_foreach(h, name, v)
    {
        const char *value = json_string_value(v);
        if (!value || !*name || strpbrk(name, ":\r\n \t") || strpbrk(value, "\r\n")) {
            rune_call_fail(c,
                           "headers: %s must be a name without ':', blanks or line breaks and a "
                           "one-line string value",
                           name);
            curl_slist_free_all(list);
            *ok = false;
            return NULL;
        }
        if (credential(name) && *value)
            rune_call_secret(c, value);
        char *line = NULL;
        if (asprintf(&line, "%s: %s", name, value) < 0)
            line = NULL;
        struct curl_slist *next = line ? curl_slist_append(list, line) : NULL;
        free(line);
        if (!next) {
            rune_call_fail(c, "no memory for header %s: free memory on this host", name);
            curl_slist_free_all(list);
            *ok = false;
            return NULL;
        }
        list = next;
    }
    return list;
}

/* ---- judging the answer ---- */

/* The expected statuses, one or a list; false (call failed) if malformed. */
static bool status_expected(struct rune_call *c, long status, bool *match, char *want, size_t len)
{
    json_t *e = json_object_get(rune_call_params(c), "expect_status");
    json_t *one = json_array();
    if (json_is_array(e))
        json_array_extend(one, e);
    else
        json_array_append(one, e);
    size_t i, at = 0;
    json_t *v;
    *match = false;
    want[0] = '\0';
    json_array_foreach(one, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 100 || json_integer_value(v) > 599) {
            json_decref(one);
            rune_call_fail(c, "expect_status: expected a status code (100 to 599) or a list of "
                              "them, e.g. [200, 204]");
            return false;
        }
        if (json_integer_value(v) == status)
            *match = true;
        at += (size_t)snprintf(want + at, at < len ? len - at : 0, "%s%lld", i ? ", " : "",
                               (long long)json_integer_value(v));
    }
    json_decref(one);
    return true;
}

/* The body's first bytes as valid UTF-8 with secrets masked, for outputs
 * and messages. malloc'd. */
static char *excerpt(struct rune_call *c, const struct answer *a, size_t max)
{
    size_t n = a->len < max ? a->len : max, j;
    char *clean = rune_utf8_clean(a->body ? a->body : "", n, &j);
    if (!clean)
        return strdup("");
    char *masked = rune_call_redact(c, clean);
    free(clean);
    return masked;
}

/* "checks.db" or "items.0.name" in a JSON document. Borrowed; NULL if
 * absent. */
static json_t *json_at(json_t *doc, const char *path)
{
    char *copy = strdup(path), *save = NULL;
    json_t *v = doc;
    for (char *part = strtok_r(copy, ".", &save); part && v; part = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v)) {
            char *end;
            long idx = strtol(part, &end, 10);
            v = *end || idx < 0 ? NULL : json_array_get(v, (size_t)idx);
        } else {
            v = json_object_get(v, part);
        }
    }
    free(copy);
    return v;
}

/* A JSON value as the text an operator compares: strings bare, the rest
 * as JSON. malloc'd. */
static char *as_text(json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static int check_json(struct rune_call *c, const char *what, const struct answer *a)
{
    const char *path = rune_call_str(c, "json_field");
    if (!path)
        return RUNE_STEP_OK;
    json_error_t je;
    json_t *doc = json_loadb(a->body ? a->body : "", a->len, JSON_DECODE_ANY, &je);
    if (!doc) {
        char *ex = excerpt(c, a, SHOWN_BODY);
        int st = rune_call_fail(c, "%s: the body is not JSON (%s%s); it starts: %s", what, je.text,
                                a->truncated ? ", and it was cut at max_body" : "", ex);
        free(ex);
        return st;
    }
    json_t *v = json_at(doc, path);
    int st = RUNE_STEP_OK;
    if (!v) {
        st = rune_call_fail(c, "%s: the JSON body has no field %s", what, path);
    } else {
        json_object_set(rune_call_outputs(c), "json_value", v);
        json_t *want = json_object_get(rune_call_params(c), "json_value");
        if (want && !json_is_null(want)) {
            char *got = as_text(v), *exp = as_text(want);
            if (got && exp && strcmp(got, exp))
                st = rune_call_fail(c, "%s: field %s is %s (expected %s)", what, path, got, exp);
            free(got);
            free(exp);
        }
    }
    json_decref(doc);
    return st;
}

static int check_body(struct rune_call *c, const char *what, const struct answer *a)
{
    const char *re = rune_call_str(c, "body_regex");
    if (!re)
        return RUNE_STEP_OK;
    regex_t rx;
    int rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[256];
        regerror(rc, &rx, why, sizeof why);
        return rune_call_fail(c, "body_regex /%s/ is not a POSIX extended regex: %s", re, why);
    }
    regmatch_t m[1] = {{0, (regoff_t)a->len}};
    rc = regexec(&rx, a->body ? a->body : "", 1, m, REG_STARTEND);
    regfree(&rx);
    if (rc == 0)
        return RUNE_STEP_OK;
    char *ex = excerpt(c, a, SHOWN_BODY);
    int st = rune_call_fail(c, "%s: the body does not match /%s/%s; it starts: %s", what, re,
                            a->truncated ? " (only its first max_body bytes were read)" : "", ex);
    free(ex);
    return st;
}

/* ---- http.check ---- */

static void configure(struct rune_call *c, CURL *h, struct answer *a, struct curl_slist *hdrs,
                      long long timeout_ms)
{
    const char *method = rune_call_str(c, "method");
    const char *body = rune_call_str(c, "body");
    curl_easy_setopt(h, CURLOPT_URL, rune_call_str(c, "url"));
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "rune http.check");
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET"))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, rune_call_bool(c, "follow_redirects") ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)rune_call_int(c, "connect_timeout"));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    const char *ca = rune_call_str(c, "ca_file");
    if (ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    if (rune_call_bool(c, "insecure")) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, take_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, watch);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, a);
}

/* A transfer that went wrong, in words for an operator. */
static int transfer_failed(struct rune_call *c, const char *what, CURLcode rc, const char *detail,
                           long long timeout_ms)
{
    char d[32];
    const char *why = *detail ? detail : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
        rune_call_fail(c, "%s: stopped (%s)", what,
                       rune_call_cancel_status(c) == RUNE_STEP_TIMEOUT ? "the step's timeout passed"
                                                                       : "the run is stopping");
        return rune_call_cancel_status(c) == RUNE_STEP_TIMEOUT ? RUNE_STEP_TIMEOUT
                                                               : RUNE_STEP_CANCELLED;
    case CURLE_OPERATION_TIMEDOUT:
        rune_clock_ms_str(timeout_ms, d, sizeof d);
        return rune_call_fail(c, "%s: no complete answer within %s (timeout): %s", what, d, why);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return rune_call_fail(c,
                              "%s: the server's TLS certificate is not trusted (%s); give the CA "
                              "that signed it as ca_file, or insecure: true to skip the check "
                              "(never for a production endpoint)",
                              what, why);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return rune_call_fail(c, "%s: cannot connect (%s); is the service listening there?", what,
                              why);
    default:
        return rune_call_fail(c, "%s failed: %s", what, why);
    }
}

static int check_run(struct rune_call *c)
{
    const char *url = rune_call_str(c, "url");
    const char *method = rune_call_str(c, "method");
    rune_call_secret_dsn(c, url); /* https://user:password@host/ */
    long long timeout = rune_call_int(c, "timeout"), left = rune_call_remaining_ms(c);
    if (left >= 0 && left < timeout)
        timeout = left > 0 ? left : 1;
    long long max_body = rune_call_int(c, "max_body");
    if (max_body < 1 || max_body > 64LL << 20)
        return rune_call_fail(c, "max_body is %lld; use 1 byte to 64 MiB", max_body);
    pthread_once(&curl_once, global_init);
    if (curl_init_rc != CURLE_OK)
        return rune_call_fail(c, "libcurl could not start: %s", curl_easy_strerror(curl_init_rc));
    char *what = NULL;
    char *shown_url = rune_call_redact_dsn(c, url);
    if (asprintf(&what, "%s %s", method, shown_url ? shown_url : "(url)") < 0)
        what = NULL;
    free(shown_url);
    bool ok;
    struct curl_slist *hdrs = headers(c, &ok);
    struct answer a = {.c = c, .cap = (size_t)max_body, .body = malloc((size_t)max_body + 1)};
    CURL *h = curl_easy_init();
    int st = RUNE_STEP_OK;
    if (!ok || !what || !a.body || !h) {
        st = ok ? rune_call_fail(c, "no memory for the request: free memory on this host")
                : RUNE_STEP_FAILED;
        goto out;
    }
    a.body[0] = '\0';
    if (rune_call_bool(c, "insecure"))
        rune_call_log(c,
                      "TLS VERIFICATION IS OFF for %s (insecure: true): the answer may come "
                      "from anyone on the way",
                      what);
    configure(c, h, &a, hdrs, timeout);
    char detail[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && a.truncated)) {
        st = transfer_failed(c, what, rc, detail, timeout);
        goto out;
    }
    long status = 0;
    curl_off_t us = 0;
    const char *type = NULL, *final = NULL;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &final);
    json_t *o = rune_call_outputs(c);
    char *ex = excerpt(c, &a, (size_t)rune_call_int(c, "excerpt_bytes"));
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "elapsed_ms", json_integer((json_int_t)(us / 1000)));
    json_object_set_new(o, "body", json_string(ex ? ex : ""));
    json_object_set_new(o, "body_truncated", json_boolean(a.truncated));
    json_object_set_new(o, "content_type", type ? json_string(type) : json_null());
    char *shown_final = final ? rune_call_redact_dsn(c, final) : NULL;
    json_object_set_new(o, "url", shown_final ? json_string(shown_final) : json_null());
    free(shown_final);
    free(ex);
    bool match;
    char want[256];
    if (!status_expected(c, status, &match, want, sizeof want)) {
        st = RUNE_STEP_FAILED;
        goto out;
    }
    rune_call_log(c, "%s: %ld in %lld ms", what, status, (long long)(us / 1000));
    if (!match) {
        char *body = excerpt(c, &a, SHOWN_BODY);
        st = rune_call_fail(c, "%s answered %ld (expected %s)%s%s", what, status, want,
                            body && *body ? "; body: " : "", body ? body : "");
        free(body);
        goto out;
    }
    st = check_body(c, what, &a);
    if (st == RUNE_STEP_OK)
        st = check_json(c, what, &a);
out:
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(a.body);
    free(what);
    return st;
}

static int check_plan(struct rune_call *c)
{
    char *url = rune_call_redact_dsn(c, rune_call_str(c, "url"));
    char d[32];
    rune_clock_ms_str(rune_call_int(c, "timeout"), d, sizeof d);
    rune_call_plan(c, "would send %s %s and check its answer (timeout %s%s)",
                   rune_call_str(c, "method"), url ? url : "(url)", d,
                   rune_call_bool(c, "insecure") ? ", TLS NOT VERIFIED" : "");
    free(url);
    return RUNE_STEP_OK;
}

static const struct rune_param check_params[] = {
    {"url", RUNE_T_STRING, true, NULL, "http:// or https:// URL"},
    {"method", RUNE_T_STRING, false, "GET", "request method", NULL, NULL,
     "GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS"},
    {"headers", RUNE_T_MAP, false, NULL,
     "request headers (name: value); values may be \"${secrets.NAME}\" and are masked, as are "
     "Authorization, Cookie and *token*/*key*/*secret* headers always"},
    {"body", RUNE_T_STRING, false, NULL, "request body"},
    {"expect_status", RUNE_T_ANY, false, "200", "the status expected: one, or a list ([200, 204])"},
    {"body_regex", RUNE_T_STRING, false, NULL,
     "a POSIX extended regex the body must match (within max_body)"},
    {"json_field", RUNE_T_STRING, false, NULL,
     "a field of a JSON body (\"status\", \"checks.db\", \"items.0.name\"): its value is an "
     "output"},
    {"json_value", RUNE_T_ANY, false, NULL, "the value json_field must have"},
    {"timeout", RUNE_T_DURATION, false, "10s", "for the whole exchange (within the step's)"},
    {"connect_timeout", RUNE_T_DURATION, false, "5s", "for the connection alone"},
    {"follow_redirects", RUNE_T_BOOL, false, "false", "follow 3xx answers (at most 5)"},
    {"ca_file", RUNE_T_PATH, false, NULL, "CA certificates (PEM) to trust instead of the system's"},
    {"insecure", RUNE_T_BOOL, false, "false",
     "do not verify the server's TLS certificate (logged; never for production)"},
    {"max_body", RUNE_T_INT, false, "1048576", "bytes of the body read; the rest is not fetched"},
    {"excerpt_bytes", RUNE_T_INT, false, "512", "bytes of the body kept as the body output"},
    {NULL},
};

static const struct rune_output check_outputs[] = {
    {"status", RUNE_T_INT, "the answer's status code"},
    {"elapsed_ms", RUNE_T_INT, "time of the whole exchange"},
    {"body", RUNE_T_STRING, "the body's first excerpt_bytes (valid UTF-8, secrets masked)"},
    {"body_truncated", RUNE_T_BOOL, "the body was longer than max_body"},
    {"json_value", RUNE_T_ANY, "the value of json_field"},
    {"content_type", RUNE_T_STRING, "the Content-Type header"},
    {"url", RUNE_T_STRING, "the URL that answered (after redirects)"},
    {NULL},
};

const struct rune_step_type rune_http_steps[] = {
    {"http.check",
     "Ask an HTTP(S) endpoint and check the status, a body regex or a JSON field (TLS verified)",
     check_params, check_outputs, RUNE_READS, check_run, check_plan},
    {0},
};
