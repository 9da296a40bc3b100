#!/usr/bin/env bash
# The engine's folders are layers that only look down: a file includes
# headers of its own folder or of a folder below it, never above, so no
# include circle joins two layers. The order, bottom first:
ORDER=(api base lua runbook record report run cli)
set -u
cd "${RUNE_SOURCE_DIR:?}/engine" || exit 1
rank() { local i; for i in "${!ORDER[@]}"; do [ "${ORDER[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
bad=0 edges=0
for d in */; do
    d=${d%/}
    [ "$(rank "$d")" -ge 0 ] || { echo "FAIL: engine/$d is not a known layer (${ORDER[*]})"; bad=1; continue; }
    for f in "$d"/*.[ch]; do
        for h in $(grep -ho '^#include "[a-z_0-9]*\.h"' "$f" | sed 's/#include "//;s/"//'); do
            where=$(ls ./*/"$h" 2>/dev/null | head -1 | cut -d/ -f2)
            [ -n "$where" ] && [ "$where" != "$d" ] || continue
            edges=$((edges + 1))
            if [ "$(rank "$where")" -gt "$(rank "$d")" ]; then
                echo "FAIL: engine/$f includes $h from engine/$where, a layer above engine/$d"
                bad=1
            fi
        done
    done
done
[ "$edges" -gt 20 ] || { echo "FAIL: only $edges includes between layers found: is this the engine?"; exit 1; }
[ "$bad" = 0 ] && echo "ok   $edges includes between engine layers, all looking down (${ORDER[*]})"
exit $bad
