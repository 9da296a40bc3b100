#!/usr/bin/env bash
# The report in a real browser (issue 18): the SQLite drill's HTML report
# screenshot by Debian's headless chromium at desktop size (1280x800, and
# the whole page) and at print size (A4 at 96 dpi, 794x1123), and
# `rune report --format pdf`, which prints the same page through Chromium.
# The pictures are decoded (python3, zlib) and looked at: their size, that
# they are not blank, that the report's colours are there, that nothing
# runs past the margins. The PDF is read back with poppler's pdfinfo,
# pdftotext and pdftoppm. Without Chromium, or with one that hangs, rune
# says what to do and writes nothing. No Chromium process outlives a case.
# Everything made stays in $T.
. "$(dirname "$0")/lib.sh"

# rune's own private directories for Chromium go under $TMPDIR: one of
# ours, so the test sees them made and removed and finds their processes.
export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
PROFILE="$T/chromium-profile"

# procs — pids of live processes whose command line names $T (the test's
# Chromium, rune's Chromium, the fake ones below), none when all are gone.
procs() {
    local p
    for p in $(pgrep -f -- "$T/" 2>/dev/null); do
        [ "$p" = "$$" ] && continue
        # a zombie is gone already: only its parent can still reap it
        [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] && continue
        echo "$p"
    done
}

# Whatever a failed case left running is ended by its pid (every one was
# started by this test: they all name $T), then $T goes.
trap 'for p in $(procs); do kill -KILL "$p" 2>/dev/null; done; rm -rf "$T"' EXIT

# no_procs WHAT — no process naming $T remains (a dying one gets 10 s to go).
no_procs() {
    local until=$((SECONDS + 10))
    while [ -n "$(procs)" ] && [ "$SECONDS" -lt "$until" ]; do sleep 0.1; done
    [ -z "$(procs)" ] || fail "$1 left processes running: $(for p in $(procs); do ps -o pid=,args= -p "$p"; done | cut -c1-160)"
}

# shoot PAGE PNG W H — headless Chromium loads PAGE in a WxH window and
# screenshots it. Its profile, HOME, caches stay in $T; its log in
# $T/chromium.log.
shoot() {
    local sandbox=()
    [ "$(id -u)" = 0 ] && sandbox=(--no-sandbox) # Chromium refuses root with its sandbox
    rm -f "$2"
    HOME="$T/chromium-home" XDG_CONFIG_HOME="$T/chromium-home/.config" \
        XDG_CACHE_HOME="$T/chromium-home/.cache" \
        timeout -k 5 120 chromium --headless "${sandbox[@]}" --disable-gpu --no-first-run \
        --hide-scrollbars --user-data-dir="$PROFILE" --screenshot="$2" --window-size="$3,$4" \
        "file://$1" >"$T/chromium.log" 2>&1 ||
        fail "chromium could not screenshot $1 at $3x$4: $(grep -v -i dbus "$T/chromium.log" | tail -3)"
    no_procs "chromium --screenshot"
}

