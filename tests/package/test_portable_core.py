"""The C++ core builds on every compiler it ships with: what only GCC and Clang know (attributes, inline
assembly, 128-bit integers, <cpuid.h>, x86 intrinsics) and what only POSIX has (signal masks, pthread_atfork)
stand behind a preprocessor guard, so that MSVC compiles the portable rest (tools/cross_compile.sh compiles it
for Windows and macOS with zig's clang; MSVC itself is not on these machines)."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "src" / "cpp").rglob("*.[ch]pp"))

NON_PORTABLE = re.compile(
    r"__attribute__|__asm__|__int128|__builtin_|<cpuid\.h>|<immintrin\.h>|\b_mm(256|512)?_"
    r"|\bpthread_|<pthread\.h>|<signal\.h>|\bsigset_t\b|\bsig(fill|empty)set\b"
)
# A guard's condition names one of these, and the code sits in its branch for that compiler or system.
GUARDS = re.compile(r"HISTEQ_X86|__GNUC__|__unix__|__APPLE__")


def _unguarded(text: str) -> list[str]:
    found, frames = [], []  # frames: (condition, in its #else branch) of the enclosing #if blocks
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("//", 1)[0]
        directive = re.match(r"\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b(.*)", code)
        if directive:
            kind, condition = directive.groups()
            if kind in ("if", "ifdef"):
                frames.append((condition, False))
            elif kind == "ifndef":
                frames.append((condition, True))
            elif kind in ("elif", "else"):
                frames[-1] = (frames[-1][0] + " " + condition, True)
            else:
                frames.pop()
            if kind not in ("else", "endif"):
                continue  # a condition may name anything
        guarded = any(
            (GUARDS.search(cond) and not in_else) or ("_WIN32" in cond and in_else) for cond, in_else in frames
        )
        if NON_PORTABLE.search(code) and not guarded:
            found.append(f"{number}: {line.strip()}")
    return found


def test_the_sources_are_there():
    if not SOURCES:
        pytest.skip("not run from a source checkout")
    assert any(path.name == "simd.hpp" for path in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_compiler_and_system_specific_code_is_guarded(path):
    assert _unguarded(path.read_text()) == [], f"unguarded in {path.relative_to(ROOT)}"


def test_the_check_finds_what_it_looks_for():
    # What the check would miss if its parsing of the guards were wrong.
    assert _unguarded("inline unsigned __int128 x;\n") == ["1: inline unsigned __int128 x;"]
    assert _unguarded('#ifdef HISTEQ_X86\n__attribute__((target("avx2"))) void f();\n#endif\n') == []
    assert _unguarded("#ifdef HISTEQ_X86\n#else\n__attribute__((cold)) void f();\n#endif\n") != []
    assert (
        _unguarded(
            "#if defined(_WIN32)\n__declspec(dllexport) int f();\n#else\n"
            '__attribute__((visibility("default"))) int f();\n#endif\n'
        )
        == []
    )
    assert _unguarded("#if defined(_WIN32)\n__attribute__((cold)) int f();\n#endif\n") != []
