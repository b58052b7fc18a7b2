; Names used in code: @call on the callee's name (functions, methods, macros, struct
; literals), @type on type names, @identifier otherwise.

(call_expression
  function: (identifier) @call)

(call_expression
  function: (field_expression
    field: (field_identifier) @call))

(call_expression
  function: (scoped_identifier
    name: (identifier) @call))

(call_expression
  function: (generic_function
    function: [(identifier) @call
               (scoped_identifier name: (identifier) @call)
               (field_expression field: (field_identifier) @call)]))

(macro_invocation
  macro: (identifier) @call)

(struct_expression
  name: (type_identifier) @call)

(type_identifier) @type

; `HashMap::new()`: a type named in a path
((scoped_identifier
  path: (identifier) @type)
  (#match? @type "^[A-Z]"))

(identifier) @identifier

(field_identifier) @identifier
