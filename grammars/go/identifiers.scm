; Names used in code: @call on the callee's name, @type on type names, @identifier otherwise.

(call_expression
  function: (identifier) @call)

(call_expression
  function: (selector_expression
    field: (field_identifier) @call))

(composite_literal
  type: (type_identifier) @call)

(type_identifier) @type

(identifier) @identifier

(field_identifier) @identifier

(package_identifier) @identifier
