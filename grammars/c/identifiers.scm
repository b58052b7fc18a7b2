; Names used in code: @call on the callee's name (function-like macros included), @type on
; type names, @identifier otherwise.

(call_expression
  function: (identifier) @call)

(call_expression
  function: (field_expression
    field: (field_identifier) @call))

(type_identifier) @type

(identifier) @identifier

(field_identifier) @identifier
