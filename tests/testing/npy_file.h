// Test helpers: NumPy .npy files written byte by byte as np.save writes
// them (magic, version, little-endian header length, the header dict padded
// with spaces and a newline to 64 bytes, then the data), so tests need no
// NumPy.
#ifndef RECBANDIT_TESTS_TESTING_NPY_FILE_H_
#define RECBANDIT_TESTS_TESTING_NPY_FILE_H_

#include <string>
#include <vector>

namespace recbandit::testing {

// Returns the header dict np.save writes, e.g. NpyDict("<f4", "False",
// "(2, 3)") = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".
std::string NpyDict(const std::string& descr, const std::string& fortran_order,
                    const std::string& shape);

// Returns a .npy file of format version `major`.0 (1, 2 or 3) with header
// `dict` (any text: tests write bad ones too) and `data` after it.
std::string NpyFile(const std::string& dict, const std::string& data, int major = 1);

// Returns the little-endian bytes of `values` ('<f4' and '<f8' data).
std::string Float32Bytes(const std::vector<float>& values);
std::string Float64Bytes(const std::vector<double>& values);

}  // namespace recbandit::testing

#endif  // RECBANDIT_TESTS_TESTING_NPY_FILE_H_
