/* A step family reaching into the engine: this must not build. */
#include "step.h"
#include "runstate.h"

int rune_layering_probe(void);
int rune_layering_probe(void)
{
    return 0;
}
