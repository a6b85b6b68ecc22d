#!/usr/bin/env bash
# Key custody: keys that exist only inside a SoftHSM2 token, m-of-n activation
# and the admin share for key changes, retired keys destroyed in the token, a
# wrapped backup restored into a fresh token, backup before first use, the
# audit chain (and what tampering it catches) with its syslog copy, no secret
# in any file, log, database row or core dump, and kill -9 at random instants.
. "$(dirname "$0")/lib.sh"

S=$WORK/state
SH=$WORK/shares
MODULE=/usr/lib/softhsm/libsofthsm2.so
# Agents outlive the commands that start them: end them before the files go.
trap 'for d in "$WORK"/*/; do [ -S "$d/agent.sock" ] && "$R" --state "$d" deactivate >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
# Three days ago, so that every signing run below lies in the past of the validators' clock.
T0S=$(( $(date -u +%s) / 3600 * 3600 - 3 * 86400 ))
T0=$(date -u -d "@$T0S" +%Y%m%d%H%M%S)
at() { date -u -d "@$((T0S + $1 * 86400 + ${2:-0} * 3600))" +%Y%m%d%H%M%S; } # at DAYS [HOURS] after T0
pubkeys() { # STATE: labels of the public keys in its token, as an independent PKCS#11 client sees them
	SOFTHSM2_CONF=$1/hsm/softhsm2.conf pkcs11-tool --module "$MODULE" --token-label regsign --list-objects \
		--type pubkey 2>/dev/null | sed -n 's/^ *label: *//p' | sort
}
act() { "$R" --state "$S" activate --share "$SH/activation-1-of-3.share" --share "$SH/activation-3-of-3.share" "$@"; }
admin() { act --admin-share "$SH/admin-2-of-2.share" "$@"; }
# The agent never gives out the PIN: a backup takes the activation shares as well.
backup() { "$R" --state "$S" backup --share "$SH/activation-1-of-3.share" --share "$SH/activation-2-of-3.share" --admin-share "$SH/admin-1-of-2.share" --backup-share "$SH/backup-1-of-3.share" \
	--backup-share "$SH/backup-3-of-3.share" "$@"; }

cat > tld.zone <<'EOF'
$TTL 3600
$ORIGIN tld.
@	IN SOA	ns1 hostmaster 2026010101 7200 3600 1209600 600
@	NS	ns1
ns1	A	192.0.2.1
www	A	192.0.2.9
sub	NS	ns.sub
ns.sub	A	192.0.2.10
EOF
cp "$DATA/policies/fast.yaml" . # rollovers in days, so destruction happens within the test
sed 's/^name: fast/name: backed/; $a custody: { backup-before-use: true }' fast.yaml > backed.yaml

# --- setting up the token and the shares ---
out=$("$R" --state "$S" keystore init --shares-dir "$SH" --holders 3 --threshold 2 --admins 2 --admin-threshold 1 2>&1)
check_match "keystore init makes a token and 8 share files" "backup share 3 of 3" "$out"
check_match "every share file is 0600" "^600 x8$" "$(stat -c %a "$SH"/*.share | uniq -c | awk '{print $2 " x" $1}')"
check_match "a share is printable text ending in a checksum" "^checksum: [0-9a-f]{8}$" "$(tail -1 "$SH/activation-2-of-3.share")"
check_exit 2 "a second keystore init is refused" "$R" --state "$S" keystore init --shares-dir "$WORK/more"
check "policy import" "$R" --state "$S" policy import fast.yaml
check "policy import (backup before use)" "$R" --state "$S" policy import backed.yaml

