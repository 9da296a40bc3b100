/* A step family's view: step.h (and what it brings) and steps/ only. */
#include "artifact.h"
#include "step.h"

int rune_layering_probe(void);
int rune_layering_probe(void)
{
    return RUNE_STEP_OK;
}
