#!/usr/bin/env bash
# Files and backups through the real binary: the backup artifact format
# (file.compress / backup.verify / file.decompress, checked against gzip
# and sha256sum), checksums, copies, encryption, disk.check, backup.list
# and backup.prune on fabricated histories — each checked on disk and in
# the incident log.
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases/files"
export TZ=UTC # retention periods are local days and weeks; make them UTC here

# output ID STEP JSONPATH — a step's output from its last step.end event.
output() {
    sql "select json_extract(detail_json, '\$.outputs$3') from events where incident_id='$1'
         and step='$2' and kind='step.end' order by seq desc limit 1"
}

# step_error ID STEP — a step's error message.
step_error() {
    sql "select json_extract(detail_json, '\$.error') from events where incident_id='$1'
         and step='$2' and kind='step.end' order by seq desc limit 1"
}

# manifest FILE JSONPATH — a field of a manifest, read with sqlite3's JSON.
manifest() {
    sqlite3 -batch -noheader :memory: "select json_extract(readfile('$1'), '$2')"
}

# flip_byte FILE OFFSET — flips one bit of the byte at OFFSET.
flip_byte() {
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    # shellcheck disable=SC2059
    printf "$(printf '\\%03o' $((b ^ 64)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# no_partials DIR — no temp file of ours is left in DIR.
no_partials() {
    local left
    left=$(find "$1" -maxdepth 1 -name '.*partial-*' | head -1)
    [ -z "$left" ] || fail "partial file left behind: $left"
}

# A source file: text that compresses, and random bytes that do not.
make_source() {
    { seq 1 40000; head -c 60000 /dev/urandom | base64; seq 40000 90000; } >"$1"
}

# fabricate DIR NAME "YYYY-MM-DD HH:MM:SS" — a copy of the seed backup under
# another name whose manifest and file times say it was taken then (UTC).
fabricate() {
    local at iso
    at="$3"
    iso="${at% *}T${at#* }.000Z"
    cp "$T/seed.gz" "$1/$2"
    sed -e "s/\"created_at\": \"[^\"]*\"/\"created_at\": \"$iso\"/" \
        -e "s/\"recovery_point\": \"[^\"]*\"/\"recovery_point\": \"$iso\"/" \
        -e "s/\"name\": \"[^\"]*\"/\"name\": \"$2\"/" \
        "$T/seed.gz.manifest.json" >"$1/$2.manifest.json"
    touch -d "$at UTC" "$1/$2" "$1/$2.manifest.json"
}

# history DIR — daily backups at 02:00 from 2024-03-01 to 2024-04-29 (a
# Monday), and a second one at 14:00 on the last day: 61 backups.
history() {
    mkdir -p "$1"
    local d
    for i in $(seq 0 59); do
        d=$(date -u -d "2024-03-01 +$i days" +%Y-%m-%d)
        fabricate "$1" "db-${d//-/}-0200.gz" "$d 02:00:00"
    done
    fabricate "$1" "db-20240429-1400.gz" "2024-04-29 14:00:00"
}

# names DIR — the backups left in DIR, sorted, on one line.
names() {
    (cd "$1" && ls -- *.gz 2>/dev/null | sort | tr '\n' ' ')
}

make_source "$T/src"

test_case "compress, verify and decompress round-trip a file; gzip and sha256sum agree"
run_rune run "$C/roundtrip.yaml" --set src="$T/src"
expect_rc 0
id=$(last_incident)
cmp -s "$T/src" "$T/src.back" || fail "the decompressed file differs from the original"
gzip -dc "$T/src.gz" | cmp -s - "$T/src" || fail "gzip -dc does not give the original back"
sha=$(manifest "$T/src.gz.manifest.json" '$.sha256')
(cd "$T" && printf '%s  src.gz\n' "$sha" | sha256sum -c --status) || fail "sha256sum -c disagrees with the manifest"
expect_eq "$(output "$id" pack .sha256)" "$sha" "file.compress sha256 output"
expect_eq "$(output "$id" pack .raw_bytes)" "$(stat -c %s "$T/src")" "raw_bytes"
expect_eq "$(output "$id" pack .bytes)" "$(stat -c %s "$T/src.gz")" "bytes"
chunks=$(output "$id" pack .chunks)
[ "$chunks" -ge 4 ] || fail "expected several 64 KiB chunks, got $chunks"
expect_eq "$(manifest "$T/src.gz.manifest.json" '$.chunks[1].offset')" "$(manifest "$T/src.gz.manifest.json" '$.chunks[0].bytes')" "chunk 2 follows chunk 1"
expect_eq "$(output "$id" check .ok)" "1" "backup.verify ok"
expect_eq "$(output "$id" check .chunks)" "$chunks" "backup.verify chunks"
expect_eq "$(output "$id" info .engine)" "file" "backup.info engine"
expect_eq "$(output "$id" info .source)" "$T/src" "backup.info source"
expect_eq "$(output "$id" info .recovery_point)" "$(output "$id" info .created_at)" "recovery point defaults to created_at"
expect_eq "$(output "$id" unpack .verified)" "manifest" "decompress verified against the manifest"
expect_eq "$(output "$id" sum .sha256)" "$(sha256sum <"$T/src" | cut -c1-64)" "checksum of the result"
no_partials "$T"
end_case

test_case "an existing backup is never overwritten"
before=$(sha256sum <"$T/src.gz")
rm -f "$T/src.back"
run_rune run "$C/roundtrip.yaml" --set src="$T/src" --set level=1
expect_rc 4
expect_out "backup $T/src.gz already exists; choose another name or remove it"
expect_eq "$(sha256sum <"$T/src.gz")" "$before" "the backup is untouched"
no_partials "$T"
end_case

test_case "a flipped byte fails backup.verify, named to its chunk, and file.decompress writes nothing"
mkdir -p "$T/bad"
cp "$T/src.gz" "$T/src.gz.manifest.json" "$T/bad/"
off=$(manifest "$T/bad/src.gz.manifest.json" '$.chunks[2].offset')
n=$(manifest "$T/bad/src.gz.manifest.json" '$.chunks')
n=$(sqlite3 -batch -noheader :memory: "select json_array_length('$n')")
flip_byte "$T/bad/src.gz" $((off + 100))
run_rune run "$C/verify.yaml" --set path="$T/bad/src.gz"
expect_rc 3
expect_out "chunk 3 of $n (offset $off): SHA-256 mismatch — the file was modified or damaged"
id=$(last_incident)
expect_eq "$(output "$id" check .ok)" "0" "ok output"
expect_eq "$(output "$id" check .bad_chunk)" "3" "bad_chunk output"
expect_eq "$(step_status "$id" tell)" "ok" "rollback ran"
run_rune run "$C/decompress.yaml" --set path="$T/bad/src.gz" --set to="$T/bad/out"
expect_rc 4
expect_out "chunk 3 of $n"
[ ! -e "$T/bad/out" ] || fail "a damaged backup was decompressed"
no_partials "$T/bad"
end_case

test_case "a truncated backup, and one without its manifest, fail backup.verify"
cp "$T/src.gz" "$T/bad/cut.gz"
cp "$T/src.gz.manifest.json" "$T/bad/cut.gz.manifest.json"
truncate -s $(($(stat -c %s "$T/bad/cut.gz") - 10)) "$T/bad/cut.gz"
run_rune run "$C/verify.yaml" --set path="$T/bad/cut.gz"
expect_rc 3
expect_out "the file is truncated"
cp "$T/src.gz" "$T/bad/alone.gz"
run_rune run "$C/verify.yaml" --set path="$T/bad/alone.gz"
expect_rc 3
expect_out "no manifest beside $T/bad/alone.gz"
end_case

test_case "file.decompress refuses to overwrite unless told to"
echo keep >"$T/existing"
run_rune run "$C/decompress.yaml" --set path="$T/src.gz" --set to="$T/existing"
expect_rc 4
expect_out "$T/existing already exists"
expect_eq "$(cat "$T/existing")" "keep" "untouched"
run_rune run "$C/decompress.yaml" --set path="$T/src.gz" --set to="$T/existing" --set overwrite=true
expect_rc 0
cmp -s "$T/src" "$T/existing" || fail "overwrite: true did not write the data"
# a plain .gz (no manifest) is decompressed with gzip's own CRC checks, and says so
gzip -c "$T/src" >"$T/plain.gz"
run_rune run "$C/decompress.yaml" --set path="$T/plain.gz" --set to="$T/plain"
expect_rc 0
expect_out "no manifest beside $T/plain.gz: checking only the gzip CRCs"
expect_eq "$(output "$(last_incident)" unpack .verified)" "gzip-crc" "verified output"
cmp -s "$T/src" "$T/plain" || fail "plain gzip decompressed wrongly"
flip_byte "$T/plain.gz" 5000
run_rune run "$C/decompress.yaml" --set path="$T/plain.gz" --set to="$T/plain2"
expect_rc 4
[ ! -e "$T/plain2" ] || fail "a damaged plain gzip was decompressed"
no_partials "$T"
end_case

test_case "file.checksum: a match passes; a mismatch fails by the runbook's policy (3 or 4)"
good=$(sha256sum <"$T/src" | cut -c1-64)
run_rune run "$C/checksum.yaml" --set path="$T/src" --set expect="$(echo "$good" | tr a-f A-F)"
expect_rc 0
id=$(last_incident)
expect_eq "$(output "$id" sum .matched)" "1" "matched"
expect_eq "$(output "$id" sum .bytes)" "$(stat -c %s "$T/src")" "bytes"
bad=$(printf '%064d' 0)
run_rune run "$C/checksum.yaml" --set path="$T/src" --set expect="$bad"
expect_rc 3
expect_out "checksum mismatch for $T/src: sha256 is $good, expected $bad"
id=$(last_incident)
expect_eq "$(step_status "$id" tell)" "ok" "rollback ran"
expect_eq "$(output "$id" sum .matched)" "0" "matched output on a mismatch"
run_rune run "$C/checksum_abort.yaml" --set path="$T/src" --set expect="$bad"
expect_rc 4
expect_out "checksum mismatch"
sha512=$(sha512sum <"$T/src" | cut -c1-128)
run_rune run "$C/checksum.yaml" --set path="$T/src" --set expect="$sha512" --set algorithm=sha512
expect_rc 0
run_rune run "$C/checksum.yaml" --set path="$T/src" --set expect="$good" --set algorithm=md5
expect_rc 3
expect_out "parameter \"algorithm\": \"md5\" is not one of sha256 or sha512"
end_case

test_case "file.copy copies with the same SHA-256 and never overwrites by default"
mkdir -p "$T/copies"
run_rune run "$C/copy.yaml" --set from="$T/src" --set to="$T/copies"
expect_rc 0
id=$(last_incident)
cmp -s "$T/src" "$T/copies/src" || fail "copy differs"
expect_eq "$(output "$id" cp .path)" "$T/copies/src" "copied into the directory"
expect_eq "$(output "$id" cp .sha256)" "$(sha256sum <"$T/src" | cut -c1-64)" "sha256 output"
run_rune run "$C/copy.yaml" --set from="$T/src.gz" --set to="$T/copies/src"
expect_rc 4
expect_out "already exists"
cmp -s "$T/src" "$T/copies/src" || fail "the existing copy was replaced"
run_rune run "$C/copy.yaml" --set from="$T/src.gz" --set to="$T/copies/src" --set overwrite=true
expect_rc 0
cmp -s "$T/src.gz" "$T/copies/src" || fail "overwrite: true did not replace it"
no_partials "$T/copies"
end_case

KEY="correct horse battery staple 9431"
OTHER="wrong-key-5523"
export RUNE_TEST_KEY="$KEY"

test_case "file.encrypt and file.decrypt round-trip; the ciphertext hides the data"
run_rune run "$C/crypt.yaml" --set src="$T/src"
expect_rc 0
id=$(last_incident)
cmp -s "$T/src" "$T/src.plain" || fail "decrypted file differs from the original"
expect_eq "$(head -c 8 "$T/src.enc")" "RUNEAEAD" "magic"
if grep -q "^40000$" "$T/src.enc"; then fail "plaintext visible in the encrypted file"; fi
expect_eq "$(output "$id" seal .bytes)" "$(stat -c %s "$T/src.enc")" "encrypt bytes output"
expect_eq "$(output "$id" open .bytes)" "$(stat -c %s "$T/src")" "decrypt bytes output"
expect_no "$KEY"
end_case

test_case "a tampered byte anywhere fails decryption and leaves no output"
mkdir -p "$T/enc"
for where in 30 $((60 + 70000)) $(($(stat -c %s "$T/src.enc") - 1)); do
    cp "$T/src.enc" "$T/enc/t.enc"
    flip_byte "$T/enc/t.enc" "$where"
    run_rune run "$C/decrypt.yaml" --set path="$T/enc/t.enc" --set to="$T/enc/t.out"
    expect_rc 4
    [ ! -e "$T/enc/t.out" ] || fail "output written for a file tampered at $where"
    no_partials "$T/enc"
done
expect_out "failed authentication: the file was modified, damaged or truncated; nothing was written"
# a byte in chunk 2's ciphertext names chunk 2
cp "$T/src.enc" "$T/enc/t.enc"
flip_byte "$T/enc/t.enc" $((60 + 65536 + 16 + 5))
run_rune run "$C/decrypt.yaml" --set path="$T/enc/t.enc" --set to="$T/enc/t.out"
expect_rc 4
expect_out "chunk 2 (offset $((60 + 65536 + 16))) of $T/enc/t.enc failed authentication"
# cut at a chunk boundary: the final chunk is missing
cp "$T/src.enc" "$T/enc/t.enc"
truncate -s $((60 + 65536 + 16)) "$T/enc/t.enc"
run_rune run "$C/decrypt.yaml" --set path="$T/enc/t.enc" --set to="$T/enc/t.out"
expect_rc 4
expect_out "is truncated"
[ ! -e "$T/enc/t.out" ] || fail "output written for a truncated file"
end_case

test_case "a wrong key fails, writes nothing, and no key reaches the console or the log"
RUNE_TEST_KEY="$OTHER" run_rune run "$C/decrypt.yaml" --set path="$T/src.enc" --set to="$T/enc/w.out"
expect_rc 4
expect_out "wrong key for $T/src.enc"
[ ! -e "$T/enc/w.out" ] || fail "output written with a wrong key"
expect_no "$OTHER"
n=$(sqlite3 "$RUNE_LOG" .dump | grep -c -e "$KEY" -e "$OTHER")
expect_eq "$n" "0" "key occurrences in the log"
end_case

test_case "disk.check reports free space and fails below a threshold"
run_rune run "$C/disk.yaml" --set path="$T/not/yet/there"
expect_rc 0
id=$(last_incident)
expect_eq "$(output "$id" space .path)" "$T" "nearest existing parent checked"
[ "$(output "$id" space .free_bytes)" -gt 0 ] || fail "free_bytes"
[ "$(output "$id" space .total_bytes)" -ge "$(output "$id" space .free_bytes)" ] || fail "total_bytes"
run_rune run "$C/disk.yaml" --set path="$T" --set min_bytes=$((1 << 60))
expect_rc 4
expect_out "free on $T; need 1 EiB — free space or choose another location"
grep -qE "only [0-9.]+ [KMGTPE]?i?B \([0-9]+%\) free on" "$T/out" || fail "message lacks the free space"
run_rune run "$C/disk.yaml" --set path="$T" --set min_percent=100.5
expect_rc 4
expect_out "min_free_percent must be between 0 and 100"
end_case

# a seed backup for the fabricated ones
run_rune run "$C/compress.yaml" --set src="$T/src" --set to="$T/seed.gz"
[ "$RC" = 0 ] || { echo "cannot make the seed backup" >&2; cat "$T/out" >&2; exit 1; }

test_case "file.compress keep: false removes the original once the backup verifies"
cp "$T/src" "$T/gone"
run_rune run "$C/compress.yaml" --set src="$T/gone" --set to="$T/gone.gz" --set keep=false
expect_rc 0
[ ! -e "$T/gone" ] || fail "the original is still there"
gzip -dc "$T/gone.gz" | cmp -s - "$T/src" || fail "the backup does not hold the original"
end_case

test_case "a full disk fails file.compress, file.copy and sqlite.backup cleanly, leaving no partial file"
mkdir -p "$T/full"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=256k tmpfs "$T/full" 2>/dev/null; then
    trap 'umount "$T/full" 2>/dev/null; rm -rf "$T"' EXIT
    head -c 1000000 /dev/urandom >"$T/random"
    run_rune run "$C/compress.yaml" --set src="$T/random" --set to="$T/full/r.gz"
    expect_rc 4
    expect_out "No space left on device; the partial backup was removed"
    expect_eq "$(find "$T/full" -mindepth 1 | wc -l)" "0" "files left on the full disk"
    run_rune run "$C/copy.yaml" --set from="$T/random" --set to="$T/full/r"
    expect_rc 4
    expect_out "No space left on device"
    expect_eq "$(find "$T/full" -mindepth 1 | wc -l)" "0" "files left after the copy"
    # a SQLite backup bigger than the disk: refused cleanly, nothing left
    sqlite3 "$T/big.db" "CREATE TABLE t(b BLOB); INSERT INTO t SELECT randomblob(100000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 10) SELECT * FROM n);"
    cat > "$T/sbk.yaml" <<'YAML'
runbook: sbk
inputs: { db: { type: path, required: true }, dir: { type: path, required: true } }
mitigation:
  steps:
    - { id: backup, uses: sqlite.backup, with: { path: "${inputs.db}", dir: "${inputs.dir}", level: 1 } }
YAML
    run_rune run "$T/sbk.yaml" --set db="$T/big.db" --set dir="$T/full"
    expect_rc 4
    expect_out "No space left on device; the partial backup was removed"
    expect_eq "$(find "$T/full" -mindepth 1 | wc -l)" "0" "files left after the SQLite backup"
    umount "$T/full"
else
    echo "skip: mounting a small tmpfs needs root; the full-disk case did not run" >&2
fi
end_case

test_case "backup.list: newest first by the manifest's time, with verified flags and reasons"
L="$T/list"
mkdir -p "$L"
fabricate "$L" a.gz "2024-04-01 02:00:00"
fabricate "$L" b.gz "2024-04-03 02:00:00"
fabricate "$L" c.gz "2024-04-02 02:00:00"
touch -d "2024-04-05 00:00:00 UTC" "$L/a.gz" # file times must not decide the order
touch -d "2024-03-01 00:00:00 UTC" "$L/b.gz"
flip_byte "$L/c.gz" 50
echo hello | gzip >"$L/d.gz"
touch -d "2024-03-15 00:00:00 UTC" "$L/d.gz"
echo notes >"$L/notes.txt"
cp "$T/seed.gz" "$L/.e.gz.partial-abc123"
run_rune run "$C/list.yaml" --set dir="$L"
expect_rc 0
id=$(last_incident)
expect_eq "$(output "$id" list .count)" "4" "count"
expect_eq "$(sql "select group_concat(json_extract(value,'\$.name'), ' ') from events, json_each(json_extract(detail_json,'\$.outputs.backups')) where incident_id='$id' and step='list' and kind='step.end'")" "b.gz c.gz a.gz d.gz" "order"
expect_eq "$(sql "select group_concat(json_extract(value,'\$.verified'), ' ') from events, json_each(json_extract(detail_json,'\$.outputs.backups')) where incident_id='$id' and step='list' and kind='step.end'")" "1 0 1 0" "verified flags"
expect_eq "$(output "$id" list '.backups[0].created_at')" "2024-04-03T02:00:00.000Z" "created_at from the manifest"
expect_eq "$(output "$id" list '.backups[3].created_from')" "mtime" "no manifest: the file time"
case "$(output "$id" list '.backups[1].reason')" in
*"chunk 1 of"*"SHA-256 mismatch"*) ;;
*) fail "reason for c.gz: $(output "$id" list '.backups[1].reason')" ;;
esac
case "$(output "$id" list '.backups[3].reason')" in
*"no manifest beside"*) ;;
*) fail "reason for d.gz: $(output "$id" list '.backups[3].reason')" ;;
esac
expect_eq "$(output "$id" list .newest)" "$L/b.gz" "newest"
expect_eq "$(output "$id" list .newest_verified)" "$L/b.gz" "newest_verified"
[ "$(output "$id" list '.backups[0].age_s')" -gt 86400 ] || fail "age_s"
run_rune run "$C/list.yaml" --set dir="$L" --set verify=false
expect_rc 0
id=$(last_incident)
expect_eq "$(sql "select group_concat(coalesce(json_extract(value,'\$.verified'), 'null'), ' ') from events, json_each(json_extract(detail_json,'\$.outputs.backups')) where incident_id='$id' and step='list' and kind='step.end'")" "null null null 0" "unverified listing"
end_case

