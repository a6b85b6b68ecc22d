#!/usr/bin/env bash
# The activation agent never hands out the token PIN. It serves its logged-in
# token over p11-kit's PKCS#11 RPC on DIR/agent.sock: regsign signs through it,
# any other request (the old "pin") gets nothing with the PIN, key changes pass
# only in an admin window, a PKCS#11 client cannot log in, change the PIN or
# read a private key, another user is refused by SO_PEERCRED, and after
# deactivate nothing signs. Prints signing figures through the agent and direct.
. "$(dirname "$0")/lib.sh"

S=$WORK/state
SH=$WORK/shares
MODULE=/usr/lib/softhsm/libsofthsm2.so
CLIENT=$(pkg-config --variable=p11_module_path p11-kit-1)/p11-kit-client.so
trap 'for d in "$WORK"/*/; do [ -S "$d/agent.sock" ] && "$R" --state "$d" deactivate >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
T0S=$(( $(date -u +%s) / 3600 * 3600 - 3 * 86400 ))
at() { date -u -d "@$((T0S + $1 * 86400 + ${2:-0} * 3600))" +%Y%m%d%H%M%S; } # at DAYS [HOURS] after T0
act() { "$R" --state "$S" activate --share "$SH/activation-1-of-3.share" --share "$SH/activation-3-of-3.share" "$@"; }
admin() { act --admin-share "$SH/admin-2-of-2.share" "$@"; }
# ask SOCKET REQUEST: send REQUEST (printf escapes) to the socket, print what comes back (or why not).
# Another user runs it from standard input, with the system's python3 (PATH may hold root's own).
cat > client.py <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect: %s" % e.strerror)
    sys.exit(0)
try:
    s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
except OSError:
    pass  # refused before the request was read: the answer is still there
got = b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
except OSError:
    pass
sys.stdout.write(got.decode("latin-1"))
EOF
ask() { /usr/bin/python3 "$WORK/client.py" "$1" "$2"; }
nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
p11() { P11_KIT_SERVER_ADDRESS="unix:path=$S/agent.sock" pkcs11-tool --module "$CLIENT" --token-label regsign "$@"; }
pubkeys() { # labels of the token's public keys, as the module itself shows them
	SOFTHSM2_CONF=$S/hsm/softhsm2.conf pkcs11-tool --module "$MODULE" --token-label regsign --list-objects \
		--type pubkey 2>/dev/null | sed -n 's/^ *label: *//p' | sort
}

cp "$DATA/zones/tld.zone" .
cp "$DATA/policies/fast.yaml" .
"$R" --state "$S" keystore init --shares-dir "$SH" --holders 3 --threshold 2 --admins 2 --admin-threshold 1 >/dev/null 2>&1
"$R" --state "$S" policy import fast.yaml >/dev/null
"$R" --state "$S" zone add tld. --policy fast --input tld.zone --now "$(at 0)" --quiet >/dev/null 2>&1
pin=$(python3 "$SRC/tests/integration/shamir.py" "$SH/activation-1-of-3.share" "$SH/activation-2-of-3.share")
so=$(python3 "$SRC/tests/integration/shamir.py" "$SH/admin-1-of-2.share")
check_match "the test knows the PIN (an independent Shamir implementation)" "^[0-9a-f]{16,}$" "$pin"

# --- signing through the agent ---
check "an admin activation" admin --for 1h
check "the keys are made in the token through the agent" "$R" --state "$S" enforce --now "$(at 0)" --quiet
check "sign --zone through the agent" "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 0)"
validate "signed through the agent" tld.signed tld.
check_match "the socket is owner-only (0600)" "^600$" "$(stat -c %a "$S/agent.sock")"

# --- nothing the agent answers carries the PIN ---
i=0
for req in 'pin\n' 'pin' 'PIN\n' 'pin\r\n' 'get pin\n' 'pin status\n' 'status\n' 'status pin\n' 'quit pin\n' \
	'secret\n' 'so\n' '\x00\x00\x00\x00' '\x01pin\n' "$(head -c 300 /dev/zero | tr '\0' p)\n"; do
	i=$((i + 1))
	ask "$S/agent.sock" "$req" > reply.$i
done
leaks=$(for f in reply.*; do python3 "$SRC/tests/integration/secrets.py" "$f" "$pin" "$so"; done)
check_match "14 requests (the old 'pin', variants, binary, oversized): no reply holds the PIN or the officer PIN" "^$" "$leaks"
check_match "the old 'pin' request is answered with an error" "^error unknown request" "$(cat reply.1)"
check_match "status still answers, without a PIN" "^ok [0-9]+ [0-9]+$" "$(cat reply.7)"
check_match "... and the agent still runs after all of them" "activated until" "$("$R" --state "$S" activate --status)"

