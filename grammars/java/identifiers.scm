; Names used in code: @call on the invoked method or constructed class, @type on type names,
; @identifier otherwise.

(method_invocation
  name: (identifier) @call)

(object_creation_expression
  type: [(type_identifier) @call
         (generic_type (type_identifier) @call)])

(type_identifier) @type

(identifier) @identifier
