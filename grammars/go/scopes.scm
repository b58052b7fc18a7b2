; Scopes that enclose a position: @scope.<kind> on the node, @name on its name.

(function_declaration
  name: (identifier) @name) @scope.function

(method_declaration
  receiver: (parameter_list
    (parameter_declaration
      type: [(type_identifier) @parent
             (pointer_type (type_identifier) @parent)
             (generic_type type: (type_identifier) @parent)
             (pointer_type (generic_type type: (type_identifier) @parent))]))
  name: (field_identifier) @name) @scope.method

(type_spec
  name: (type_identifier) @name
  type: (struct_type)) @scope.struct

(type_spec
  name: (type_identifier) @name
  type: (interface_type)) @scope.interface
