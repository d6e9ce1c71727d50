// Full MNIST as Keras gets it: from $NNC_DATA/mnist, Keras's cache (mnist.npz), nnc's own cache,
// or downloaded once into that cache and verified by SHA-256; offline, the bundled subset.
#pragma once

#include "runtime/Idx.h"

#include <cstdint>
#include <cstdio>
#include <string>

namespace nnc {

/// One of the four MNIST files: its name, published SHA-256 and size in bytes.
struct MnistFile {
  const char *name;
  const char *sha256;
  uint64_t size;
};

/// The four MNIST IDX files as the mirrors publish them.
extern const MnistFile kMnistFiles[4];
/// Where the files are downloaded from unless $NNC_MNIST_MIRROR says otherwise.
constexpr const char *kDefaultMnistMirror = "https://storage.googleapis.com/cvdf-datasets/mnist/";

/// Reads Keras's mnist.npz (x_train, y_train, x_test, y_test: uint8 arrays of shapes
/// (count, rows, cols) and (count,), labels 0..9).
Result<DataSplit> readKerasMnist(const std::string &path);

/// Loads full MNIST from the first of: $NNC_DATA/mnist (IDX files), $KERAS_HOME/datasets/mnist.npz
/// or ~/.keras/datasets/mnist.npz, $XDG_CACHE_HOME/nnc/mnist or ~/.cache/nnc/mnist, and (unless
/// NNC_OFFLINE=1) a download of the four IDX files into that cache from $NNC_MNIST_MIRROR, each
/// checked against its SHA-256 (or $NNC_MNIST_SHA256="name=hex,..."). When all fail, it loads
/// the bundled subset and prints one line to `log` saying where it looked and why.
Result<DataSplit> loadFullMnist(std::FILE *log);

} // namespace nnc
