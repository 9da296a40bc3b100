#!/usr/bin/env bash
# The HTML report of the SQLite drill in a real browser: Debian's chromium,
# headless, opens it with no console message at all (the page has no
# script, so any is an error: a blocked resource, a bad URL, a parse
# problem) and takes a screenshot, which is kept for CI (in the build
# directory, or $RUNE_SCREENSHOT_DIR) and its path printed.
. "$(dirname "$0")/lib.sh"
export RUNE_PATH="$RUNE_SOURCE_DIR/runbooks"
SHOTS="${RUNE_SCREENSHOT_DIR:-$(dirname "$RUNE")}"

# browse PAGE PNG — headless Chromium loads PAGE and screenshots it; its
# log (console messages included) in $T/chromium.log. Its profile, crash
# reports and caches stay in $T.
browse() {
    HOME="$T/chromium-home" XDG_CONFIG_HOME="$T/chromium-home/.config" \
        XDG_CACHE_HOME="$T/chromium-home/.cache" \
        timeout 120 chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$T/chromium-profile" --enable-logging=stderr --v=0 \
        --screenshot="$2" --window-size=1280,2000 "file://$1" >"$T/chromium.log" 2>&1
}

# console — the console lines of the last page.
console() {
    grep -E ':CONSOLE[:(]|Uncaught' "$T/chromium.log"
}

# png_size FILE — "WIDTHxHEIGHT" from the PNG header, or nothing.
png_size() {
    python3 -c 'import struct, sys
b = open(sys.argv[1], "rb").read(24)
if b[:8] == b"\x89PNG\r\n\x1a\n": print("%dx%d" % struct.unpack(">II", b[16:24]))' "$1"
}

test_case "chromium reports a console error when there is one (the check below can fail)"
if ! command -v chromium >/dev/null; then
    fail "chromium is not installed (bash .ci/deps installs it)"
else
    printf '<!DOCTYPE html><title>x</title><script>console.error("deliberate"); nope();</script>' >"$T/bad.html"
    browse "$T/bad.html" "$T/bad.png"
    console | grep -q 'deliberate' || fail "chromium's console lines are not where this test looks: $(tail -5 "$T/chromium.log")"
    console | grep -q 'Uncaught ReferenceError' || fail "an uncaught error was not seen"
fi
end_case

test_case "the SQLite drill's HTML report opens in headless Chromium without console errors, and is screenshot"
run_rune run sqlite-drill --yes --set workdir="$T/drill" --set scale=0.02
expect_rc 0
id=$(last_incident)
"$RUNE" report "$id" --format html -o "$T/r.html" || fail "rune report --format html failed"
grep -q '<svg' "$T/r.html" || fail "the report has no SVG timeline"
browse "$T/r.html" "$T/report.png" || fail "chromium failed: $(grep -v dbus "$T/chromium.log" | tail -5)"
if console >/dev/null; then fail "console messages: $(console)"; fi
[ -s "$T/report.png" ] || fail "no screenshot"
expect_eq "$(png_size "$T/report.png")" "1280x2000" "screenshot size"
# a blank page compresses to a few kB; the report (tables, chart, text) is far more
[ "$(stat -c %s "$T/report.png")" -gt 60000 ] || fail "the screenshot looks empty ($(stat -c %s "$T/report.png") bytes)"
if mkdir -p "$SHOTS" && cp "$T/report.png" "$SHOTS/report-sqlite-drill.png"; then
    echo "screenshot: $SHOTS/report-sqlite-drill.png"
else
    fail "cannot keep the screenshot in $SHOTS"
fi
end_case

finish
