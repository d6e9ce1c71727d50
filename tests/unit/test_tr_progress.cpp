// Keras-style progress text, the shuffling generator, the loss-curve CSV and the binding of
// dataset images and labels to model inputs.
#include "runtime/Progress.h"
#include "runtime/Trainer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <sstream>

using namespace nnc;

TEST_CASE("test_tr time formats follow Keras") {
  CHECK(formatSeconds(2.4) == "2s");
  CHECK(formatSeconds(0.2) == "0s");
  CHECK(formatSeconds(65) == "1:05");
  CHECK(formatSeconds(3723) == "1:02:03");
  CHECK(formatPerStep(0.007) == "7ms/step");
  CHECK(formatPerStep(0.0005) == "500us/step");
  CHECK(formatPerStep(2.2) == "2s/step");
}

TEST_CASE("test_tr progress bar and lines") {
  CHECK(progressBar(0, 10) == "[..............................]");
  CHECK(progressBar(5, 10) == "[==============>...............]");
  CHECK(progressBar(10, 10) == "[==============================]");
  CHECK(Progress::epochLine(235, 235, 1.645, 0.69364, 0.69312, false) ==
        "235/235 - 2s 7ms/step - loss: 0.6936 - val_loss: 0.6931");
  CHECK(Progress::epochLine(32, 32, 0.5, 0.25, std::nullopt, true) ==
        "32/32 [==============================] - 0s 16ms/step - loss: 0.2500");
  CHECK(Progress::liveLine(7, 235, 61, 0.5) ==
        "  7/235 [..............................] - ETA: 1:01 - loss: 0.5000");
}

TEST_CASE("test_tr accuracy follows its loss in the lines, as Keras prints it") {
  CHECK(Progress::epochLine(235, 235, 1.645, 0.31, 0.42, false, 0.90123, 0.88744) ==
        "235/235 - 2s 7ms/step - loss: 0.3100 - accuracy: 0.9012 - val_loss: 0.4200 - "
        "val_accuracy: 0.8874");
  CHECK(Progress::liveLine(7, 235, 61, 0.5, 0.25) ==
        "  7/235 [..............................] - ETA: 1:01 - loss: 0.5000 - accuracy: 0.2500");
}

TEST_CASE("test_tr accuracy counts argmax hits (categorical) and values on the right side") {
  TensorMap out, in;
  out["y"] = {{3, 3}, {0.1f, 0.7f, 0.2f, 0.5f, 0.4f, 0.1f, 0.3f, 0.3f, 0.4f}};
  in["t"] = {{3, 3}, {0, 1, 0, 0, 1, 0, 0, 0, 1}};
  Accuracy cat{"y", "t", true, 0.5};
  int64_t correct = 0, compared = 0;
  cat.count(out, in, 3, correct, compared);
  CHECK(correct == 2);
  CHECK(compared == 3);
  Accuracy bin{"y", "t", false, 0.5};
  correct = compared = 0;
  bin.count(out, in, 3, correct, compared);
  // predictions > 0.5: only 0.7; targets > 0.5 at 1, 4, 8: hits at 0, 1, 2, 3, 5, 6, 7 = 7 of 9
  CHECK(correct == 7);
  CHECK(compared == 9);
  Accuracy logits{"y", "t", false, 0.0};
  correct = compared = 0;
  logits.count(out, in, 3, correct, compared); // every prediction > 0: hits at the 3 ones
  CHECK(correct == 3);
}

TEST_CASE("test_tr loss curve CSV keeps accuracies in two more columns") {
  std::vector<EpochRecord> h = {{1, 0.5, 0.25, 1.5, 0.75, 0.5},
                                {2, 0.125, std::nullopt, 2.0, 1.0, {}}};
  std::string csv = historyCsv(h);
  CHECK(csv == "epoch,loss,val_loss,seconds,accuracy,val_accuracy\n1,0.5,0.25,1.500,0.75,0.5\n"
               "2,0.125,,2.000,1,\n");
  Result<std::vector<EpochRecord>> back = parseHistoryCsv(csv, "h.csv");
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK((*back)[0].accuracy == 0.75);
  CHECK((*back)[0].valAccuracy == 0.5);
  CHECK((*back)[1].accuracy == 1.0);
  CHECK(!(*back)[1].valAccuracy);
  Result<std::vector<EpochRecord>> bad = parseHistoryCsv("1,0.5,,1,1.5,\n", "h.csv");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error() == "h.csv: line 1: accuracy \"1.5\" is not a number from 0 to 1");
}

TEST_CASE("test_tr progress writes one plain line per epoch when not a terminal") {
  std::ostringstream out;
  Progress p(out, false);
  p.beginEpoch(3, 50, 4);
  for (int i = 1; i <= 4; ++i) p.step(i, 0.01 * i, 0.5);
  p.endEpoch(0.04, 0.5, 0.25);
  CHECK(out.str() == "Epoch 3/50\n4/4 - 0s 10ms/step - loss: 0.5000 - val_loss: 0.2500\n");
}

