; One match per imported name, grouped by the @import node:
; @module, @alias (the module's local name), @name / @name.alias (imported names),
; @level (relative-import dots), @wildcard.

(import_statement
  name: (dotted_name) @module @import)

(import_statement
  name: (aliased_import
    name: (dotted_name) @module
    alias: (identifier) @alias) @import)

(import_from_statement
  module_name: (dotted_name) @module
  name: (dotted_name) @name) @import

(import_from_statement
  module_name: (dotted_name) @module
  name: (aliased_import
    name: (dotted_name) @name
    alias: (identifier) @name.alias)) @import

(import_from_statement
  module_name: (dotted_name) @module
  (wildcard_import) @wildcard) @import

(import_from_statement
  module_name: (relative_import
    (import_prefix) @level
    (dotted_name)? @module)
  name: (dotted_name) @name) @import

(import_from_statement
  module_name: (relative_import
    (import_prefix) @level
    (dotted_name)? @module)
  name: (aliased_import
    name: (dotted_name) @name
    alias: (identifier) @name.alias)) @import

(import_from_statement
  module_name: (relative_import
    (import_prefix) @level
    (dotted_name)? @module)
  (wildcard_import) @wildcard) @import

