; `#include "x.hpp"` and `#include <vector>` → module "x.hpp" / "vector" (the brackets and
; quotes are dropped).

(preproc_include
  path: (string_literal (string_content) @module)) @import

(preproc_include
  path: (system_lib_string) @module) @import