# --- nothing moves before the key holders come ---
out=$("$R" --state "$S" zone add tld. --policy fast --input tld.zone --now "$T0" 2>&1)
check_match "without activation no key is made" "new key waits" "$out"
check_exit 2 "... and nothing is signed" "$R" --state "$S" sign --zone tld. --out tld.signed --now "$T0"
out=$("$R" --state "$S" activate --share "$SH/activation-1-of-3.share" 2>&1)
check_match "one share of a 2-of-3 set is refused" "1 activation share\(s\) given, 2 needed" "$out"
sed 's/^data: \(.\)/data: X/' "$SH/activation-2-of-3.share" > bad.share
sed -i 's/^data: X/data: 0/; t; s/^data: 0/data: 1/' bad.share
if cmp -s bad.share "$SH/activation-2-of-3.share"; then sed -i 's/^data: ./data: f/' bad.share; fi
out=$("$R" --state "$S" activate --share "$SH/activation-1-of-3.share" --share bad.share 2>&1)
check_match "a mistyped share is caught by its checksum, with file and line" "bad.share:7: checksum mismatch" "$out"
out=$("$R" --state "$S" activate --share "$SH/activation-1-of-3.share" --share "$SH/admin-1-of-2.share" 2>&1)
check_match "an admin share is not an activation share" "admin-1-of-2.share: this is an admin share" "$out"
check "two activation shares unlock signing" act --for 2h
check_match "activate --status shows until when, and no key changes" "activated until .*key changes not allowed" \
	"$("$R" --state "$S" activate --status)"
out=$("$R" --state "$S" enforce --now "$T0" 2>&1)
check_match "key generation still waits for an admin share" "needs an admin activation" "$out"
check "with an admin share, key changes are allowed" admin --for 2h
out=$("$R" --state "$S" enforce --now "$T0" 2>&1)
check_match "now the KSK and ZSK are made in the token" "ksk .*created.*pkcs11:id=" "$(printf '%s' "$out" | tr '\n' ' ')"
check_match "an independent PKCS#11 client sees both in the token, labelled by zone, role and tag" \
	"^tld\. ksk [0-9]+ ECDSAP256SHA256 tld\. zsk [0-9]+ ECDSAP256SHA256 $" "$(pubkeys "$S" | tr '\n' ' ')"
check "sign --zone through the token" "$R" --state "$S" sign --zone tld. --out tld.signed --now "$T0"
validate "signed in the token" tld.signed tld.
ksk=$("$R" --state "$S" key list --zone tld. --now "$T0" | awk '$2 == "ksk" {print $1}')
zsk=$("$R" --state "$S" key list --zone tld. --now "$T0" | awk '$2 == "zsk" {print $1}')

# --- no secret anywhere ---
pin=$(python3 "$SRC/tests/integration/shamir.py" "$SH/activation-2-of-3.share" "$SH/activation-3-of-3.share")
check_match "an independent Shamir implementation restores the PIN from two shares" "^[0-9a-f]{64}$" "$pin"
so=$(python3 "$SRC/tests/integration/shamir.py" "$SH/admin-1-of-2.share")
bkey=$(python3 "$SRC/tests/integration/shamir.py" "$SH/backup-1-of-3.share" "$SH/backup-2-of-3.share")
leaks=$(python3 "$SRC/tests/integration/secrets.py" "$S" "$pin" "$so" "$bkey")
check_match "no PIN or backup key in any file of the state directory (database, audit log, token)" "^$" "$leaks"
check_match "no private key file, no PEM, no key-file private fields under the state directory" "^$" \
	"$(find "$S" -name '*.private' -o -name '*.pem'; grep -rlaE 'PRIVATE KEY|Private-key-format|PrivateKey:' "$S")"
check_match "no file under the state directory is readable by others" "^$" \
	"$(find "$S" ! -type d ! -type s -perm /077; find "$S" -type d -perm /077)"
agent=$(pgrep -f "regsign --state $S activate" | head -1)
agent_leak=$(for f in cmdline environ; do python3 "$SRC/tests/integration/secrets.py" "/proc/$agent/$f" "$pin" "$so"; done)
check_match "the agent's command line and environment hold no PIN" "^$" "$agent_leak"

# A core dump of the regsign process holding the PIN (the agent): there must be none.
if grep -q '^|' /proc/sys/kernel/core_pattern; then
	pass "# SKIP core dumps go to a handler here ($(cat /proc/sys/kernel/core_pattern)); not checked"
else
	mkdir cores
	"$R" --state "$S" deactivate >/dev/null
	(cd cores && ulimit -c unlimited && act --for 1h >/dev/null)
	(cd cores && ulimit -c unlimited && exec sleep 30) & sl=$!
	agent=$(pgrep -f "regsign --state $S activate" | head -1)
	sleep 0.2
	kill -SEGV $sl "$agent" 2>/dev/null
	wait $sl 2>/dev/null
	for _ in $(seq 50); do kill -0 "$agent" 2>/dev/null || break; sleep 0.1; done
	cores=$(ls cores | grep -c '^core')
	check_match "the agent, crashing with the PIN in memory, leaves no core dump (a crashing sleep does: the check works)" \
		"^1 gone$" "$cores $(kill -0 "$agent" 2>/dev/null && echo alive || echo gone)"
	admin --for 2h >/dev/null
