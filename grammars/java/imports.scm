; `import a.b.C;` → module "a.b.C", names C; `import static a.b.C.m;` → module "a.b.C.m",
; names m; `import a.b.*;` → module "a.b", @wildcard.

(import_declaration
  (scoped_identifier name: (identifier) @name) @module .) @import

(import_declaration
  (identifier) @module @name) @import

(import_declaration
  [(scoped_identifier) (identifier)] @module
  (asterisk) @wildcard) @import