KEEP="db-20240414-0200.gz db-20240421-0200.gz db-20240423-0200.gz db-20240424-0200.gz db-20240425-0200.gz db-20240426-0200.gz db-20240427-0200.gz db-20240428-0200.gz db-20240429-1400.gz "

test_case "backup.prune dry: true lists what 7 daily + 4 weekly would delete, and deletes nothing"
P="$T/prune"
history "$P"
run_rune run "$C/prune.yaml" --set dir="$P" --set dry=true
expect_rc 0
id=$(last_incident)
expect_eq "$(sql "select json_array_length(json_extract(detail_json,'\$.outputs.would_delete')) from events where incident_id='$id' and step='prune' and kind='step.end'")" "52" "would delete"
expect_eq "$(sql "select json_array_length(json_extract(detail_json,'\$.outputs.deleted')) from events where incident_id='$id' and step='prune' and kind='step.end'")" "0" "deleted"
expect_eq "$(sql "select group_concat(name, ' ') from (select json_extract(value,'\$.name') name from events, json_each(json_extract(detail_json,'\$.outputs.kept')) where incident_id='$id' and step='prune' and kind='step.end' order by name)")" "${KEEP% }" "kept"
expect_eq "$(find "$P" -type f | wc -l)" "122" "every file still there"
expect_eq "$(output "$id" prune '.kept[0].kept_for')" "daily 2024-04-29, weekly 2024-W18, newest verified" "why the newest is kept"
end_case