# look IMAGE — what the picture shows, one "key value" a line: size,
# colours (distinct), inked (per mille of pixels not white), green (pixels
# of the ok colour #2e7d32), last_row (the last row with ink), and
# left/right (the first and last column with ink). IMAGE is a PNG (RGB or
# RGBA, 8 bits, as Chromium writes) or a binary PPM (as pdftoppm writes).
look() {
    python3 - "$1" <<'PY'
import struct, sys, zlib
path = sys.argv[1]
data = open(path, "rb").read()

def png(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        sys.exit("unexpected PNG kind %r" % (ihdr,))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        sys.exit("PNG data is %d bytes, not %d" % (len(raw), h * (stride + 1)))
    # the Up filter (most rows) as whole-row integer arithmetic: bytes
    # added modulo 256 with no carry between them
    m7 = int.from_bytes(b"\x7f" * stride, "big")
    m8 = int.from_bytes(b"\x80" * stride, "big")
    prev, rows = bytes(stride), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        if f == 0:
            cur = line
        elif f == 2:
            a, b = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
            cur = (((a & m7) + (b & m7)) ^ ((a ^ b) & m8)).to_bytes(stride, "big")
        else:
            cur = bytearray(line)
            for i in range(stride):
                left = cur[i - bpp] if i >= bpp else 0
                up = prev[i]
                if f == 1:
                    cur[i] = (cur[i] + left) & 255
                elif f == 3:
                    cur[i] = (cur[i] + ((left + up) >> 1)) & 255
                else:
                    ul = prev[i - bpp] if i >= bpp else 0
                    p = left + up - ul
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                    cur[i] = (cur[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else ul)) & 255
            cur = bytes(cur)
        rows.append(cur if bpp == 3 else b"".join(cur[i:i + 3] for i in range(0, stride, 4)))
        prev = cur
    return w, h, rows

def ppm(data):
    fields, pos = [], 2
    while len(fields) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(int(data[pos:end]))
        pos = end
    w, h, _ = fields
    pos += 1
    return w, h, [data[pos + y * w * 3:pos + (y + 1) * w * 3] for y in range(h)]

w, h, rows = png(data) if data[:2] != b"P6" else ppm(data)
white = b"\xff\xff\xff"
colours, inked, green, last_row, left, right = set(), 0, 0, -1, w, -1
for y, row in enumerate(rows):
    if row.count(white[0]) == len(row):
        continue
    last_row = y
    px = [row[i:i + 3] for i in range(0, len(row), 3)]
    colours.update(px)
    ink = [x for x, p in enumerate(px) if p != white]
    inked += len(ink)
    green += px.count(b"\x2e\x7d\x32")
    left, right = min(left, ink[0]), max(right, ink[-1])
print("size %dx%d" % (w, h))
print("colours", len(colours))
print("inked", inked * 1000 // (w * h))
print("green", green)
print("last_row", last_row)
print("left", left)
print("right", right)
PY
}

# seen KEY — the value of KEY in the last look ($T/look).
seen() {
    awk -v k="$1" '$1 == k {print $2}' "$T/look"
}

# a_report IMAGE W H WHAT — IMAGE is a WxH picture of a report: many
# colours, ink on at least 3% of it, the ok green of its badges and bars.
a_report() {
    look "$1" >"$T/look" 2>"$T/look.err" || { fail "$4: cannot decode $1: $(cat "$T/look.err")"; return; }
    expect_eq "$(seen size)" "$2x$3" "$4: size"
    [ "$(seen colours)" -gt 50 ] || fail "$4 looks blank: $(seen colours) colours"
    [ "$(seen inked)" -ge 30 ] || fail "$4 looks blank: ink on $(seen inked) per mille"
    [ "$(seen green)" -gt 20 ] || fail "$4 lacks the ok green of the badges and bars"
}

# story_start FILE — the report's story up to its first full stop, from
# the JSON report.
story_start() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["story"].split(". ")[0])' "$1"
}

# squeeze — standard input with no white space at all: text laid out on a
# page breaks lines at spaces and after hyphens, which this undoes.
squeeze() {
    tr -d ' \n\t\f\r'
}

