/*
 * Unit tests of publish: which keys are listed as trust anchors from their
 * record states, the AUP header's checks, and the refusals that come before
 * GnuPG is asked anything (the signing itself: tests/integration/anchors.sh).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regsign/publish.h"
#include "tap/tap.h"

static rs_keystate_t ksk(int dnskey, int ds_state, int ds, int goal, int flags)
{
	rs_keystate_t k;
	memset(&k, 0, sizeof(k));
	k.tag = 1;
	k.role = RS_ROLE_KSK;
	k.state[RS_REC_DNSKEY] = (uint8_t)dnskey;
	k.state[RS_REC_DS] = (uint8_t)ds_state;
	k.ds = (uint8_t)ds;
	k.goal = (uint8_t)goal;
	k.flags = (uint8_t)flags;
	return k;
}

static void relevance(void)
{
	rs_policy_t p;
	memset(&p, 0, sizeof(p));
	rs_keystate_t k = ksk(RS_RUMOURED, RS_HIDDEN, RS_DS_NONE, RS_GOAL_ACTIVE, 0);
	ok(!rs_anchor_relevant(&p, &k), "a new KSK whose DS is not requested is not listed (publish-from: ds)");
	p.anchors.from_dnskey = true;
	ok(rs_anchor_relevant(&p, &k), "... but is from its DNSKEY's publication (publish-from: dnskey)");
	p.anchors.from_dnskey = false;
	k = ksk(RS_OMNIPRESENT, RS_HIDDEN, RS_DS_SUBMIT, RS_GOAL_ACTIVE, 0);
	ok(rs_anchor_relevant(&p, &k), "listed from its DS request");
	k = ksk(RS_OMNIPRESENT, RS_OMNIPRESENT, RS_DS_NONE, RS_GOAL_ACTIVE, 0);
	ok(rs_anchor_relevant(&p, &k), "listed while its DS is at the parent");
	k = ksk(RS_OMNIPRESENT, RS_HIDDEN, RS_DS_NONE, RS_GOAL_RETIRE, 0);
	ok(rs_anchor_relevant(&p, &k), "a retiring KSK whose DS is gone stays listed while its DNSKEY is served");
	k = ksk(RS_UNRETENTIVE, RS_HIDDEN, RS_DS_NONE, RS_GOAL_RETIRE, 0);
	ok(!rs_anchor_relevant(&p, &k), "... and goes when its DNSKEY leaves the RRset");
	k = ksk(RS_HIDDEN, RS_HIDDEN, RS_DS_NONE, RS_GOAL_DEAD, 0);
	ok(!rs_anchor_relevant(&p, &k), "a removed KSK is not listed");
	k = ksk(RS_OMNIPRESENT, RS_OMNIPRESENT, RS_DS_NONE, RS_GOAL_ACTIVE, RS_KEY_DESTROYED);
	ok(!rs_anchor_relevant(&p, &k), "a destroyed key is not listed");
	k = ksk(RS_RUMOURED, RS_HIDDEN, RS_DS_NONE, RS_GOAL_ACTIVE, RS_KEY_EMERGENCY);
	ok(rs_anchor_relevant(&p, &k), "an emergency successor is listed at once");
	k = ksk(RS_OMNIPRESENT, RS_OMNIPRESENT, RS_DS_WITHDRAW, RS_GOAL_RETIRE, RS_KEY_COMPROMISED);
	ok(rs_anchor_relevant(&p, &k), "a compromised KSK stays listed while its DNSKEY is served");
	k.role = RS_ROLE_ZSK;
	ok(!rs_anchor_relevant(&p, &k), "a ZSK is never listed");
	k.role = RS_ROLE_CSK;
	ok(rs_anchor_relevant(&p, &k), "a CSK is, as a KSK");
}

static void aup(void)
{
	rs_policy_t p;
	memset(&p, 0, sizeof(p));
	rs_buf_t b;
	rs_buf_init(&b, 0);
	rs_diag_t d;
	snprintf(p.anchors.aup, sizeof(p.anchors.aup), "Use them well.\r\nLine two.\n\n");
	snprintf(p.anchors.contact, sizeof(p.anchors.contact), "dnssec@example.net");
	p.anchors.min_retrieval = 30 * 86400;
	is_int(rs_anchor_aup(&p, &b, &d), RS_EOK, "the AUP from the policy's text");
	is_str(b.len ? (const char *)b.data : "", "Use them well.\nLine two.\n\nContact: dnssec@example.net\n"
		"Minimum retrieval time: 30d\n", "its lines, then the contact and the minimum retrieval time");
	p.anchors.aup[0] = '\0';
	is_int(rs_anchor_aup(&p, &b, &d), RS_EINVAL, "a policy without an AUP cannot publish");
	is_str(d.text, "the policy has no acceptable use policy for the trust anchors (trust-anchors.aup or "
		"trust-anchors.aup-file)", "... saying where to put one");
	snprintf(p.anchors.aup, sizeof(p.anchors.aup), " \n\t\n");
	is_int(rs_anchor_aup(&p, &b, &d), RS_EINVAL, "an AUP of blanks is refused");
	is_str(d.text, "trust-anchors.aup: the acceptable use policy is empty", "... saying so");
	snprintf(p.anchors.aup, sizeof(p.anchors.aup), "one\ntwo\x1b[2Jthree");
	is_int(rs_anchor_aup(&p, &b, &d), RS_ESYNTAX, "a control character is refused");
	is_str(d.text, "trust-anchors.aup:2: control character 0x1b in the acceptable use policy", "... at its line");
	snprintf(p.anchors.aup_file, sizeof(p.anchors.aup_file), "/nonexistent/aup.txt");
	is_int(rs_anchor_aup(&p, &b, &d), RS_EIO, "a missing AUP file is refused");
	ok(strstr(d.text, "/nonexistent/aup.txt: cannot read the acceptable use policy") == d.text, "... naming it");
	rs_buf_clear(&b);
}

static void pgp(void)
{
	rs_buf_t sig;
	rs_buf_init(&sig, 1 << 16);
	rs_diag_t d;
	is_int(rs_pgp_sign("/tmp", "t@example", "x", 1, &sig, &d), RS_EINVAL, "a user id is not a fingerprint");
	char home[] = "/tmp/regsign-test-gnupg-XXXXXX";
	ok(mkdtemp(home) != NULL, "a GnuPG home");
	chmod(home, 0750);
	is_int(rs_pgp_sign(home, "0123456789ABCDEF0123456789ABCDEF01234567", "x", 1, &sig, &d), RS_EDENIED,
	       "a GnuPG home the group can read is refused");
	ok(strstr(d.text, "GnuPG home is open to others (mode 0750; it must be 0700)") != NULL, "... saying why");
	is_int((int)sig.len, 0, "nothing signed");
	rmdir(home);
	rs_buf_clear(&sig);
}

int main(void)
{
	relevance();
	aup();
	pgp();
	return done_testing();
}
