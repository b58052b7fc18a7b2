; `use a::b::C` → module "a::b::C", names C; `use a::b::{c, d as e}` → module "a::b", names
; c and d (as e); a nested list is an import of its own, with the outer path as
; @module.prefix; `use a::*` → @wildcard; `mod x;` and `extern crate x;` → module "x".

(use_declaration
  argument: (scoped_identifier name: (_) @name) @module) @import

(use_declaration
  argument: (identifier) @module @name) @import

(use_declaration
  argument: (use_as_clause
    path: (scoped_identifier name: (_) @name) @module
    alias: (identifier) @name.alias)) @import

(use_declaration
  argument: (use_as_clause
    path: (identifier) @module @name
    alias: (identifier) @name.alias)) @import

(use_declaration
  argument: (use_wildcard
    [(scoped_identifier) (identifier) (crate) (super) (self)] @module) @wildcard) @import

(use_declaration
  argument: (scoped_use_list
    path: (_) @module
    list: (use_list [(identifier) (self) (scoped_identifier)] @name)) @import)

(use_declaration
  argument: (scoped_use_list
    path: (_) @module
    list: (use_list (use_as_clause path: (_) @name alias: (identifier) @name.alias))) @import)

(use_declaration
  argument: (scoped_use_list
    path: (_) @module.prefix
    list: (use_list
      (scoped_use_list
        path: (_) @module
        list: (use_list [(identifier) (self) (scoped_identifier)] @name)) @import)))

(use_declaration
  argument: (scoped_use_list
    path: (_) @module.prefix
    list: (use_list
      (scoped_use_list
        path: (_) @module
        list: (use_list
          (use_as_clause path: (_) @name alias: (identifier) @name.alias))) @import)))

(mod_item
  name: (identifier) @module
  !body) @import

(extern_crate_declaration
  name: (identifier) @module) @import
