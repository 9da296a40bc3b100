/* A step family reaching into the engine: this must not build. */
#include "runstate.h"
#include "step.h"

int rune_layering_probe(void);
int rune_layering_probe(void)
{
    return 0;
}
