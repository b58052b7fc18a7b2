; Scopes that enclose a position: @scope.<kind> on the node, @name on its name.

(function_definition
  declarator: [
    (function_declarator declarator: (identifier) @name)
    (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
    (pointer_declarator declarator: (pointer_declarator
      declarator: (function_declarator declarator: (identifier) @name)))
  ]) @scope.function

(struct_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @scope.struct

(union_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @scope.struct

(enum_specifier
  name: (type_identifier) @name
  body: (enumerator_list)) @scope.enum

(type_definition
  type: [(struct_specifier !name body: (_)) (union_specifier !name body: (_))]
  declarator: (type_identifier) @name) @scope.struct