fi

# --- custody is never weaker than the policy by accident (item 6) ---
other=$WORK/other
"$R" --state "$other" keystore init --shares-dir "$WORK/other-shares" --holders 3 --threshold 2 >/dev/null 2>&1
out=$("$R" --state "$S" activate --share "$WORK/other-shares/activation-1-of-3.share" \
	--share "$WORK/other-shares/activation-2-of-3.share" 2>&1); rc=$?
check_match "shares of another token's set are refused before any login" "^2 .*is of set [0-9a-f]{16}, but this state directory's token takes set [0-9a-f]{16}" "$rc $out"
check_match "... so the token never saw a wrong PIN (no C_Login error)" "^$" "$(printf '%s' "$out" | grep -i 'C_Login\|pin incorrect')"
check_match "activation still works with the right shares, key changes allowed" "key changes allowed" "$(admin --for 2h)"
out=$(act --for 2h 2>&1)
check_match "re-activating without an admin share says key changes are now disabled" "key changes are disabled" "$out"
check_match "... and they are" "key changes not allowed" "$("$R" --state "$S" activate --status)"
admin --for 2h >/dev/null
W=$WORK/weak
check_exit 2 "zone add under a policy that needs key holders, with no token set up, is refused" \
	"$R" --state "$W" zone add tld. --policy cloud-tld --input tld.zone --now "$T0"
check_match "... naming keystore init" "keystore init" "$("$R" --state "$W" zone add tld. --policy cloud-tld --input tld.zone --now "$T0" 2>&1)"
check_match "... and no 1-of-1 token was made" "^$" "$(ls "$W/hsm" 2>/dev/null)"
check "--accept-weaker-custody makes it an audited decision" "$R" --state "$W" zone add tld. --policy cloud-tld \
	--accept-weaker-custody --input tld.zone --now "$T0" --quiet
check_match "... recorded in the audit log" "action=zone-add .*custody weaker than the policy" "$(cat "$W/audit.log")"
rm -rf "$W/hsm/tokens"
out=$("$R" --state "$W" sign --zone tld. --out weak.signed --now "$T0" 2>&1); rc=$?
check_match "a lost token directory gives a clear message, not a PKCS#11 error code" \
	"^2 .*embedded token .* is missing or damaged" "$rc $out"

# --- backup before first use ---
sed 's/tld\./bk./g' tld.zone > bk.zone
"$R" --state "$S" zone add bk. --policy backed --input bk.zone --now "$T0" >/dev/null 2>&1
out=$("$R" --state "$S" enforce --now "$T0" 2>&1)
check_match "with backup-before-use, new keys wait for a backup" "waits for a backup before first use" "$out"
check_match "... so their DNSKEYs stay hidden" "^hidden hidden $" \
	"$("$R" --state "$S" key list --zone bk. --now "$T0" | awk 'NR > 2 {printf "%s ", $5}')"
out=$("$R" --state "$S" backup --out keys0.backup --now "$T0" 2>&1)
check_match "a backup needs the admin and backup shares" "no admin shares given" "$out"
check "backup --out with an admin and two backup shares" backup --out keys1.backup --now "$T0"
check_match "the backup file is 0600" "^600$" "$(stat -c %a keys1.backup)"
check_match "the backup holds every live token key (4)" "^4$" "$(grep -c '^key ' keys1.backup)"
check_match "the backup holds no PIN or backup key" "^$" "$(python3 "$SRC/tests/integration/secrets.py" keys1.backup "$pin" "$so" "$bkey")"
out=$("$R" --state "$S" enforce --now "$T0" 2>&1)
check_match "once backed up, the keys are published" "bk\..*published" "$out"

