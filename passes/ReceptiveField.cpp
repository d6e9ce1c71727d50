// receptive-field: for each spatial value, the size of the input window that one of its
// pixels sees (rf) and the distance on the input between adjacent pixels (jump):
//   Window ops (conv k, dilation d, stride s; pools): rf += ((k-1)*d) * jump; jump *= s
//   conv2d_transpose (k, s): each output sees ceil(k/s) inputs: rf += (ceil(k/s)-1) * jump;
//     jump /= s
//   upsample2d nearest: jump /= size; bilinear also mixes 2 neighbours: rf += jump
//   SameField ops (activations, reshape) keep their operand's; add/concat take the larger field.
// Window and SameField are op-table properties (ir/Ops.def). Values that are not [N, H, W, C]
// images (after flatten, dense) are not spatial.
#include "passes/Pass.h"

#include <algorithm>

namespace nnc {

Status receptiveField(Graph &g, PassContext &) {
  for (Node &n : g.nodes) {
    Stats &s = n.stats;
    s.spatial = n.type.batched && n.type.dims.size() == 3;
    s.rfH = s.rfW = s.jumpH = s.jumpW = 1;
    if (!s.spatial || n.op == OpKind::Input) continue;
    if (n.inputs.empty() || !g[n.inputs[0]].stats.spatial) {
      s.spatial = false;
      continue;
    }
    const Stats &in = g[n.inputs[0]].stats;
    const Attrs &a = n.attrs;
    s.rfH = in.rfH, s.rfW = in.rfW, s.jumpH = in.jumpH, s.jumpW = in.jumpW;
    if (hasProp(n.op, SameField)) continue;
    if (hasProp(n.op, Window)) {
      s.rfH += double((a.kh - 1) * a.dh) * in.jumpH;
      s.rfW += double((a.kw - 1) * a.dw) * in.jumpW;
      s.jumpH *= double(a.sh);
      s.jumpW *= double(a.sw);
      continue;
    }
    if (n.op == OpKind::Conv2DTranspose) {
      s.rfH += double((a.kh + a.sh - 1) / a.sh - 1) * in.jumpH;
      s.rfW += double((a.kw + a.sw - 1) / a.sw - 1) * in.jumpW;
      s.jumpH /= double(a.sh);
      s.jumpW /= double(a.sw);
    } else if (n.op == OpKind::Upsample2D) {
      if (a.interpolation == Interpolation::Bilinear) s.rfH += in.jumpH, s.rfW += in.jumpW;
      s.jumpH /= double(a.kh);
      s.jumpW /= double(a.kw);
    } else if (n.op == OpKind::Add || n.op == OpKind::Concat) {
      const Stats &b = g[n.inputs[1]].stats;
      if (b.spatial) s.rfH = std::max(s.rfH, b.rfH), s.rfW = std::max(s.rfW, b.rfW);
    } else {
      s.spatial = false; // dense, flatten, and any op the table gives neither property
    }
  }
  return okStatus();
}

} // namespace nnc
