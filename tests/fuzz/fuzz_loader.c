/*
 * fuzz_loader.c — the runbook loader under a fuzzer. Any bytes go through
 * what `rune validate` does with a file: the YAML tree (node.c, also run
 * on the bytes in memory), the model (loader.c), the Lua step types beside
 * it, and validation (validate.c, graph.c, interp.c; Lua expressions are
 * compiled, never run), then the diagnostics are sorted and printed. Whatever
 * the bytes, this must not crash, leak, or take long: the loader's limits
 * (depth, nodes, bytes, steps, duplicate keys) are what keep it quick.
 *
 * The file lives in a private directory made once per process under
 * $TMPDIR and removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[4096], path[4200];
static FILE *devnull;

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
    if (devnull)
        fclose(devnull);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rune-fuzz-loader-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "fuzz_loader: cannot make a directory in %s: %s\n",
                tmp && *tmp ? tmp : "/tmp", strerror(errno));
        exit(2);
    }
    snprintf(path, sizeof path, "%s/runbook.yaml", dir);
    devnull = fopen("/dev/null", "w");
    if (!devnull)
        exit(2);
    atexit(cleanup);
}

/* The bytes as the runbook file (created in our own directory, never
 * through a link). */
static void write_input(const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fuzz_loader: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    for (size_t off = 0; off < size;) {
        ssize_t w = write(fd, data + off, size - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "fuzz_loader: cannot write %s: %s\n", path, strerror(errno));
            exit(2);
        }
        off += (size_t)w;
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull)
        setup();

    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_node *n = rune_yaml_parse("fuzz.yaml", (const char *)data, size, &d);
    if (n) {
        json_decref(rune_node_json(n));
        rune_node_free(n);
    }
    rune_diags_free(&d);

    write_input(data, size);
    struct rune_runbook *rb = rune_runbook_load(path, &d);
    rune_diags_print(&d, devnull);
    rune_diags_free(&d);
    rune_runbook_free(rb);
    return 0;
}