TEST_CASE("test_tr progress redraws a live bar on a terminal") {
  std::ostringstream out;
  Progress p(out, true);
  p.beginEpoch(1, 2, 4);
  p.step(1, 0.0, 0.9);
  p.step(2, 0.05, 0.8); // within 0.1 s of the last draw: skipped
  p.step(3, 0.3, 0.7);
  p.endEpoch(0.4, 0.6, std::nullopt);
  std::string s = out.str();
  CHECK(s.find("\r1/4 [======>.......................] - ETA: 0s - loss: 0.9000") !=
        std::string::npos);
  CHECK(s.find("2/4") == std::string::npos);
  CHECK(s.find("\r3/4 [=====================>........] - ETA: 0s - loss: 0.7000") !=
        std::string::npos);
  CHECK(s.find("\r4/4 [==============================] - 0s 100ms/step - loss: 0.6000") !=
        std::string::npos);
  CHECK(s.back() == '\n');
}

TEST_CASE("test_tr shuffle generator is deterministic, unbiased in range, and restorable") {
  ShuffleRng a(7), b(7), c(8);
  CHECK(a.next() == b.next());
  CHECK(a.next() != c.next());
  for (int i = 0; i < 1000; ++i) CHECK(a.below(10) < 10);
  std::optional<ShuffleRng> r = ShuffleRng::fromState(a.state());
  REQUIRE(r);
  CHECK(r->next() == a.next());
  CHECK_FALSE(ShuffleRng::fromState("splitmix64:xyz"));
  CHECK_FALSE(ShuffleRng::fromState("mt19937:0000000000000000"));

  std::vector<uint32_t> v(100);
  std::iota(v.begin(), v.end(), 0u);
  ShuffleRng s1(1), s2(1);
  std::vector<uint32_t> p1 = v, p2 = v;
  s1.shuffle(p1);
  s2.shuffle(p2);
  CHECK(p1 == p2);
  CHECK(p1 != v);
  std::vector<uint32_t> sorted = p1;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == v);
  // Every position receives many different values over repeated shuffles.
  std::set<uint32_t> firsts;
  for (int i = 0; i < 200; ++i) {
    std::vector<uint32_t> p = v;
    s1.shuffle(p);
    firsts.insert(p[0]);
  }
  CHECK(firsts.size() > 70);
}

TEST_CASE("test_tr loss curve CSV round trip") {
  std::vector<EpochRecord> h = {{1, 0.5, 0.25, 1.5, {}, {}}, {2, 0.125, std::nullopt, 2.0, {}, {}}};
  std::string csv = historyCsv(h);
  CHECK(csv == "epoch,loss,val_loss,seconds\n1,0.5,0.25,1.500\n2,0.125,,2.000\n");
  Result<std::vector<EpochRecord>> back = parseHistoryCsv(csv, "h.csv");
  REQUIRE(back.ok());
  REQUIRE(back->size() == 2);
  CHECK((*back)[0].valLoss == 0.25);
  CHECK_FALSE((*back)[1].valLoss);
  CHECK((*back)[1].loss == 0.125);
  Result<std::vector<EpochRecord>> bad = parseHistoryCsv("1,2\n", "h.csv");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("h.csv: line 1") != std::string::npos);
}

TEST_CASE("test_tr inputs bind images in [0, 1] and one-hot labels") {
  Graph g;
  g.name = "m";
  Node x;
  x.op = OpKind::Input;
  x.name = "x";
  x.type = {true, {2, 2, 1}};
  g.inputs.push_back(g.add(x));
  Node y = x;
  y.name = "label";
  y.type = {true, {10}};
  g.inputs.push_back(g.add(y));
  Dataset d;
  d.count = 3;
  d.rows = d.cols = 2;
  d.pixels = {0, 255, 51, 102, 1, 2, 3, 4, 9, 9, 9, 9};
  d.labels = {3, 0, 9};
  Result<InputBinding> b = InputBinding::make(g, d);
  REQUIRE_MESSAGE(b.ok(), b.error());
  DataView v{&d, 1, 2};
  uint32_t idx[] = {1, 0};
  TensorMap t = b->batch(v, idx, 2);
  CHECK(t.at("x").shape == std::vector<int64_t>{2, 2, 2, 1});
  CHECK(t.at("x").data[0] == doctest::Approx(9 / 255.0));
  CHECK(t.at("x").data[4] == doctest::Approx(1 / 255.0));
  CHECK(t.at("label").shape == std::vector<int64_t>{2, 10});
  CHECK(t.at("label").data[9] == 1.0f);
  CHECK(t.at("label").data[10] == 1.0f);
  CHECK(std::accumulate(t.at("label").data.begin(), t.at("label").data.end(), 0.0f) == 2.0f);

  g[g.inputs[0]].type = {true, {28, 28, 1}};
  Result<InputBinding> bad = InputBinding::make(g, d);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("input 'x' has shape f32[N,28,28,1]") != std::string::npos);
}