# --- root can read the agent's memory (ptrace): the PIN is not lying there, the agent forgot it ---
agent=$(pgrep -f "regsign --state $S activate" | head -1)
if [ "$(id -u)" != 0 ]; then
	pass "# SKIP reading another process's memory needs root"
else
	hits=$(python3 - "$agent" "$pin" "$so" <<'EOF'
import re, sys
pid, needles = int(sys.argv[1]), [bytes.fromhex(h) for h in sys.argv[2:]]
hits, read = [], 0
for line in open("/proc/%d/maps" % pid):
    lo, hi, perm = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line).groups()
    # Unreadable, or a reservation no data lives in (a sanitizer's shadow spans terabytes).
    if "r" not in perm or int(hi, 16) - int(lo, 16) > 1 << 30:
        continue
    try:
        with open("/proc/%d/mem" % pid, "rb") as f:
            f.seek(int(lo, 16))
            data = f.read(int(hi, 16) - int(lo, 16))
    except (OSError, OverflowError):
        continue
    read += len(data)
    hits += [line.split()[-1] for n in needles for k in (n, n.hex().encode()) if k in data]
print("read %d MiB" % (read >> 20) if read > 1 << 20 else "unreadable", *hits)
EOF
)
	check_match "root reads the agent's whole memory after a signing run: no PIN, no officer PIN in it" "^read [0-9]+ MiB$" "$hits"
fi

# --- a PKCS#11 client of the same user, through the agent ---
echo "data to sign" > data
check "a same-user PKCS#11 client signs through the agent (documented: it uses the keys while the agent runs)" \
	p11 --sign --mechanism ECDSA --label "$(pubkeys | grep ' zsk ' | head -1)" -i data -o data.sig
out=$(p11 --login --pin 0000 --list-objects 2>&1)
check_match "... a login, with any PIN, is answered 'already logged in' (the PIN is never looked at)" \
	"CKR_USER_ALREADY_LOGGED_IN" "$out"
out=$(p11 --change-pin --pin "$(python3 -c 'import sys; print(bytes.fromhex(sys.argv[1]).decode())' "$pin")" \
	--new-pin 1234 2>&1)
check_match "... cannot change the PIN, even knowing it" "C_Login failed|C_SetPIN failed|NOT_SUPPORTED" "$out"
out=$(p11 --init-token --so-pin 1234 --label wiped 2>&1)
check_match "... cannot initialise the token" "C_InitToken failed: rv = CKR_FUNCTION_NOT_SUPPORTED" "$out"
check_match "the PIN the shares hold still opens the token" "Private Key Object" \
	"$(SOFTHSM2_CONF=$S/hsm/softhsm2.conf pkcs11-tool --module "$MODULE" --token-label regsign --login \
	--pin "$(python3 -c 'import sys; print(bytes.fromhex(sys.argv[1]).decode())' "$pin")" --list-objects 2>&1)"

# --- a client reaches only its own sessions (the agent's, and other clients', are out of reach) ---
coproc HOLD { P11_KIT_SERVER_ADDRESS="unix:path=$S/agent.sock" python3 "$SRC/tests/integration/p11_sessions.py" \
	"$CLIENT" hold; }
hold_pid=$HOLD_PID # bash unsets HOLD_PID once the coprocess ends, which may be before the wait below
read -r -t 10 held <&"${HOLD[0]}" || held=none
out=$(P11_KIT_SERVER_ADDRESS="unix:path=$S/agent.sock" timeout 10 python3 "$SRC/tests/integration/p11_sessions.py" \
	"$CLIENT" use "$held" 2>&1)
check_match "a second client can neither look at nor close the first one's session (CKR_SESSION_HANDLE_INVALID)" \
	"^own=0x0 other=0xb3 close=0xb3$" "$out"
exec {HOLD[1]}>&-
read -r -t 10 after <&"${HOLD[0]}" || after=none
check_match "... which the first client still has" "^own=0x0$" "$after"
wait "$hold_pid" 2>/dev/null || true

# --- key changes: only in an admin window ---
check "re-activation without an admin share" act --for 1h
before=$(pubkeys | tr '\n' ' ')
out=$(p11 --keypairgen --key-type EC:prime256v1 --label stray --id 99 2>&1)
check_match "without an admin window the agent refuses a key pair (CKR_ACTION_PROHIBITED)" "C_GenerateKeyPair failed: rv = .*\(0x1b\)" "$out"
out=$(p11 --delete-object --type pubkey --label "$(pubkeys | grep ' ksk ' | head -1)" 2>&1)
check_match "... and a key's destruction" "C_DestroyObject\(\) failed: rv = .*\(0x1b\)" "$out"
check_match "... so the token holds the same keys" "^$before$" "$(pubkeys | tr '\n' ' ')"
for d in 1 2; do "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at $d)" --quiet 2>>roll.log; done
check_match "a ZSK rollover waits for an admin: no new key" "needs an admin activation" "$(cat roll.log)"
check_match "... none was made" "^$before$" "$(pubkeys | tr '\n' ' ')"
check "an admin activation" admin --for 1h
check "the rollover goes on" "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 2 1)" --quiet
check_match "... with the successor ZSK made in the token through the agent" "^3$" "$(pubkeys | grep -c .)"
validate "after the rollover through the agent" tld.signed tld.

