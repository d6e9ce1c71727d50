// A learner's own images as a dataset: PNG files in class folders named 0..9, either already
// split (DIR/train/3/x.png and DIR/test/3/y.png) or not (DIR/3/x.png: in each class folder,
// in file-name order, every fifth image goes to the test split). Images are read with the
// bounded PNG reader, made gray (RGB by luminance, as Pillow's convert("L")), and must all have
// one size.
#pragma once

#include "runtime/Idx.h"

#include <string>

namespace nnc {

/// Whether `dir` has class folders: train/ and test/, or a subdirectory named 0..9.
bool hasClassFolders(const std::string &dir);

/// Reads the PNG images of the class folders under `dir` as train and test splits.
Result<DataSplit> readImageFolders(const std::string &dir);

/// The gray value of an RGB pixel: (19595 R + 38470 G + 7471 B + 2^15) >> 16, Pillow's
/// ITU-R 601-2 luma.
uint8_t lumaOf(uint8_t r, uint8_t g, uint8_t b);

} // namespace nnc
