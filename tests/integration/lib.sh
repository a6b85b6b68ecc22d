# TAP helpers for the integration scenarios; sourced by each script.
# Needs REGSIGN (the binary) and SRCDIR (the source tree) in the environment.
set -u
T_N=0
T_FAIL=0
R=${REGSIGN:?REGSIGN must name the regsign binary}
SRC=${SRCDIR:?SRCDIR must name the source tree}
DATA=$SRC/tests/data
WORK=$(mktemp -d /tmp/regsign-it.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

pass() { T_N=$((T_N + 1)); echo "ok $T_N - $*"; }
fail() { T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $*"; }
note() { printf '%s\n' "$@" | head -30 | sed 's/^/# /'; }

# check DESC CMD...: passes when CMD exits 0.
check() {
	local d=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$d"; else fail "$d"; note "$out"; fi
}

# check_exit CODE DESC CMD...: passes when CMD exits with CODE.
check_exit() {
	local want=$1 d=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ]; then pass "$d"; else fail "$d (exit $rc, want $want)"; note "$out"; fi
}

# check_match DESC REGEX TEXT: passes when TEXT matches the extended REGEX.
check_match() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then pass "$1"; else fail "$1"; note "want /$2/" "$3"; fi
}

# validate NAME FILE ORIGIN [TIME]: regsign verify and three independent validators.
validate() {
	local name=$1 file=$2 origin=$3
	local t=${4:-}
	check "$name: regsign verify" "$R" verify "$file" --origin "$origin" ${t:+--time "$t"} --quiet
	check "$name: ldns-verify-zone" ldns-verify-zone -V 1 ${t:+-i "$t"} "$file"
	check "$name: dnssec-verify" dnssec-verify -q ${DV_OPTS:-} -o "$origin" "$file"
	check "$name: kzonecheck" kzonecheck -d on -o "$origin" ${t:+-t "$t"} "$file"
}

# Normalise zone text for comparison: BIND's canonical output, names lowercased.
canon() {
	named-compilezone -q -s full -i none -o - "$1" "$2" 2>/dev/null | tr 'A-Z' 'a-z' | sort
}

finish() {
	echo "1..$T_N"
	[ "$T_FAIL" -eq 0 ]
}
