; Scopes that enclose a position: @scope.<kind> on the node, @name on its name.

(function_item
  name: (identifier) @name) @scope.function

(impl_item
  type: [(type_identifier) @name
         (generic_type type: (type_identifier) @name)
         (generic_type type: (scoped_type_identifier name: (type_identifier) @name))
         (scoped_type_identifier name: (type_identifier) @name)]) @scope.impl

(trait_item
  name: (type_identifier) @name) @scope.trait

(mod_item
  name: (identifier) @name
  body: (declaration_list)) @scope.module

(struct_item
  name: (type_identifier) @name) @scope.struct

(enum_item
  name: (type_identifier) @name) @scope.enum
