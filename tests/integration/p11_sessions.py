"""Two PKCS#11 clients of the activation agent, each its own connection (p11-kit-client.so).

    p11_sessions.py MODULE hold     opens a session, prints its handle, keeps it until stdin closes
    p11_sessions.py MODULE use H    with a session of its own, asks about and closes session H

PKCS#11 has no session owner: a connection must not reach another's sessions (GetSessionInfo,
CloseSession on H must fail with CKR_SESSION_HANDLE_INVALID, 0xb3). Prints "own=RV other=RV close=RV".
"""
import ctypes
import sys

CK = ctypes.c_ulong


def functions(module):
    lib = ctypes.CDLL(module)
    table = ctypes.POINTER(ctypes.c_void_p)()
    if lib.C_GetFunctionList(ctypes.byref(table)) != 0:
        sys.exit("C_GetFunctionList failed")
    # CK_FUNCTION_LIST: a CK_VERSION (padded to a pointer), then the functions in the standard's order.
    names = ["Initialize", "Finalize", "GetInfo", "GetFunctionList", "GetSlotList", "GetSlotInfo",
             "GetTokenInfo", "GetMechanismList", "GetMechanismInfo", "InitToken", "InitPIN", "SetPIN",
             "OpenSession", "CloseSession", "CloseAllSessions", "GetSessionInfo"]
    # No argument types: every call passes ctypes values (CK_ULONG, pointers) as the functions take them.
    return {n: ctypes.CFUNCTYPE(CK)(table[1 + i]) for i, n in enumerate(names)}


def ptr(x):
    return ctypes.c_void_p(ctypes.addressof(x))


def open_session(f):
    if f["Initialize"](ctypes.c_void_p(None)) != 0:
        sys.exit("C_Initialize failed")
    slots, count = (CK * 4)(), CK(4)
    if f["GetSlotList"](ctypes.c_ubyte(1), ptr(slots), ptr(count)) != 0 or count.value == 0:
        sys.exit("no slot")
    h = CK()
    rv = f["OpenSession"](CK(slots[0]), CK(4 | 2), ctypes.c_void_p(None), ctypes.c_void_p(None), ptr(h))  # serial, rw
    if rv != 0:
        sys.exit("C_OpenSession: 0x%x" % rv)
    return h.value


def info(f, h):
    buf = (CK * 4)()
    return f["GetSessionInfo"](CK(h), ptr(buf))


def main():
    f = functions(sys.argv[1])
    mine = open_session(f)
    if sys.argv[2] == "hold":
        print(mine, flush=True)
        sys.stdin.read()
        print("own=0x%x" % info(f, mine), flush=True)
        return
    other = int(sys.argv[3])
    print("own=0x%x other=0x%x close=0x%x" % (info(f, mine), info(f, other), f["CloseSession"](CK(other))))


if __name__ == "__main__":
    main()
