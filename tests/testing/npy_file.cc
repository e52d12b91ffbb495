// NumPy .npy bytes for tests.
#include "tests/testing/npy_file.h"

namespace recbandit::testing {

std::string NpyDict(const std::string& descr, const std::string& fortran_order,
                    const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran_order + ", 'shape': " + shape +
         ", }";
}

std::string NpyFile(const std::string& dict, const std::string& data, int major) {
  const size_t preamble = major == 1 ? 10 : 12;
  std::string header = dict;
  const size_t unpadded = preamble + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  for (size_t b = 0; b < preamble - 8; ++b) {
    out.push_back(static_cast<char>((header.size() >> (8 * b)) & 0xFF));
  }
  return out + header + data;
}

std::string Float32Bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4);
}

std::string Float64Bytes(const std::vector<double>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * 8);
}

}  // namespace recbandit::testing
