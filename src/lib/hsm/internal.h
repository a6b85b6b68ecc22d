/* Inside hsm/ only: what the agent's served module needs of an open token. */
#pragma once

#include <p11-kit/pkcs11.h>

#include "regsign/hsm.h"

/* The module's function list and the token's slot. */
CK_FUNCTION_LIST *hsm_functions(rs_hsm_t *hsm, CK_SLOT_ID *slot);
