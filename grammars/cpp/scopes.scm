; Scopes that enclose a position: @scope.<kind> on the node, @name on its name, @parent on the
; class of an out-of-class member function.

(namespace_definition
  name: [(namespace_identifier) (nested_namespace_specifier)] @name) @scope.namespace

(class_specifier
  name: [(type_identifier) @name (template_type name: (type_identifier) @name)]
  body: (field_declaration_list)) @scope.class

(struct_specifier
  name: [(type_identifier) @name (template_type name: (type_identifier) @name)]
  body: (field_declaration_list)) @scope.struct

(union_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @scope.struct

(enum_specifier
  name: (type_identifier) @name
  body: (enumerator_list)) @scope.enum

(function_definition
  declarator: [
    (function_declarator declarator: [
      (identifier) (field_identifier) (destructor_name) (operator_name)] @name)
    (pointer_declarator declarator: (function_declarator declarator: [
      (identifier) (field_identifier) (destructor_name) (operator_name)] @name))
    (reference_declarator (function_declarator declarator: [
      (identifier) (field_identifier) (destructor_name) (operator_name)] @name))
  ]) @scope.function

(function_definition
  declarator: [
    (function_declarator declarator: (qualified_identifier
      scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
      name: [(identifier) (destructor_name) (operator_name)] @name))
    (pointer_declarator declarator: (function_declarator declarator: (qualified_identifier
      scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
      name: [(identifier) (destructor_name) (operator_name)] @name)))
    (reference_declarator (function_declarator declarator: (qualified_identifier
      scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
      name: [(identifier) (destructor_name) (operator_name)] @name)))
  ]) @scope.function

(function_definition
  declarator: [
    (function_declarator declarator: (qualified_identifier name: (qualified_identifier
      scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
      name: [(identifier) (destructor_name) (operator_name)] @name)))
    (pointer_declarator declarator: (function_declarator declarator: (qualified_identifier
      name: (qualified_identifier
        scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
        name: [(identifier) (destructor_name) (operator_name)] @name))))
    (reference_declarator (function_declarator declarator: (qualified_identifier
      name: (qualified_identifier
        scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
        name: [(identifier) (destructor_name) (operator_name)] @name))))
  ]) @scope.function
