/* For running the Windows build under wine 8 (Debian 12's) only; never shipped.
 *
 * Rust's standard library (1.78 and later) gets random bytes from ProcessPrng in
 * bcryptprimitives.dll, which every Windows since 10 has and wine 8 lacks: the program does not
 * start there ("Library bcryptprimitives.dll ... not found"). scripts/dist.sh builds this
 * stand-in with mingw and puts it beside the .exe in its test folder, not in the archive. It
 * fills the buffer from RtlGenRandom (advapi32's SystemFunction036), as wine 9 does. */
#include <windows.h>
#define SystemFunction036 NTAPI SystemFunction036
#include <ntsecapi.h>
#undef SystemFunction036

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