# --- a ZSK rollover: the successor is made, the old key destroyed in the token ---
for d in 1 2; do "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at $d)" --quiet 2>/dev/null; done
new=$("$R" --state "$S" key list --zone tld. --now "$(at 2)" | awk '$2 == "zsk" && $1 != '"$zsk"' {print $1}')
check_match "the successor ZSK is made in the token" "^tld\. zsk $new " "$(pubkeys "$S" | grep "zsk $new")"
check "backup before the old ZSK goes" backup --out keys2.backup --now "$(at 2)"
"$R" --state "$S" deactivate >/dev/null
check "activation without an admin share" act --for 2h
for h in 4 8 12 16; do "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 2 $h)" --quiet 2>>destroy.log; done
check_match "removing the old ZSK's material waits for an admin" "destroying removed keys waits" "$(cat destroy.log)"
check_match "... and the token still holds it" "zsk $zsk " "$(pubkeys "$S")"
check "admin activation" admin --for 2h
check "sign with the admin present" "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 2 17)"
check_match "the retired ZSK is destroyed in the token" "^$" "$(pubkeys "$S" | grep "zsk $zsk ")"
check_match "... and the audit log says so" "action=key-destroy zone=tld\. key=$zsk result=ok" "$(cat "$S/audit.log")"
validate "after the rollover" tld.signed tld.

# --- disaster: the token is lost; restore into a fresh one ---
before=$(grep -v RRSIG tld.signed | grep DNSKEY | sort)
rm -rf "$S"/hsm/tokens/*
check_exit 2 "with the token gone, signing fails" "$R" --state "$S" sign --zone tld. --out lost.signed --now "$(at 2 18)"
db_sum() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*), sum(backup) from key').fetchone())" "$S/state.db"; }
sum=$(db_sum)
out=$("$R" --state "$S" restore --in keys2.backup --share "$SH/activation-1-of-3.share" --share "$SH/activation-2-of-3.share" \
	--admin-share "$SH/admin-1-of-2.share" --backup-share "$SH/backup-3-of-3.share" 2>&1)
check_match "restore without enough backup shares is refused" "1 backup share\(s\) given, 2 needed" "$out"
if [ "$(db_sum)" = "$sum" ]; then pass "... and changes nothing"; else fail "... and changes nothing"; fi
sed '4s/^key /kex /' keys2.backup > damaged.backup
out=$("$R" --state "$S" restore --in damaged.backup --share "$SH/activation-1-of-3.share" --share "$SH/activation-2-of-3.share" \
	--admin-share "$SH/admin-1-of-2.share" --backup-share "$SH/backup-3-of-3.share" --backup-share "$SH/backup-1-of-3.share" 2>&1)
check_match "a damaged backup is refused" "checksum missing or wrong" "$out"
out=$("$R" --state "$S" restore --in keys2.backup --share "$SH/activation-1-of-3.share" --share "$SH/activation-2-of-3.share" \
	--admin-share "$SH/admin-1-of-2.share" --backup-share "$SH/backup-3-of-3.share" --backup-share "$SH/backup-1-of-3.share" 2>&1)
check_match "restore recreates the keys in a fresh token; the destroyed ZSK stays destroyed" \
	"4 key\(s\) restored into token 'regsign'; 1 destroyed since the backup, not restored" "$out"
check_match "... and ends the activation of the lost token" "activation of the old token ended" "$out"
check_match "the destroyed key is not in the new token" "^$" "$(pubkeys "$S" | grep "zsk $zsk ")"
check_match "the restored keys' public halves are public objects, as generated ones are" "^4$" "$(pubkeys "$S" | grep -c .)"
check "the key holders activate the fresh token with the same shares" admin --for 2h
check "the restored keys sign (the key holders' shares still work)" "$R" --state "$S" sign --zone tld. --out restored.signed --now "$(at 2 18)"
check_match "with the same public keys" "^$(printf '%s\n' "$before" | md5sum)$" "$(grep -v RRSIG restored.signed | grep DNSKEY | sort | md5sum)"
validate "signed after the restore" restored.signed tld.

# --- zone remove destroys the zone's keys in the token ---
check "zone remove bk." "$R" --state "$S" zone remove bk.
check_match "bk.'s keys are gone from the token" "^$" "$(pubkeys "$S" | grep '^bk\. ')"
reuse=$(python3 - "$S/state.db" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
cols = "zone, tag, alg, role, bits, predecessor, goal, ds, flags, dnskey, dnskey_since, krrsig, krrsig_since, " \
       "zrrsig, zrrsig_since, ds_state, ds_since, created, published, active, retired, removed, locator"
for sql in ("select locator from retired_locator where zone = 'bk.'", "select locator from key where zone = 'tld.'"):
    loc = c.execute(sql).fetchone()[0]
    try:
        c.execute("insert into key (%s) values ('other.', 1, 13, 2, 256, %s, ?)" % (cols, ", ".join(["0"] * 17)), (loc,))
        print("accepted")
    except sqlite3.IntegrityError as e:
        print(e)
EOF
)
check_match "a removed zone's key, or a live one, can never serve another zone" \
	"^the key belonged to a removed zone UNIQUE constraint failed: key.locator $" "$(printf '%s\n' "$reuse" | tr '\n' ' ')"

# --- a token its officers initialised beforehand (as with a hardware HSM's own tools) ---
E=$WORK/existing
mkdir -p ext/tokens && printf 'directories.tokendir = %s/ext/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK" > ext/conf
SOFTHSM2_CONF=$WORK/ext/conf softhsm2-util --init-token --free --label officers --pin user-1234 --so-pin so-5678 >/dev/null
out=$(printf 'user-1234\nwrong\n' | SOFTHSM2_CONF=$WORK/ext/conf "$R" --state "$E" keystore init --existing --token officers \
	--shares-dir "$WORK/eshares" --holders 2 --threshold 2 --admins 1 --admin-threshold 1 2>&1)
check_match "an initialised token with a wrong officer PIN is refused" "wrong PIN" "$out"
check_match "... and nothing is set up" "^$" "$("$R" --state "$E" keystore show)"
check "keystore init --existing takes the officers' PINs from standard input" \
	sh -c "printf 'user-1234\nso-5678\n' | SOFTHSM2_CONF=$WORK/ext/conf '$R' --state '$E' keystore init --existing \
	--token officers --shares-dir '$WORK/eshares' --holders 2 --threshold 2 --admins 1 --admin-threshold 1"
check_match "... and splits the same PIN into the holders' shares" "^user-1234$" \
	"$(python3 -c 'import sys; print(bytes.fromhex(sys.argv[1]).decode())' \
	"$(python3 "$SRC/tests/integration/shamir.py" "$WORK/eshares/activation-1-of-2.share" "$WORK/eshares/activation-2-of-2.share")")"
check "activate with both holders and the admin" "$R" --state "$E" activate --share "$WORK/eshares/activation-1-of-2.share" \
	--share "$WORK/eshares/activation-2-of-2.share" --admin-share "$WORK/eshares/admin-1-of-1.share" --for 1h
"$R" --state "$E" zone add tld. --policy default --input tld.zone --now "$T0" --quiet >/dev/null 2>&1
check "sign with keys made in the officers' token" "$R" --state "$E" sign --zone tld. --out ext.signed --now "$(at 2 19)"
check "... the zone verifies" "$R" verify ext.signed --origin tld. --quiet
check_match "... and the keys are in that token" "^tld\. ksk .*tld\. zsk " \
	"$(SOFTHSM2_CONF=$WORK/ext/conf pkcs11-tool --module "$MODULE" --token-label officers --list-objects --type pubkey 2>/dev/null |
	sed -n 's/^ *label: *//p' | sort | tr '\n' ' ')"

