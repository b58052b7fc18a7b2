; `#include "x.h"` and `#include <x.h>` → module "x.h" (the brackets and quotes are dropped).

(preproc_include
  path: (string_literal (string_content) @module)) @import

(preproc_include
  path: (system_lib_string) @module) @import