# overprinted PDF — words printed over other words on any page of PDF
# (pdftotext's word boxes overlapping by more than half a point each
# way): columns too narrow for what is in them. One line each; none is
# right.
overprinted() {
    pdftotext -bbox "$1" "$T/bbox.html" || { echo "pdftotext -bbox failed on $1"; return; }
    python3 - "$T/bbox.html" <<'PY'
import re, sys
for n, page in enumerate(open(sys.argv[1]).read().split("<page ")[1:], 1):
    words = sorted((float(a), float(b), float(c), float(d), w) for a, b, c, d, w in re.findall(
        r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">([^<]*)</word>', page))
    for i, (x0, y0, x1, y1, w) in enumerate(words):
        for u0, v0, u1, v1, o in words[i + 1:]:
            if u0 >= x1 - 0.5:
                break
            if min(x1, u1) - max(x0, u0) > 0.5 and min(y1, v1) - max(y0, v0) > 0.5:
                print("page %d: %r printed over %r" % (n, w, o))
PY
}

# print_page PAGE PDF — headless Chromium prints PAGE as a person's
# browser would (File, Print), to PDF.
print_page() {
    local sandbox=()
    [ "$(id -u)" = 0 ] && sandbox=(--no-sandbox)
    HOME="$T/chromium-home" XDG_CONFIG_HOME="$T/chromium-home/.config" \
        XDG_CACHE_HOME="$T/chromium-home/.cache" \
        timeout -k 5 120 chromium --headless "${sandbox[@]}" --disable-gpu --no-first-run \
        --no-pdf-header-footer --user-data-dir="$PROFILE" --print-to-pdf="$2" "file://$1" \
        >"$T/chromium.log" 2>&1 ||
        fail "chromium could not print $1: $(grep -v -i dbus "$T/chromium.log" | tail -3)"
    no_procs "chromium --print-to-pdf"
}

test_case "the drill: an incident to report"
command -v chromium >/dev/null || fail "chromium is not installed (bash .ci/deps installs it)"
command -v pdftotext >/dev/null || fail "pdftotext is not installed (bash .ci/deps installs poppler-utils)"
(cd "$RUNE_SOURCE_DIR" && "$RUNE" run sqlite-drill --yes --set workdir="$T/drill" --set scale=0.02 \
    </dev/null >"$T/out" 2>"$T/err")
RC=$?
OUT=1
expect_rc 0
id=$(last_incident)
"$RUNE" report "$id" --format html -o "$T/r.html" || fail "rune report --format html failed"
"$RUNE" report "$id" --format json -o "$T/r.json" || fail "rune report --format json failed"
end_case

test_case "desktop, 1280x800: the report's first screen in a centred column, margins clear"
shoot "$T/r.html" "$T/desktop.png" 1280 800
a_report "$T/desktop.png" 1280 800 "the desktop screenshot"
# body at most 1120 px wide, centred: 80 px clear on each side
[ "$(seen left)" -ge 76 ] || fail "ink at x=$(seen left): the page is not centred in a 1280 px window"
[ "$(seen right)" -le 1203 ] || fail "ink at x=$(seen right): the page runs into the right margin"
end_case

test_case "desktop, the whole page: it ends (the footer) within the picture, nothing wider than the column"
shoot "$T/r.html" "$T/tall.png" 1280 8000
look "$T/tall.png" >"$T/look" || fail "cannot decode the tall screenshot"
height=$(( $(seen last_row) + 41 ))
[ "$height" -gt 1500 ] && [ "$height" -lt 7900 ] || fail "the page is $height px high: not the report (or cut)"
shoot "$T/r.html" "$T/full.png" 1280 "$height"
a_report "$T/full.png" 1280 "$height" "the full-page screenshot"
expect_eq "$(seen last_row)" "$((height - 41))" "the page's last ink (its footer) at the same place"
[ "$(seen left)" -ge 76 ] && [ "$(seen right)" -le 1203 ] ||
    fail "ink from x=$(seen left) to $(seen right): something is wider than the 1120 px column (a table that does not scroll?)"
end_case

test_case "print size, 794x1123 (A4 at 96 dpi): tables scroll inside the page, nothing past its edge"
shoot "$T/r.html" "$T/a4-window.png" 794 1123
a_report "$T/a4-window.png" 794 1123 "the 794x1123 screenshot"
# the body's padding is 1em (14 px): nothing beyond it on either side
[ "$(seen left)" -ge 12 ] && [ "$(seen right)" -le 781 ] ||
    fail "ink from x=$(seen left) to $(seen right): the page is wider than a 794 px window"
end_case

test_case "the HTML report printed from the browser: every column wide enough, no word printed over another"
print_page "$T/r.html" "$T/printed.pdf"
expect_eq "$(head -c 5 "$T/printed.pdf")" "%PDF-" "the browser printed it"
over=$(overprinted "$T/printed.pdf")
[ -z "$over" ] || fail "words printed over others ($(echo "$over" | wc -l)): $(echo "$over" | head -5)"
end_case

test_case "rune report --format pdf: the story and the incident on Letter pages, the private directory and Chromium gone"
"$RUNE" report "$id" --format pdf -o "$T/r.pdf" </dev/null >"$T/out" 2>"$T/err"
RC=$?
expect_rc 0
no_procs "rune report --format pdf"
expect_eq "$(ls -A "$TMPDIR")" "" "rune's private directory for Chromium is removed"
expect_eq "$(head -c 5 "$T/r.pdf")" "%PDF-" "the file is a PDF"
expect_eq "$(stat -c %a "$T/r.pdf")" "600" "the PDF's mode"
pdfinfo "$T/r.pdf" >"$T/pdfinfo" 2>&1 || fail "pdfinfo cannot read it: $(cat "$T/pdfinfo")"
pages=$(awk '/^Pages:/ {print $2}' "$T/pdfinfo")
[ "${pages:-0}" -ge 1 ] || fail "the PDF has no page"
grep -q '^Page size: *612 x 792 pts' "$T/pdfinfo" || fail "not Letter, Chromium's default: $(grep 'Page size' "$T/pdfinfo")"
pdftotext "$T/r.pdf" "$T/r.txt" || fail "pdftotext failed"
squeeze <"$T/r.txt" >"$T/r.words"
grep -qF -- "$(story_start "$T/r.json" | squeeze)" "$T/r.words" || fail "the PDF lacks the story's first sentence: $(story_start "$T/r.json")"
grep -qF -- "$id" "$T/r.words" || fail "the PDF lacks the incident id $id"
for section in "What happened" "Objectives" "Restored from" "Timeline" "Verification" "Incident record"; do
    grep -qF "$(echo "$section" | squeeze)" "$T/r.words" || fail "the PDF lacks the section $section"
done
grep -qF "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain"]["head_hash"])' "$T/r.json")" "$T/r.words" ||
    fail "the PDF lacks the chain's head hash"