# --- the audit log ---
check "audit verify on the intact log" "$R" --state "$S" audit verify
for a in keystore-init activate key-generate key-step custody-wait key-destroy backup restore sign zone-remove; do
	grep -q "action=$a " "$S/audit.log" || missing="$missing $a"
done
check_match "the log has every kind of key operation" "^$" "${missing:-}"
check_match "a refused activation is logged as refused" "action=activate .*result=refused" "$(cat "$S/audit.log")"
check_match "each entry names its operator" "^$(wc -l < "$S/audit.log")$" "$(grep -c ' operator=[a-z_][a-z0-9_-]* ' "$S/audit.log")"
tamper() { # NAME SED-SCRIPT: a copy of the state with the log changed
	mkdir "$1" && cp "$S"/state.db* "$1"/ && sed "$2" "$S/audit.log" > "$1/audit.log"
	"$R" --state "$1" audit verify 2>&1
}
out=$(tamper t-edit '5s/result=ok/result=OK/'); rc=$?
check_match "an edited entry is caught, by number" "entry 5: changed" "$out"
check_match "... with exit 1" "^1$" "$rc"
check_match "a removed entry is caught" "entry 6: out of sequence \(expected entry 5\)" "$(tamper t-drop '5d')"
check_match "an inserted entry is caught" "audit.log:6: entry 5: out of sequence" "$(tamper t-insert '5p')"
check_match "moved entries are caught" "audit.log:5: entry 6: out of sequence" "$(tamper t-move '5{h;d};6G')"
check_match "entries cut off the end are caught" "missing: the log ends at entry" "$(tamper t-cut '$d')"

