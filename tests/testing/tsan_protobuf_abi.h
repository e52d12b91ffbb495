// Read first in ThreadSanitizer builds (CMakeLists.txt). Debian's
// libprotobuf is built without TSan, and protobuf's map_field.h gives
// MapFieldBase two extra members when __SANITIZE_THREAD__ is defined: code
// compiled under TSan and the library would disagree on the layout of every
// map field, and reflection over one (a text-format model manifest with
// event_weights, say) crashed. The header is read here, once, with the
// macro hidden, so the layout is the library's; everything else is still
// instrumented.
#ifndef RECBANDIT_TESTS_TESTING_TSAN_PROTOBUF_ABI_H_
#define RECBANDIT_TESTS_TESTING_TSAN_PROTOBUF_ABI_H_

#pragma push_macro("__SANITIZE_THREAD__")
#undef __SANITIZE_THREAD__
#include <google/protobuf/map_field.h>
#pragma pop_macro("__SANITIZE_THREAD__")

#endif  // RECBANDIT_TESTS_TESTING_TSAN_PROTOBUF_ABI_H_