over=$(overprinted "$T/r.pdf")
[ -z "$over" ] || fail "words printed over others: $(echo "$over" | head -5)"
end_case

test_case "the PDF on A4 (RUNE_PDF_PAPER=a4): every page 794x1123 at 96 dpi, inked within its margins"
RUNE_PDF_PAPER=a4 "$RUNE" report "$id" --format pdf -o "$T/a4.pdf" </dev/null >"$T/out" 2>"$T/err"
RC=$?
expect_rc 0
no_procs "rune report --format pdf (A4)"
pdfinfo "$T/a4.pdf" | grep -q '^Page size:.*(A4)' || fail "not A4: $(pdfinfo "$T/a4.pdf" | grep 'Page size')"
pdftoppm -r 96 "$T/a4.pdf" "$T/a4page" || fail "pdftoppm failed"
n=0
for page in "$T"/a4page-*.ppm; do
    n=$((n + 1))
    look "$page" >"$T/look" || { fail "cannot read $page"; continue; }
    expect_eq "$(seen size)" "794x1123" "page $n's size"
    [ "$(seen last_row)" -ge 0 ] || fail "page $n is blank"
    # @page margins 1.2 cm (45 px) each side: no ink in them, nothing cut off
    [ "$(seen left)" -ge 40 ] && [ "$(seen right)" -le 753 ] ||
        fail "page $n has ink from x=$(seen left) to $(seen right): past its margins, cut off on paper"
done
[ "$n" -ge 1 ] || fail "no page was rasterised"
# the first page is the story: it carries the colours of a report
a_report "$T/a4page-1.ppm" 794 1123 "A4 page 1"
expect_eq "$(pdfinfo "$T/a4.pdf" | awk '/^Pages:/ {print $2}')" "$n" "pages"
over=$(overprinted "$T/a4.pdf")
[ -z "$over" ] || fail "words printed over others on A4: $(echo "$over" | head -5)"
end_case

test_case "a relative TMPDIR: the private directory is made absolute, for rune and for Chromium"
mkdir -p "$T/rel/tmp"
(cd "$T/rel" && TMPDIR=tmp "$RUNE" report "$id" --format pdf -o rel.pdf </dev/null >"$T/out" 2>"$T/err")
RC=$?
expect_rc 0
expect_eq "$(head -c 5 "$T/rel/rel.pdf" 2>/dev/null)" "%PDF-" "the PDF"
expect_eq "$(ls -A "$T/rel/tmp")" "" "the private directory is removed"
no_procs "rune report --format pdf (relative TMPDIR)"
end_case