test_case "backup.prune keeps the newest of each of the last 7 days and 4 ISO weeks, removing manifests too"
run_rune run "$C/prune.yaml" --set dir="$P"
expect_rc 0
id=$(last_incident)
expect_eq "$(names "$P")" "$KEEP" "backups left"
expect_eq "$(find "$P" -name '*.manifest.json' | wc -l)" "9" "manifests left"
expect_eq "$(sql "select json_array_length(json_extract(detail_json,'\$.outputs.deleted')) from events where incident_id='$id' and step='prune' and kind='step.end'")" "52" "deleted"
# pruning again changes nothing
run_rune run "$C/prune.yaml" --set dir="$P"
expect_rc 0
expect_eq "$(names "$P")" "$KEEP" "second prune"
end_case

test_case "backup.prune never deletes the newest verified backup; monthly adds a month"
P2="$T/prune2"
history "$P2"
flip_byte "$P2/db-20240429-1400.gz" 40 # the newest no longer verifies
run_rune run "$C/prune.yaml" --set dir="$P2" --set monthly=2
expect_rc 0
id=$(last_incident)
expect_eq "$(names "$P2")" "db-20240331-0200.gz db-20240414-0200.gz db-20240421-0200.gz db-20240423-0200.gz db-20240424-0200.gz db-20240425-0200.gz db-20240426-0200.gz db-20240427-0200.gz db-20240428-0200.gz db-20240429-0200.gz db-20240429-1400.gz " "backups left"
expect_out "db-20240429-1400.gz does not verify"
# keep_last counts backups, whatever their day: the three newest stay
run_rune run "$C/prune.yaml" --set dir="$P2" --set daily=0 --set weekly=0 --set monthly=0 --set last=3
expect_rc 0
expect_eq "$(names "$P2")" "db-20240428-0200.gz db-20240429-0200.gz db-20240429-1400.gz " "keep_last 3"
# with every rule at zero only the newest verified backup survives
run_rune run "$C/prune.yaml" --set dir="$P2" --set daily=0 --set weekly=0 --set monthly=0
expect_rc 0
expect_eq "$(names "$P2")" "db-20240429-0200.gz " "only the newest verified is left"
end_case

test_case "backup.prune deletes nothing and fails when no backup verifies"
P3="$T/prune3"
mkdir -p "$P3"
fabricate "$P3" x1.gz "2024-04-01 02:00:00"
fabricate "$P3" x2.gz "2024-04-02 02:00:00"
fabricate "$P3" x3.gz "2024-04-03 02:00:00"
for f in x1 x2 x3; do flip_byte "$P3/$f.gz" 60; done
run_rune run "$C/prune.yaml" --set dir="$P3" --set daily=1 --set weekly=0
expect_rc 4
expect_out "none of the 3 backups in $P3 verifies"
expect_out "nothing was deleted"
expect_eq "$(find "$P3" -type f | wc -l)" "6" "every file still there"
end_case

finish