# --- every algorithm the token makes signs through the agent (p11-kit 0.24's RPC drops the EdDSA names) ---
for alg in RSASHA256 ED25519; do
	z=$(echo "$alg" | tr 'A-Z' 'a-z')
	sed "s/^name: fast/name: $z/; s/ECDSAP256SHA256/$alg/g" fast.yaml > "$z.yaml"
	sed "s/tld\./$z./g" tld.zone > "$z.zone"
	"$R" --state "$S" policy import "$z.yaml" >/dev/null
	"$R" --state "$S" zone add "$z." --policy "$z" --input "$z.zone" --now "$(at 2 1)" --quiet >/dev/null 2>&1
	out=$("$R" --state "$S" sign --zone "$z." --out "$z.signed" --now "$(at 2 1)" 2>&1)
	check_match "$alg keys are made and sign through the agent" "signed $z\.: .* by 2 keys" "$out"
	check "... ldns-verify-zone" ldns-verify-zone -V 1 "$z.signed"
done

# --- another user ---
check_match "another user cannot even reach the socket (owner-only directory and socket)" "^connect: Permission denied$" \
	"$(nobody /usr/bin/python3 - "$S/agent.sock" 'status\n' < client.py 2>&1)"
# Loosened modes on purpose: the agent's own check (SO_PEERCRED) must still refuse.
chmod 711 "$WORK" "$S" && chmod 666 "$S/agent.sock"
for req in 'status\n' 'pin\n'; do nobody /usr/bin/python3 - "$S/agent.sock" "$req" < client.py; done > nobody.out 2>&1
out=$(P11_KIT_SERVER_ADDRESS="unix:path=$S/agent.sock" timeout 10 setpriv --reuid=nobody --regid=nogroup \
	--clear-groups pkcs11-tool --module "$CLIENT" --list-slots 2>&1)
chmod 700 "$WORK" "$S" && chmod 600 "$S/agent.sock"
check_match "with the socket open to all, another user is refused by SO_PEERCRED (status and pin)" \
	"^error refused: not the agent's user error refused: not the agent's user $" "$(tr '\n' ' ' < nobody.out)"
check_match "... and gets no PIN" "^$" "$(python3 "$SRC/tests/integration/secrets.py" nobody.out "$pin" "$so")"
check_match "... nor the token (a PKCS#11 client of another user sees no slot)" "^$" \
	"$(printf '%s\n' "$out" | grep -i 'token label')"

# --- after deactivate ---
check "deactivate" "$R" --state "$S" deactivate
out=$("$R" --state "$S" sign --zone tld. --out late.signed --now "$(at 2 2)" 2>&1); rc=$?
check_match "after deactivate signing fails, saying why" "^2 .*the keys are not activated: key holders run 'regsign activate'" "$rc $out"
check_match "... and a PKCS#11 client gets nothing" "^$" "$(p11 --list-objects 2>/dev/null | grep -i 'Private Key')"
check_match "... and nothing answers on the socket" "^connect: " "$(ask "$S/agent.sock" 'status\n')"

# --- figures: signing through the agent and with the token's own login (unattended state unlock) ---
"$GENZONE" fig. 2000 -o fig.zone
A=$WORK/figa D=$WORK/figd
"$R" --state "$A" keystore init --shares-dir "$WORK/figsh" --holders 1 --threshold 1 --admins 1 --admin-threshold 1 >/dev/null 2>&1
"$R" --state "$A" activate --share "$WORK/figsh/activation-1-of-1.share" --admin-share "$WORK/figsh/admin-1-of-1.share" \
	--for 10m >/dev/null
for d in "$A" "$D"; do
	"$R" --state "$d" zone add fig. --policy default --input fig.zone --quiet >/dev/null 2>&1
	"$R" --state "$d" enforce --quiet >/dev/null 2>&1
done
fig() { "$R" --state "$1" sign --zone fig. --out "$1.signed" --threads 2 2>&1 | sed -n 's/.* \([0-9]*\) signatures (.* sign \([0-9.]*\),.*/\1 \2/p'; }
read -r na ta <<< "$(fig "$A")"
read -r nd td <<< "$(fig "$D")"
check_match "a 2000-delegation zone signs through the agent" "^[0-9]+ [0-9.]+$" "$na $ta"
note "ECDSA P-256, $na signatures: through the agent ${ta}s ($(echo "$na / ($ta + 0.001)" | bc)/s), direct login ${td}s ($(echo "$nd / ($td + 0.001)" | bc)/s)"
check "... and verifies" ldns-verify-zone -V 1 "$A.signed"

finish
