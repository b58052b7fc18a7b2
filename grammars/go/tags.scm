; Definitions: @definition.<kind> on the whole node, @name on its name, @parent on a method's
; receiver type. `//` comments right above a declaration are its doc (found in code).

(package_clause (package_identifier) @package)

(function_declaration
  name: (identifier) @name) @definition.function

(method_declaration
  receiver: (parameter_list
    (parameter_declaration
      type: [(type_identifier) @parent
             (pointer_type (type_identifier) @parent)
             (generic_type type: (type_identifier) @parent)
             (pointer_type (generic_type type: (type_identifier) @parent))]))
  name: (field_identifier) @name) @definition.method

(method_elem
  name: (field_identifier) @name) @definition.method

; `type T struct {…}` alone: the whole declaration; inside `type (…)`: the spec.
(type_declaration
  . (type_spec name: (type_identifier) @name type: (struct_type)) .) @definition.struct

(type_declaration
  . (type_spec name: (type_identifier) @name type: (interface_type)) .) @definition.interface

(type_declaration
  . (type_spec name: (type_identifier) @name) .) @definition.type

(type_declaration
  . (type_alias name: (type_identifier) @name) .) @definition.type

(type_declaration
  "("
  (type_spec name: (type_identifier) @name type: (struct_type)) @definition.struct)

(type_declaration
  "("
  (type_spec name: (type_identifier) @name type: (interface_type)) @definition.interface)

(type_declaration
  "("
  (type_spec name: (type_identifier) @name) @definition.type)

(source_file
  (const_declaration
    . (const_spec name: (identifier) @name) .) @definition.constant)

(source_file
  (const_declaration
    "("
    (const_spec name: (identifier) @name) @definition.constant))