# --- syslog (RFC 5424 over UDP on loopback) ---
syslog_listener syslog.out 60
port=$SYSLOG_PORT listener=$SYSLOG_PID
check "audit syslog udp:127.0.0.1:PORT" "$R" --state "$S" audit syslog "udp:127.0.0.1:$port"
check "a signing run after it" "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 2 19)" --quiet
for _ in $(seq 100); do grep -q ' sign ' syslog.out && break; sleep 0.1; done
kill $listener 2>/dev/null
last=$(tail -1 "$S/audit.log" | sed 's/.* hash=//')
check_match "the collector got the entry as RFC 5424, authpriv.notice, with its chain hash" \
	"^<85>1 [0-9T:Z-]+ [^ ]+ regsign [0-9]+ sign \[regsign@32473 seq=\"[0-9]+\" zone=\"tld\.\" key=\"0\" result=\"ok\" hash=\"$last\"\] seq=" \
	"$(grep ' sign ' syslog.out | tail -1)"

# --- kill -9 at random instants with keys in the token ---
K=$WORK/killed
"$R" --state "$K" policy import fast.yaml >/dev/null
"$R" --state "$K" zone add tld. --policy fast --input tld.zone --now "$T0" --quiet >/dev/null 2>&1
: > kill.log
for i in $(seq 0 6 66); do
	t=$(date -u -d "@$((T0S + i * 3600))" +%Y%m%d%H%M%S)
	for cmd in enforce sign; do
		set -- --state "$K" enforce --now "$t" --quiet
		[ $cmd = sign ] && set -- --state "$K" sign --zone tld. --out killed.signed --now "$t" --quiet
		"$R" "$@" >/dev/null 2>&1 &
		pid=$!
		sleep "0.0$((RANDOM % 8))"
		kill -9 $pid 2>/dev/null
		wait $pid 2>/dev/null
		"$R" "$@" >/dev/null 2>&1 || echo "rerun failed at hour $i ($cmd)" >> kill.log
	done
done
check_match "every rerun after kill -9 succeeds" "^$" "$(cat kill.log)"
live=$("$R" --state "$K" key list --zone tld. --now "$(at 2 18)" | awk 'NR > 2 && $4 != "removed" {print "tld. " $2 " " $1}' | sort)
# A key a kill left unrecorded is never destroyed unasked: it is quarantined (relabelled), and listed.
check_match "the token holds exactly the zone's live keys: none orphaned, none lost" \
	"^$(printf '%s\n' "$live" | md5sum)$" "$(pubkeys "$K" | grep -v '^quarantine ' | awk '{print $1, $2, $3}' | sort | md5sum)"
quarantined=$("$R" --state "$K" key quarantine list | tail -1 | awk '{print $1}')
check_match "... and the quarantined ones are listed" "^$quarantined$" "$(pubkeys "$K" | grep -c '^quarantine ')"
check "the audit chain is intact after the kills" "$R" --state "$K" audit verify
check_match "keystore list puts every key pair of the token beside the state, none unaccounted for but the quarantined" \
	"^[0-9]+ key pair\(s\) in the token, $quarantined of them not in the state$" "$("$R" --state "$K" keystore list | tail -1)"
# SoftHSM2 rewrites token.object in place at every login; a kill between its truncate and its write empties it.
for f in "$K"/hsm/tokens/*/token.object; do : > "$f"; done
check "a token.object emptied that way is put back from the last good copy" \
	"$R" --state "$K" sign --zone tld. --out killed2.signed --now "$(at 2 19)"
validate "signed between kills" killed.signed tld.

# --- an activation ends when its time is up ---
check "a two-second activation" act --for 2s
sleep 3
check_exit 2 "after it, signing is refused" "$R" --state "$S" sign --zone tld. --out late.signed --now "$(at 2 20)"
check_match "... and the agent is gone" "^not activated$" "$("$R" --state "$S" activate --status)"

finish
