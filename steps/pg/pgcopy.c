/*
 * pgcopy.c — COPY a table out, counting and hashing rows (see pgcopy.h).
 */
#include "pgcopy.h"

#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"

int rune_pg_copy_out(struct rune_call *c, PGconn *conn, const char *qualified, rune_pg_sink sink,
                     void *ctx, struct rune_rowhash *h, char *err, size_t errlen)
{
    /* a SELECT, not the table itself: partitioned parents copy too */
    char *sql = rune_pg_sqlf("COPY (SELECT * FROM %s) TO STDOUT", qualified);
    if (!sql)
        abort();
    PGresult *r = PQexec(conn, sql);
    free(sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        char why[768];
        rune_pg_error(conn, r, why, sizeof why);
        snprintf(err, errlen, "COPY %s failed: %s", qualified, why);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    int rc = 0;
    bool stopping = false, cancel_sent = false;
    for (;;) {
        char *line = NULL;
        int got = PQgetCopyData(conn, &line, 1);
        if (got > 0) {
            if (!stopping) {
                if (h)
                    rune_rowhash_row(h, line, (size_t)got);
                if (sink && sink(ctx, line, (size_t)got, err, errlen) != 0) {
                    rc = -1;
                    stopping = true;
                }
            }
            PQfreemem(line);
            continue;
        }
        if (got == 0) { /* nothing buffered: wait for the socket */
            if (!stopping && rune_call_cancelled(c)) {
                snprintf(err, errlen, "cancelled while copying %s", qualified);
                rc = -1;
                stopping = true;
            }
            if (stopping && !cancel_sent) {
                cancel_sent = true;
                rune_pg_cancel(conn);
            }
            struct pollfd p = {PQsocket(conn), POLLIN, 0};
            poll(&p, 1, 100);
            if (!PQconsumeInput(conn))
                break;
            continue;
        }
        break; /* -1: done; -2: error */
    }
    while ((r = PQgetResult(conn))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
            char why[768];
            rune_pg_error(conn, r, why, sizeof why);
            snprintf(err, errlen, "COPY %s failed: %s", qualified, why);
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}
