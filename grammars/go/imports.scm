; One import per spec: @module (the path), @alias (`str "strings"`, `_ "driver"`),
; @wildcard (`. "pkg"`).

(import_spec
  path: (interpreted_string_literal (interpreted_string_literal_content) @module)) @import

(import_spec
  name: [(package_identifier) (blank_identifier)] @alias
  path: (interpreted_string_literal (interpreted_string_literal_content) @module)) @import

(import_spec
  name: (dot) @wildcard
  path: (interpreted_string_literal (interpreted_string_literal_content) @module)) @import

(import_spec
  path: (raw_string_literal) @module) @import