test_case "standard output: a pipe gets the PDF, a terminal is refused (exit 2)"
"$RUNE" report "$id" --format pdf </dev/null 2>"$T/err" | head -c 5 >"$T/head"
expect_eq "$(cat "$T/head")" "%PDF-" "the PDF through a pipe"
no_procs "rune report --format pdf | head"
script -qec "'$RUNE' report '$id' --format pdf" /dev/null </dev/null >"$T/tty" 2>&1
expect_eq "$?" "2" "exit code on a terminal"
grep -q "a PDF is binary and standard output is a terminal: give -o FILE" "$T/tty" || fail "no refusal: $(head -c 300 "$T/tty")"
grep -q "%PDF" "$T/tty" && fail "PDF bytes were written to the terminal"
end_case

test_case "no Chromium: RUNE_CHROMIUM naming a missing file, or none in PATH, is exit 1 with the package to install, no file"
echo old >"$T/keep.pdf"
RUNE_CHROMIUM="$T/no/such/chromium" run_rune report "$id" --format pdf -o "$T/keep.pdf"
expect_rc 1
expect_err "RUNE_CHROMIUM is $T/no/such/chromium, which is not an executable file"
expect_err "apt install chromium"
expect_eq "$(cat "$T/keep.pdf")" "old" "the file already there"
RUNE_CHROMIUM="$T/no/such/chromium" run_rune report "$id" --format pdf -o "$T/new.pdf"
expect_rc 1
[ -e "$T/new.pdf" ] && fail "a file was written without Chromium"
mkdir -p "$T/emptybin"
PATH="$T/emptybin" run_rune report "$id" --format pdf -o "$T/new.pdf"
expect_rc 1
expect_err "none of chromium, chromium-browser, google-chrome is in PATH"
expect_err "apt install chromium"
[ -e "$T/new.pdf" ] && fail "a file was written without Chromium"
expect_eq "$(ls -A "$TMPDIR")" "" "no private directory left"
end_case

test_case "a Chromium that hangs is stopped at RUNE_CHROMIUM_TIMEOUT with everything it started; one that prints nothing is an error"
cat >"$T/hang-chromium" <<EOF
#!/bin/sh
sleep 600 &
echo \$! >"$T/hang.child"
echo \$\$ >"$T/hang.pid"
exec sleep 601
EOF
chmod +x "$T/hang-chromium"
# (a 3 s bound, not less: the fake must have started its child and said so
# before it is stopped, however long a busy host takes to start it)
RUNE_CHROMIUM="$T/hang-chromium" RUNE_CHROMIUM_TIMEOUT=3 run_rune report "$id" --format pdf -o "$T/hang.pdf"
expect_rc 1
expect_err "did not print the PDF within 3s and was stopped with all its processes"
[ -e "$T/hang.pdf" ] && fail "a file was written by a Chromium that hung"
[ -s "$T/hang.child" ] || fail "the fake Chromium did not run"
for f in hang.pid hang.child; do
    p=$(cat "$T/$f" 2>/dev/null)
    [ -n "$p" ] && [ -d "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat")" != Z ] &&
        fail "$f ($p) is still running: $(ps -o args= -p "$p")"
done
no_procs "the hung Chromium"
printf '#!/bin/sh\nexit 0\n' >"$T/mute-chromium"
chmod +x "$T/mute-chromium"
RUNE_CHROMIUM="$T/mute-chromium" run_rune report "$id" --format pdf -o "$T/mute.pdf"
expect_rc 1
expect_err "exited without printing a PDF"
[ -e "$T/mute.pdf" ] && fail "a file was written by a Chromium that printed nothing"
RUNE_CHROMIUM_TIMEOUT=soon run_rune report "$id" --format pdf -o "$T/mute.pdf"
expect_rc 1
expect_err "RUNE_CHROMIUM_TIMEOUT is \"soon\""
expect_eq "$(ls -A "$TMPDIR")" "" "no private directory left"
end_case

finish
