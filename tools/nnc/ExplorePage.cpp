// The page of `nnc explore`: tools/nnc/explore/page.html with its placeholders replaced by
// the inlined style, scripts (uPlot, vendored under tools/nnc/explore/vendor/, when there is a
// run to chart), the Graphviz SVG and the data as JSON. JSON inside a <script>
// element must not contain "</" (it would end the element), so every "</" is written as the
// equivalent JSON escape "<\/".
#include "tools/nnc/Explore.h"

#include "ExploreAssets.inc"

#include <llvm/Support/raw_ostream.h>

namespace nnc::driver {

namespace {

void replaceAll(std::string &text, const std::string &from, const std::string &to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

/// Replaces the one placeholder `key` of the template (placeholders never occur in values).
void fill(std::string &page, const std::string &key, const std::string &value) {
  size_t at = page.find(key);
  if (at != std::string::npos) page.replace(at, key.size(), value);
}

std::string escapeHtml(const std::string &text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

} // namespace

std::string explorePage(const llvm::json::Object &data, const std::string &svg) {
  std::string json;
  llvm::raw_string_ostream os(json);
  os << llvm::json::Value(llvm::json::Object(data));
  os.flush();
  replaceAll(json, "</", "<\\/");
  size_t svgStart = svg.find("<svg");
  std::string title = data.getString("model").value_or("").str();
  std::string page = kAsset_page_html;
  fill(page, "@@TITLE@@", escapeHtml(title));
  fill(page, "@@STYLE@@", kAsset_explore_css);
  std::string vendor;
  if (data.get("run"))
    vendor =
        std::string("<style>\n") + kAsset_vendor_uplot_1_6_32_uPlot_min_css +
        "</style>\n<script>\n/* uPlot 1.6.32 (npm uplot@1.6.32), inlined under its licence:\n" +
        kAsset_vendor_uplot_1_6_32_LICENSE + "*/\n" + kAsset_vendor_uplot_1_6_32_uPlot_iife_min_js +
        "\n</script>\n";
  vendor += std::string("<script>\n") + kAsset_run_js + kAsset_profile_js + "</script>\n";
  fill(page, "@@VENDOR@@", vendor);
  fill(page, "@@SCRIPT@@", kAsset_explore_js);
  fill(page, "@@SVG@@", svgStart == std::string::npos ? svg : svg.substr(svgStart));
  fill(page, "@@DATA@@", json);
  return page;
}

} // namespace nnc::driver
