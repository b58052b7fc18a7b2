; One match per imported name, grouped by the @import node: @module, @alias (default or
; namespace import, `const x = require(…)`), @name / @name.alias, @wildcard (`export * from`).

(import_statement
  source: (string (string_fragment) @module)) @import

(import_statement
  (import_clause (identifier) @alias)
  source: (string (string_fragment) @module)) @import

(import_statement
  (import_clause (namespace_import (identifier) @alias))
  source: (string (string_fragment) @module)) @import

(import_statement
  (import_clause
    (named_imports
      (import_specifier name: (_) @name !alias)))
  source: (string (string_fragment) @module)) @import

(import_statement
  (import_clause
    (named_imports
      (import_specifier name: (_) @name alias: (_) @name.alias)))
  source: (string (string_fragment) @module)) @import

(export_statement
  (export_clause
    (export_specifier name: (_) @name !alias))
  source: (string (string_fragment) @module)) @import

(export_statement
  (export_clause
    (export_specifier name: (_) @name alias: (_) @name.alias))
  source: (string (string_fragment) @module)) @import

(export_statement
  "*" @wildcard
  source: (string (string_fragment) @module)) @import

(export_statement
  (namespace_export (_) @alias)
  source: (string (string_fragment) @module)) @import

; require("m"), import("m")
((call_expression
  function: (identifier) @_require
  arguments: (arguments . (string (string_fragment) @module) .)) @import
  (#eq? @_require "require"))

(call_expression
  function: (import)
  arguments: (arguments . (string (string_fragment) @module))) @import

((variable_declarator
  name: (identifier) @alias
  value: (call_expression
    function: (identifier) @_require
    arguments: (arguments . (string (string_fragment) @module) .)) @import)
  (#eq? @_require "require"))

((variable_declarator
  name: (object_pattern (shorthand_property_identifier_pattern) @name)
  value: (call_expression
    function: (identifier) @_require
    arguments: (arguments . (string (string_fragment) @module) .)) @import)
  (#eq? @_require "require"))

((variable_declarator
  name: (object_pattern
    (pair_pattern
      key: (property_identifier) @name
      value: (identifier) @name.alias))
  value: (call_expression
    function: (identifier) @_require
    arguments: (arguments . (string (string_fragment) @module) .)) @import)
  (#eq? @_require "require"))
