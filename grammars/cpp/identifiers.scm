; Names used in code: @call on the callee's name (`f(…)`, `a.f(…)`, `ns::f(…)`, `f<T>(…)`,
; `new T(…)`, function-like macros), @type on type names, @identifier otherwise.

(call_expression
  function: (identifier) @call)

(call_expression
  function: (field_expression
    field: [(field_identifier) @call
            (template_method name: (field_identifier) @call)]))

(call_expression
  function: (qualified_identifier
    name: [(identifier) @call
           (template_function name: (identifier) @call)
           (qualified_identifier
             name: [(identifier) @call (template_function name: (identifier) @call)])]))

(call_expression
  function: (template_function
    name: (identifier) @call))

(new_expression
  type: [(type_identifier) @call
         (template_type name: (type_identifier) @call)
         (qualified_identifier name: (type_identifier) @call)])

(type_identifier) @type

(identifier) @identifier

(field_identifier) @identifier

(namespace_identifier) @identifier
