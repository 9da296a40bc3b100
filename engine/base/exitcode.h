/*
 * exitcode.h — rune's exit codes. Few, stable, documented in docs/cli.md;
 * scripts and pagers depend on them, so never renumber.
 */
#ifndef RUNE_EXITCODE_H
#define RUNE_EXITCODE_H

enum rune_exit {
    RUNE_EXIT_OK = 0,          /* resolved, or no incident */
    RUNE_EXIT_INTERNAL = 1,    /* rune itself could not work (log unwritable, out of memory) */
    RUNE_EXIT_INVALID = 2,     /* invalid runbook, inputs or command line: nothing ran */
    RUNE_EXIT_ROLLED_BACK = 3, /* mitigation/verification failed, rollback completed */
    RUNE_EXIT_FAILED = 4,      /* failed and not (fully) rolled back: escalate */
    RUNE_EXIT_ABORTED = 5,     /* the operator declined an approval or interrupted */
    RUNE_EXIT_LOCKED = 6,      /* the runbook's lock is held by another run */
};

#endif
