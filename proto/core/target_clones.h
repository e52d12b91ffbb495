// RECBANDIT_TARGET_CLONES(...): compiles a hot kernel once per listed x86-64
// target (GCC target_clones) and picks one at load time, so a portable build
// still runs AVX2/AVX-512 code. Empty where that cannot work: other compilers
// and architectures, and ThreadSanitizer builds (an instrumented ifunc
// resolver runs before TSan is initialised and crashes the test at load).
#ifndef RECBANDIT_PROTO_CORE_TARGET_CLONES_H_
#define RECBANDIT_PROTO_CORE_TARGET_CLONES_H_

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_THREAD__)
#define RECBANDIT_TARGET_CLONES(...) __attribute__((target_clones(__VA_ARGS__)))
#else
#define RECBANDIT_TARGET_CLONES(...)
#endif

#endif  // RECBANDIT_PROTO_CORE_TARGET_CLONES_H_
