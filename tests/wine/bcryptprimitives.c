/* Stands in, under wine 8.0 (Debian 12) only, for Windows' bcryptprimitives.dll, which that wine
 * lacks: Rust's std takes its random numbers from ProcessPrng there, so nothing Rust builds for
 * Windows starts under it. Windows 10 and 11 ship the real DLL; the shipped library never
 * carries this. tests/tests/portable_windows.rs builds it with zig into the test's wine prefix. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) { return RtlGenRandom(data, (ULONG)len); }
